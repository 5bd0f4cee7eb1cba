/**
 * Runtime instances as real child processes (crash tests kill them with SIGKILL). `node --import tsx` keeps it one
 * process: the tsx CLI would fork a child that survives a SIGKILL of its parent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./runtime-process.ts', import.meta.url));

export interface RuntimeProcess {
  pid: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const serviceScript = fileURLToPath(new URL('../../examples/action-service.ts', import.meta.url));

/** Starts a runtime process and resolves when it reports `ready`. */
export async function spawnRuntime(env: Record<string, string>, timeoutMs = 30_000): Promise<RuntimeProcess> {
  return spawnReady(script, env, timeoutMs);
}

/** Starts the reference action service (examples/action-service.ts) and resolves when it reports `ready`. */
export async function spawnActionService(env: Record<string, string>, timeoutMs = 30_000): Promise<RuntimeProcess> {
  return spawnReady(serviceScript, env, timeoutMs);
}

async function spawnReady(file: string, env: Record<string, string>, timeoutMs: number): Promise<RuntimeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} not ready in ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited (${code}) before ready: ${stderr}`));
    });
  });
  return {
    pid: child.pid!,
    child,
    exited,
    kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
