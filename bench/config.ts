/** Command-line flags and the sizes they set; `--quick` is a smoke run of every scenario in under a minute. */

export interface Config {
  quick: boolean;
  reps: number;
  only: number[];
  out: string;
  single: {
    n: number;
    warm: number;
    tuneN: number;
    pacedRate: number;
    pacedSeconds: number;
    oursConcurrency: number[];
    peerConcurrency: number[];
  };
  five: { n: number; warm: number };
  priority: { backlog: number; rate: number; seconds: number };
  ceiling: { n: number; concurrency: number[] };
  waiting: { n: number; reps: number };
  crash: { n: number; reps: number; ackWaitMs: number };
  /** Scenario 7: executions per run and mode (`--outbound-n`, else `--single-n` when given, else the default). */
  outbound: { n: number };
}

export const USAGE = `npm run bench -- [flags]        (npm run bench:quick = --quick)
  --quick                  smoke sizes (< 60 s), 1 repetition, no concurrency tuning
  --reps N                 repetitions per scenario (default 3)
  --only 1,3               run only these scenarios (1 single-step, 2 five-step, 3 priority, 4 ceiling, 5 waiting, 6 crash,
                           7 outbound actions)
  --single-n N             scenario 1 executions per run (default 50000)
  --paced-rate R           scenario 1 latency phase: starts per second (default 1000)
  --concurrency 64,256     scenario 1 candidates for the runtime's concurrency (best is used everywhere)
  --peer-concurrency 50,100,200   candidates for BullMQ's worker concurrency
  --five-n N               scenario 2 executions per run (default 10000)
  --backlog N              scenario 3 low-tier backlog (default 100000)
  --critical-rate R        scenario 3 critical starts per second (default 100)
  --critical-seconds S     scenario 3 duration of critical arrivals (default 10)
  --ceiling-n N            scenario 4 messages per run (default 50000)
  --waiting N              scenario 5 parked executions (default 100000; 1000000 for the 1M figure)
  --waiting-reps N         scenario 5 repetitions (default 1: each parks N executions)
  --crash-n N              scenario 6 executions in the load (default 20000)
  --outbound-n N           scenario 7 executions per run and mode (default 20000, or --single-n when that is given)
  --out DIR                results folder (default bench/results)`;

function num(v: string | undefined, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number (got ${v})`);
  return n;
}

function list(v: string | undefined, flag: string): number[] {
  return (v ?? '').split(',').map((x) => num(x, flag));
}

export function parseArgs(argv: string[]): Config {
  const quick = argv.includes('--quick');
  const cfg: Config = quick
    ? {
        quick,
        reps: 1,
        only: [1, 2, 3, 4, 5, 6, 7],
        out: 'bench/results',
        single: {
          n: 4_000,
          warm: 500,
          tuneN: 0,
          pacedRate: 500,
          pacedSeconds: 1,
          oursConcurrency: [64],
          peerConcurrency: [100],
        },
        five: { n: 1_000, warm: 100 },
        priority: { backlog: 8_000, rate: 100, seconds: 2 },
        ceiling: { n: 5_000, concurrency: [64] },
        waiting: { n: 3_000, reps: 1 },
        crash: { n: 3_000, reps: 1, ackWaitMs: 3_000 },
        outbound: { n: 4_000 },
      }
    : {
        quick,
        reps: 3,
        only: [1, 2, 3, 4, 5, 6, 7],
        out: 'bench/results',
        single: {
          n: 50_000,
          warm: 3_000,
          tuneN: 15_000,
          pacedRate: 1_000,
          pacedSeconds: 5,
          oursConcurrency: [64, 256],
          peerConcurrency: [50, 100, 200],
        },
        five: { n: 10_000, warm: 1_000 },
        priority: { backlog: 100_000, rate: 100, seconds: 10 },
        ceiling: { n: 50_000, concurrency: [64, 256] },
        waiting: { n: 100_000, reps: 1 },
        crash: { n: 20_000, reps: 3, ackWaitMs: 5_000 },
        outbound: { n: 20_000 },
      };
  let outboundN: number | undefined;
  let singleN: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    const take = (): string | undefined => {
      i++;
      return v;
    };
    switch (a) {
      case '--quick':
        break;
      case '--reps':
        cfg.reps = num(take(), a);
        break;
      case '--only':
        cfg.only = list(take(), a);
        break;
      case '--out':
        cfg.out = take() ?? cfg.out;
        break;
      case '--single-n':
        cfg.single.n = singleN = num(take(), a);
        break;
      case '--paced-rate':
        cfg.single.pacedRate = num(take(), a);
        break;
      case '--concurrency':
        cfg.single.oursConcurrency = list(take(), a);
        break;
      case '--peer-concurrency':
        cfg.single.peerConcurrency = list(take(), a);
        break;
      case '--five-n':
        cfg.five.n = num(take(), a);
        break;
      case '--backlog':
        cfg.priority.backlog = num(take(), a);
        break;
      case '--critical-rate':
        cfg.priority.rate = num(take(), a);
        break;
      case '--critical-seconds':
        cfg.priority.seconds = num(take(), a);
        break;
      case '--ceiling-n':
        cfg.ceiling.n = num(take(), a);
        break;
      case '--waiting':
        cfg.waiting.n = num(take(), a);
        break;
      case '--waiting-reps':
        cfg.waiting.reps = num(take(), a);
        break;
      case '--crash-n':
        cfg.crash.n = num(take(), a);
        break;
      case '--outbound-n':
        outboundN = num(take(), a);
        break;
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag ${a}\n${USAGE}`);
    }
  }
  cfg.outbound.n = outboundN ?? singleN ?? cfg.outbound.n;
  return cfg;
}
