/**
 * `journeys run`: one runtime instance until SIGINT/SIGTERM. Connects to NATS_URL, or starts an embedded nats-server when
 * it is unset. `--actions FILE` (or `JRN_ACTIONS`) says how each action is performed (docs/actions-config.md); the file is
 * checked before anything starts. Unless `--no-sample`, deploys the sample journeys of `schemas/examples/` with in-process
 * demo handlers for their actions (except those the actions file lists: the file wins), and, on an embedded server,
 * starts one sample execution so something visibly runs.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { createLogger } from '../logger.ts';
import { loadActionsFile } from '../action-config.ts';
import { addDaysToDate, isValidTimeZone, localDate } from '../../actors/time.ts';
import type { ActionsFile } from '../../schemas/actions.ts';
import type { StartCommand } from '../../schemas/commands.ts';
import type { ActionHandler, ActionInvocation } from '../engine/actions.ts';
import { JourneyClient } from '../client.ts';
import type { DefinitionRegistry } from '../definitions.ts';
import { RuntimeError, errorMessage } from '../errors.ts';
import { executionIdOf } from '../engine/execution-record.ts';
import { serve, type Served } from '../serve.ts';
import { flakyHandlers, startDemoLoad } from '../demo-load.ts';
import { rm } from 'node:fs/promises';
import type { Command } from './command.ts';
import { UsageError } from './args.ts';
import { readJsonFile } from './defs.ts';
import { redactUrl } from './output.ts';
import { durationFlag } from './scale.ts';

export const EXAMPLES_DIR = fileURLToPath(new URL('../../schemas/examples/', import.meta.url));
export const SAMPLE_ACTIONS = ['email.send', 'sms.send', 'task.create', 'webhook.call'] as const;
const STOP_TIMEOUT_MS = 15_000;

/** In-process handlers for the sample actions: one line each, always succeed. */
export function demoHandlers(print: (line: string) => void): Record<string, ActionHandler> {
  const handler: ActionHandler = async (inv: ActionInvocation) => {
    const p = inv.params;
    const what = [p['template'], p['title'], p['name']].find((v) => typeof v === 'string') ?? '';
    const to =
      inv.action === 'sms.send' ? inv.client?.phone : inv.action === 'email.send' ? inv.client?.email : undefined;
    print(
      `[demo] ${inv.action} ${what}${to ? ` to ${to}` : ''} (${inv.journeyId}/${inv.stepId}, ${inv.executionId}, ${inv.tier})`,
    );
  };
  return Object.fromEntries(SAMPLE_ACTIONS.map((a) => [a, handler]));
}

/** Deploys every `*.json` of `dir`; a version already deployed with other content is reported and kept. */
export async function deploySamples(
  definitions: DefinitionRegistry,
  log: Logger,
  dir = EXAMPLES_DIR,
): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  const deployed: string[] = [];
  for (const file of files) {
    try {
      const r = await definitions.deploy(await readJsonFile(join(dir, file)));
      deployed.push(`${r.id} v${r.version}`);
    } catch (err) {
      if (!(err instanceof RuntimeError && err.code === 'VERSION_EXISTS'))
        throw new Error(`${file}: ${errorMessage(err)}`, { cause: err });
      log.warn({ file, err: errorMessage(err) }, 'sample journey not redeployed');
    }
  }
  return deployed;
}

/** A couple who booked just now, for a wedding about 40 days ahead in this machine's zone. */
export function sampleStart(now: number, timeZone: string): StartCommand {
  return {
    supplierId: 'demo-photographer',
    clientId: 'demo-couple',
    journeyId: 'photographer-classic',
    reentryKey: `run-${now.toString(36)}`,
    weddingDate: addDaysToDate(localDate(now, timeZone), 40),
    timeZone,
    bookedAt: new Date(now).toISOString(),
    client: { name: 'Alex & Sam', email: 'alex.sam@example.com', phone: '+44 7700 900123' },
    data: { guestCount: 120 },
  };
}

/** A progress line every 5 s while the demo load runs: what started, completed, retried and was dead-lettered. */
function startProgress(served: Served, load: { stop(): void; started(): number }, print: (line: string) => void): { stop(): void } {
  const timer = setInterval(() => {
    const s = served.runtime.monitor?.last;
    const t = s?.cumulative.totals;
    const q = s?.queues;
    print(
      `demo: ${load.started()} starts sent · ${t?.started ?? 0} executions started · ${t?.stepsDone ?? 0} steps done · ` +
        `${t?.retried ?? 0} retried · ${t?.deadLettered ?? 0} dead-lettered · queue c/h/m/l ` +
        `${q ? [q.critical, q.high, q.medium, q.low].map((x) => x.pending + x.ackPending).join('/') : '-'}`,
    );
  }, 5_000);
  return {
    stop: () => {
      clearInterval(timer);
      load.stop();
    },
  };
}

function pick<T>(all: Record<string, T>, names: readonly string[]): Record<string, T> {
  return Object.fromEntries(Object.entries(all).filter(([name]) => names.includes(name)));
}

function systemZone(): string {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return tz && isValidTimeZone(tz) ? tz : 'Europe/London';
}

/** The sample actions that get in-process demo handlers: those the actions file does not list. */
export function demoActions(config: ActionsFile | undefined): string[] {
  return SAMPLE_ACTIONS.filter((a) => !Object.prototype.hasOwnProperty.call(config?.actions ?? {}, a));
}

/** One banner line: which actions run in-process as a demo, which the file configures, and what every other one does. */
export function actionsLine(
  demo: readonly string[],
  config: ActionsFile | undefined,
  source: string | undefined,
): string | undefined {
  const parts: string[] = [];
  if (demo.length > 0) parts.push(`in-process demo handlers: ${demo.join(', ')}`);
  if (config && source) {
    const modeOf = (c: { mode?: string }): string => c.mode ?? config.defaults?.mode ?? 'outbound';
    const listed = Object.entries(config.actions ?? {}).map(([name, c]) => `${name} (${modeOf(c)})`);
    if (listed.length > 0) parts.push(`from ${source}: ${listed.join(', ')}`);
    parts.push(`others: ${config.defaults?.mode ?? 'outbound'}`);
  }
  return parts.length > 0 ? `  actions   ${parts.join('; ')}` : undefined;
}

function banner(
  served: Served,
  prefix: string,
  deployed: string[],
  sample: StartCommand | undefined,
  actions: string | undefined,
): string {
  const url = redactUrl(served.url);
  const cli = `${url === 'nats://127.0.0.1:4222' ? '' : `NATS_URL=${url} `}npx tsx runtime/cli/main.ts`;
  const p = prefix === 'jrn' ? '' : ` --prefix ${prefix}`;
  const lines = [
    `journeys runtime is running (prefix "${prefix}")`,
    `  NATS      ${url}${served.embedded ? ` (embedded nats-server, data in ${served.embedded.dir})` : ''}`,
  ];
  if (served.http) lines.push(`  dashboard http://127.0.0.1:${served.http.port}/  (also /metrics, /healthz, /readyz)`);
  if (deployed.length > 0) lines.push(`  journeys  ${deployed.join(', ')}`);
  if (actions) lines.push(actions);
  if (sample) {
    lines.push(
      `  sample    ${executionIdOf(sample)}: ${sample.journeyId} for a wedding on ${sample.weddingDate} (${sample.timeZone});`,
      `            its actions print [demo] lines below (held back during quiet hours, 21:00-08:00)`,
    );
  }
  lines.push('Try the CLI in another terminal:', `  ${cli} ls${p}`);
  if (sample) lines.push(`  ${cli} status ${executionIdOf(sample)}${p}`);
  if (deployed.length > 0)
    lines.push(
      `  ${cli} defs preview photographer-classic --wedding ${addDaysToDate(localDate(Date.now(), 'UTC'), 90)}${p}`,
    );
  lines.push('Ctrl-C to stop.');
  return lines.join('\n');
}

export const runCommand: Command = {
  name: 'run',
  args: '',
  summary:
    'Runs one runtime instance until Ctrl-C. Without NATS_URL it starts an embedded nats-server. Unless --no-sample, it deploys ' +
    'the sample journeys with in-process demo handlers for email.send, sms.send, task.create and webhook.call (a demo ' +
    'only: they print a line, or fail at random under the demo load), except for actions the actions file lists. Every ' +
    'other action follows the actions file (--actions or JRN_ACTIONS; docs/actions-config.md), and without one goes out ' +
    'as a command on <prefix>.actions.<name> and waits for its service\'s result on <prefix>.results.<name> (docs/actions.md). ' +
    'Logs go to stderr (LOG_LEVEL).',
  example: 'run --no-sample --actions examples/actions.yaml',
  flags: {
    concurrency: { kind: 'string', value: 'N', help: 'concurrent work handlers (default 64)' },
    'ack-wait': {
      kind: 'string',
      value: 'DURATION',
      help: 'how soon a crashed instance\'s steps are redelivered, e.g. 5s or PT10S (default 5s; live instances signal progress)',
    },
    actions: {
      kind: 'string',
      value: 'FILE',
      help:
        'how each action is performed: mode, subject, timeout, retry, concurrency, breaker ' +
        '(YAML or JSON; default: $JRN_ACTIONS; see docs/actions-config.md)',
    },
    replicas: {
      kind: 'string',
      value: 'N',
      help: 'replicas of every stream and bucket it creates, 1 to 5 (default $JRN_REPLICAS, else 1; 3 on a 3-node cluster, nats-server >= 2.9.21)',
    },
    data: { kind: 'string', value: 'DIR', help: 'data folder of the embedded server (default .data)' },
    port: { kind: 'string', value: 'N', help: 'port of the embedded server (default 4222)' },
    'no-sample': { kind: 'boolean', help: 'no sample journeys, in-process demo handlers or sample execution' },
    'no-load': { kind: 'boolean', help: 'no generated demo load (default: on with the sample on an embedded server)' },
    rate: { kind: 'string', value: 'N', help: 'demo starts per second (default 8)' },
    fresh: { kind: 'boolean', help: 'delete the embedded server\'s data first (default: keep it for the next run)' },
  },
  async run(ctx, f) {
    f.noMoreThan(0);
    const concurrency = f.int('concurrency', 1);
    const ackWaitMs = durationFlag(f, 'ack-wait');
    const port = f.int('port', 1);
    const replicas = replicasFrom(f.str('replicas') ?? (ctx.env['JRN_REPLICAS'] || undefined), f.str('replicas') ? '--replicas' : 'JRN_REPLICAS');
    const dataDir = f.str('data');
    const sample = !f.bool('no-sample');
    const rate = f.int('rate', 1);
    // Checked before anything starts: a bad file must not leave an embedded server or a half-started runtime behind.
    const actionsPath = f.str('actions') ?? (ctx.env['JRN_ACTIONS'] || undefined);
    const actionConfig = actionsPath === undefined ? undefined : await loadActionsFile(actionsPath);
    const demo = sample ? demoActions(actionConfig) : [];
    // The demo load runs with the sample journeys on an embedded server (a newcomer's laptop), never against a real cluster.
    const load = sample && !f.bool('no-load') && !ctx.env['NATS_URL'];
    if (f.bool('fresh') && !ctx.env['NATS_URL']) await rm(join(dataDir ?? '.data', 'nats'), { recursive: true, force: true });
    const logger = createLogger(ctx.env['LOG_LEVEL'] ?? 'info', pino.destination(2));
    const served = await serve({
      prefix: ctx.prefix,
      env: ctx.env,
      logger,
      ...(concurrency ? { concurrency } : {}),
      ...(ackWaitMs ? { ackWaitMs } : {}),
      ...(replicas ? { replicas } : {}),
      ...(dataDir ? { dataDir } : {}),
      ...(port ? { port } : {}),
      ...(actionConfig ? { actionConfig } : {}),
      ...(demo.length > 0 ? { handlers: load ? flakyHandlers(demo) : pick(demoHandlers((line) => ctx.out(line)), demo) } : {}),
    });
    let demoLoad: { stop(): void } | undefined;

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      demoLoad?.stop();
      // The timer is ref'd on purpose: it keeps the process alive until the stop has finished (a step that never settles
      // would otherwise let Node exit in the middle of it, leaving the embedded server behind), and kills that server when
      // the stop takes too long.
      let timer: NodeJS.Timeout | undefined;
      stopping ??= Promise.race([
        served.stop(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const stopped = served.embedded ? served.embedded.kill() : Promise.resolve();
            void stopped.finally(() => reject(new Error(`runtime did not stop within ${STOP_TIMEOUT_MS} ms`)));
          }, STOP_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
      return stopping;
    };
    const stopped = new Promise<void>((resolve, reject) => {
      const onSignal = (signal: NodeJS.Signals): void => {
        if (!stopping) logger.info({ signal }, 'stopping');
        stop().then(resolve, reject);
      };
      // `on`, not `once`: a repeated signal (Ctrl-C reaches every process of the group) must not kill a clean stop.
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });

    try {
      const deployed = sample ? await deploySamples(served.runtime.definitions, logger) : [];
      const cmd = sample && served.embedded ? sampleStart(Date.now(), systemZone()) : undefined;
      ctx.out(banner(served, ctx.prefix, deployed, load ? undefined : cmd, actionsLine(demo, actionConfig, actionsPath)));
      const client = new JourneyClient(served.nc, ctx.prefix);
      if (cmd && !load) await client.start(cmd);
      if (load) {
        const generated = startDemoLoad({
          client,
          runTag: Date.now().toString(36),
          ...(rate ? { rate } : {}),
          onError: (err) => logger.warn({ err: errorMessage(err) }, 'demo start failed'),
        });
        demoLoad = startProgress(served, generated, (line) => ctx.out(line));
      }
    } catch (err) {
      await stop().catch(() => undefined);
      throw err;
    }
    await stopped;
    return 0;
  },
};

/** Stream and bucket replicas: JetStream allows 1 to 5. */
function replicasFrom(v: string | undefined, source: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[1-5]$/.test(v)) throw new UsageError(`${source} must be an integer from 1 to 5, got "${v}"`);
  return Number(v);
}
