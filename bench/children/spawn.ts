/**
 * Starts a benchmark child (`node --import tsx <script>`: one process, so a SIGKILL leaves nothing behind), waits for its
 * `ready`, asks it for stats over IPC, and stops it by the pid we started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { now } from '../stats.ts';
import type { ChildStats, FromChild, StartTimings, ToChild } from './protocol.ts';

export type ChildKind = 'runtime' | 'bullmq';

const scripts: Record<ChildKind, string> = {
  runtime: fileURLToPath(new URL('./runtime-child.ts', import.meta.url)),
  bullmq: fileURLToPath(new URL('./bullmq-child.ts', import.meta.url)),
};

export interface Child {
  pid: number;
  /** When `spawn` was called and when the child reported ready (epoch ms). */
  spawnedAt: number;
  readyAt: number;
  /** Start-up milestones in the child (ms since its process started). */
  timings: StartTimings;
  stats(): Promise<ChildStats>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const live = new Set<ChildProcess>();

/** Kills every child still running (the orchestrator's failure path). */
export function killAllChildren(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

export async function spawnChild(kind: ChildKind, env: Record<string, string>, timeoutMs = 60_000): Promise<Child> {
  const spawnedAt = now();
  const child = spawn(process.execPath, ['--import', 'tsx', scripts[kind]], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  live.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      live.delete(child);
      resolve();
    }),
  );
  const waiting = new Map<number, (s: ChildStats) => void>();
  let nextId = 1;
  let timings: StartTimings = {};
  const readyAt = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${kind} child not ready in ${timeoutMs} ms: ${stderr}`)),
      timeoutMs,
    );
    child.on('message', (m: FromChild) => {
      if (m.type === 'ready') {
        timings = m.timings;
        clearTimeout(timer);
        resolve(now());
      } else if (m.type === 'stats') {
        waiting.get(m.id)?.(m.stats);
        waiting.delete(m.id);
      } else if (m.type === 'fatal') {
        clearTimeout(timer);
        reject(new Error(`${kind} child failed: ${m.error}`));
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${kind} child exited before ready: ${stderr}`));
    });
  });
  return {
    pid: child.pid!,
    spawnedAt,
    readyAt,
    timings,
    stats: () =>
      new Promise<ChildStats>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`${kind} child did not answer stats: ${stderr}`));
        }, 10_000);
        waiting.set(id, (s) => {
          clearTimeout(timer);
          resolve(s);
        });
        child.send({ type: 'stats', id } satisfies ToChild);
      }),
    kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(force);
      }
    },
  };
}
