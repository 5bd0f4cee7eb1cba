/**
 * How much of the machine's CPU went to processes outside this benchmark while a scenario ran (other builds or test runs
 * on the same 2 cores skew every figure). Busy time from /proc/stat minus the CPU time of this process, its reaped
 * children (the runtime and worker child processes) and the two servers.
 */
import { readFileSync } from 'node:fs';

const TICK = 100; // USER_HZ on Linux

function readTicks(path: string, fields: number[]): number {
  try {
    const text = readFileSync(path, 'utf8');
    // /proc/<pid>/stat: the command may contain spaces; fields count from after the closing parenthesis.
    const rest =
      path.endsWith('/stat') && path !== '/proc/stat'
        ? text.slice(text.lastIndexOf(')') + 2).split(' ')
        : text.split('\n')[0]!.trim().split(/\s+/).slice(1);
    return fields.reduce((sum, i) => sum + Number(rest[i] ?? 0), 0);
  } catch {
    return 0;
  }
}

/** Machine-wide busy ticks: user, nice, system, irq, softirq, steal. */
const busy = (): number => readTicks('/proc/stat', [0, 1, 2, 5, 6, 7]);
/** utime, stime (+ cutime, cstime for this process) of a pid; fields 14–17 of /proc/<pid>/stat, counted after the name. */
const own = (pid: number | 'self', withChildren: boolean): number =>
  readTicks(`/proc/${pid}/stat`, withChildren ? [11, 12, 13, 14] : [11, 12]);

export interface Noise {
  /** CPU seconds used by other processes while the scenario ran. */
  foreignCpuSeconds: number;
  /** The same as an average number of busy cores. */
  foreignCores: number;
  /** CPU seconds used by the benchmark, its children and servers. */
  benchCpuSeconds: number;
}

export function noiseMeter(serverPids: () => number[]): () => Noise {
  const ours = (): number => own('self', true) + serverPids().reduce((s, p) => s + own(p, false), 0);
  const b0 = busy();
  const o0 = ours();
  const t0 = Date.now();
  return () => {
    const total = (busy() - b0) / TICK;
    const bench = (ours() - o0) / TICK;
    const foreign = Math.max(0, total - bench);
    return {
      foreignCpuSeconds: foreign,
      foreignCores: foreign / Math.max(0.001, (Date.now() - t0) / 1000),
      benchCpuSeconds: bench,
    };
  };
}
