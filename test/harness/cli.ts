/** The `journeys` CLI as a real child process (what `npx tsx runtime/cli/main.ts` runs, without npx's start-up cost). */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX_CLI = createRequire(import.meta.url).resolve('tsx/cli');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `journeys <args> --prefix <prefix>` against `url`; never rejects (the exit code is in the result). */
export function runCli(
  args: readonly string[],
  opts: { url: string; prefix: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [TSX_CLI, 'runtime/cli/main.ts', ...args, '--prefix', opts.prefix],
      {
        cwd: ROOT,
        timeout: opts.timeoutMs ?? 30_000,
        env: { ...process.env, NATS_URL: opts.url, LOG_LEVEL: 'silent', ...opts.env },
      },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

export const lines = (text: string): string[] => text.split('\n').filter((l) => l.length > 0);
