/**
 * The actions file of `journeys run --actions FILE` / `JRN_ACTIONS`: parsing and every validation rule with its exact
 * one-line message, then the CLI as a real process against a real nats-server (a bad file stops it before anything
 * starts; a good one starts and stops on SIGTERM).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ActionsConfigError,
  INVALID_ACTIONS_CONFIG,
  loadActionsFile,
  parseActionsFile,
  validateActionsConfig,
} from '../runtime/action-config.ts';
import { actionsLine, demoActions } from '../runtime/cli/run.ts';
import { freePort } from '../runtime/nats-server-process.ts';
import { serve } from '../runtime/serve.ts';
import { lines, runCli } from './harness/cli.ts';
import { uniqueName, useNats, type TestServer } from './harness/nats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The message of the error `parseActionsFile` throws for `text` (named `bad.yaml`); fails when it does not throw. */
function problem(text: string): string {
  try {
    parseActionsFile(text, 'bad.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ActionsConfigError);
    expect((err as ActionsConfigError).code).toBe(INVALID_ACTIONS_CONFIG);
    const message = (err as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error(`no error for:\n${text}`);
}

describe('action-config - parsing', () => {
  it('action-config - YAML and JSON give the same configuration', () => {
    const yaml = 'defaults:\n  timeout: PT10S\nactions:\n  sms.send:\n    mode: request\n    subject: svc.sms\n';
    const json = JSON.stringify({
      defaults: { timeout: 'PT10S' },
      actions: { 'sms.send': { mode: 'request', subject: 'svc.sms' } },
    });
    const expected = {
      defaults: { timeout: 'PT10S' },
      actions: { 'sms.send': { mode: 'request', subject: 'svc.sms' } },
    };
    expect(parseActionsFile(yaml, 'a.yaml')).toEqual(expected);
    expect(parseActionsFile(json, 'a.json')).toEqual(expected);
  });

  it('action-config - examples/actions.yaml is valid and uses all three modes and a breaker', async () => {
    const file = await loadActionsFile(join(ROOT, 'examples/actions.yaml'));
    const modes = new Set(Object.values(file.actions ?? {}).map((a) => a.mode ?? file.defaults?.mode ?? 'outbound'));
    expect([...modes].sort()).toEqual(['fire-and-forget', 'outbound', 'request']);
    expect(Object.values(file.actions ?? {}).some((a) => typeof a.breaker === 'object')).toBe(true);
  });

  it('action-config - a request action may take its subject from defaults, and another action may leave request mode', () => {
    const text =
      'defaults: { mode: request, subject: svc.all }\nactions:\n  a.b: { timeout: PT5S }\n  c.d: { mode: outbound }\n';
    expect(parseActionsFile(text, 'ok.yaml').actions?.['a.b']).toEqual({ timeout: 'PT5S' });
  });

  it('action-config - an empty file, comments only, or something other than a mapping is refused', () => {
    expect(problem('')).toBe('actions file bad.yaml: the file is empty (expected `defaults:` and/or `actions:`)');
    expect(problem('# nothing yet\n')).toBe(
      'actions file bad.yaml: the file is empty (expected `defaults:` and/or `actions:`)',
    );
    expect(problem('- email.send\n')).toBe(
      'actions file bad.yaml: expected a mapping with `defaults:` and/or `actions:`, got a list',
    );
    expect(problem('outbound\n')).toBe(
      'actions file bad.yaml: expected a mapping with `defaults:` and/or `actions:`, got the text "outbound"',
    );
    expect(problem('actions: []\n')).toBe('actions file bad.yaml: actions: expected a mapping, got []');
  });

  it('action-config - a YAML syntax error names the line and column', () => {
    expect(problem('actions:\n  email.send:\n    timeout: PT1S\n   mode: request\n')).toBe(
      'actions file bad.yaml: YAML syntax error at line 4, column 1: All mapping items must start at the same column',
    );
    expect(problem('actions:\n  a.b: {}\n  a.b: {}\n')).toBe(
      'actions file bad.yaml: YAML syntax error at line 3, column 3: Map keys must be unique',
    );
  });

  it('action-config - a missing file is one line naming it', async () => {
    const path = join(tmpdir(), `${uniqueName('missing')}.yaml`);
    await expect(loadActionsFile(path)).rejects.toMatchObject({
      code: INVALID_ACTIONS_CONFIG,
      message: `actions file ${path}: no such file`,
    });
  });
});

describe('action-config - validation rules', () => {
  it('action-config - durations must be ISO-8601', () => {
    expect(problem('actions:\n  email.send:\n    timeout: soon\n')).toBe(
      'actions file bad.yaml: actions."email.send".timeout: "soon" is not an ISO-8601 duration (e.g. PT30S)',
    );
    expect(problem('defaults:\n  retry: { backoff: P }\n')).toBe(
      'actions file bad.yaml: defaults.retry.backoff: "P" is not an ISO-8601 duration (e.g. PT30S)',
    );
    expect(problem('actions:\n  x:\n    breaker: { within: PT1X }\n')).toBe(
      'actions file bad.yaml: actions."x".breaker.within: "PT1X" is not an ISO-8601 duration (e.g. PT30S)',
    );
  });

  it('action-config - durations must be positive', () => {
    expect(problem('actions:\n  email.send:\n    timeout: -PT5S\n')).toBe(
      'actions file bad.yaml: actions."email.send".timeout: "-PT5S" is not a positive duration',
    );
    expect(problem('actions:\n  email.send:\n    retry: { backoff: PT0S }\n')).toBe(
      'actions file bad.yaml: actions."email.send".retry.backoff: "PT0S" is not a positive duration',
    );
    expect(problem('defaults:\n  breaker: { coolOff: -PT1M }\n')).toBe(
      'actions file bad.yaml: defaults.breaker.coolOff: "-PT1M" is not a positive duration',
    );
  });

  it('action-config - request mode needs a subject, after defaults are applied', () => {
    expect(problem('actions:\n  sms.send:\n    mode: request\n')).toBe(
      'actions file bad.yaml: actions."sms.send": mode request needs a subject',
    );
    expect(problem('defaults:\n  mode: request\nactions:\n  sms.send: { subject: svc.sms }\n')).toBe(
      'actions file bad.yaml: defaults: mode request needs a subject',
    );
  });

  it('action-config - subject is refused in the other modes', () => {
    expect(problem('actions:\n  webhook.call:\n    mode: fire-and-forget\n    subject: svc.hook\n')).toBe(
      'actions file bad.yaml: actions."webhook.call".subject: a subject is only used by mode request, and this action is fire-and-forget',
    );
    expect(problem('actions:\n  email.send:\n    subject: svc.email\n')).toBe(
      'actions file bad.yaml: actions."email.send".subject: a subject is only used by mode request, and this action is outbound',
    );
    expect(problem('defaults:\n  subject: svc.all\n')).toBe(
      'actions file bad.yaml: defaults.subject: a subject is only used by mode request, and the defaults are outbound',
    );
  });

  it('action-config - a request subject must be concrete (no wildcards or spaces)', () => {
    expect(problem('actions:\n  sms.send: { mode: request, subject: "svc.*" }\n')).toBe(
      'actions file bad.yaml: actions."sms.send".subject: "svc.*" is not a subject a request can go to (dot-separated tokens, no spaces or wildcards)',
    );
  });

  it('action-config - breaker minCalls may not exceed window, the built-in defaults included', () => {
    expect(problem('actions:\n  email.send:\n    breaker: { window: 5, minCalls: 6 }\n')).toBe(
      'actions file bad.yaml: actions."email.send".breaker: minCalls 6 is more than window 5: the breaker could never open',
    );
    expect(problem('defaults:\n  breaker: { window: 5 }\n')).toBe(
      'actions file bad.yaml: defaults.breaker: minCalls 10 (the default) is more than window 5: the breaker could never open',
    );
    expect(parseActionsFile('defaults:\n  breaker: { window: 5, minCalls: 5 }\n', 'ok.yaml').defaults?.breaker).toEqual(
      { window: 5, minCalls: 5 },
    );
  });

  it('action-config - structure: unknown fields, modes, action names, breaker and ranges', () => {
    expect(problem('actions:\n  email.send:\n    tiemout: PT1S\n')).toBe(
      'actions file bad.yaml: actions."email.send".tiemout: unknown field (expected one of mode, subject, timeout, retry, concurrency, breaker)',
    );
    expect(problem('action:\n  email.send: {}\n')).toBe(
      'actions file bad.yaml: action: unknown field (expected one of defaults, actions)',
    );
    expect(problem('actions:\n  email.send: { mode: queue }\n')).toBe(
      'actions file bad.yaml: actions."email.send".mode: "queue" is not one of outbound, request, fire-and-forget',
    );
    expect(problem('actions:\n  "email send": {}\n')).toBe(
      'actions file bad.yaml: actions."email send": not a valid action name (letters, digits, _ and -, in parts separated by dots)',
    );
    expect(problem('actions:\n  email.send: { breaker: true }\n')).toBe(
      'actions file bad.yaml: actions."email.send".breaker: expected settings or false, got true',
    );
    expect(problem('actions:\n  email.send: { breaker: { failureRate: 2 } }\n')).toBe(
      'actions file bad.yaml: actions."email.send".breaker.failureRate: expected number to be less or equal to 1, got 2',
    );
    expect(problem('actions:\n  email.send: { retry: { attempts: 0 } }\n')).toBe(
      'actions file bad.yaml: actions."email.send".retry.attempts: expected integer to be greater or equal to 1, got 0',
    );
  });

  it('action-config - an object from code gets the same checks, named by the caller', () => {
    expect(() =>
      validateActionsConfig({ actions: { 'sms.send': { mode: 'request' } } }, 'serve({ actionConfig })'),
    ).toThrow('serve({ actionConfig }): actions."sms.send": mode request needs a subject');
  });
});

describe('action-config - journeys run helpers', () => {
  it('action-config - the actions the file lists get no demo handler, and the banner line says which is which', () => {
    const file = parseActionsFile(
      'actions:\n  sms.send: { mode: request, subject: svc.sms }\n  webhook.call: { mode: fire-and-forget }\n',
      'a.yaml',
    );
    expect(demoActions(undefined)).toEqual(['email.send', 'sms.send', 'task.create', 'webhook.call']);
    expect(demoActions(file)).toEqual(['email.send', 'task.create']);
    expect(actionsLine(demoActions(file), file, 'a.yaml')).toBe(
      '  actions   in-process demo handlers: email.send, task.create; from a.yaml: sms.send (request), webhook.call (fire-and-forget); others: outbound',
    );
    expect(actionsLine([], file, 'a.yaml')).toBe(
      '  actions   from a.yaml: sms.send (request), webhook.call (fire-and-forget); others: outbound',
    );
    expect(actionsLine([], undefined, undefined)).toBeUndefined();
  });
});

describe('action-config - serve', () => {
  it('action-config - serve refuses a bad actionConfig before starting an embedded nats-server', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'jrn-actions-serve-'));
    try {
      await expect(
        serve({
          env: {},
          dataDir,
          port: await freePort(),
          httpPort: false,
          logger: pino({ level: 'silent' }),
          actionConfig: { actions: { 'sms.send': { mode: 'request' } } },
        }),
      ).rejects.toThrow('serve({ actionConfig }): actions."sms.send": mode request needs a subject');
      expect(existsSync(join(dataDir, 'nats'))).toBe(false);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('action-config - journeys run --actions (real processes)', () => {
  let server: TestServer;
  let nc: NatsConnection;
  useNats((s, c) => ([server, nc] = [s, c]));
  let dir: string;
  let bad: string;
  let good: string;
  const badLine = (path: string): string =>
    `journeys: actions file ${path}: actions."email.send".timeout: "soon" is not an ISO-8601 duration (e.g. PT30S)`;

  /** Names of the streams of `prefix` on the test server. */
  const streamsOf = async (prefix: string): Promise<string[]> => {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const name of jsm.streams.names()) if (name.startsWith(`${prefix.toUpperCase()}_`)) names.push(name);
    return names;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jrn-actions-'));
    bad = join(dir, 'bad.yaml');
    good = join(dir, 'good.yaml');
    await writeFile(bad, 'actions:\n  email.send:\n    timeout: soon\n');
    await writeFile(
      good,
      'actions:\n  sms.send:\n    mode: request\n    subject: svc.sms\n  webhook.call:\n    mode: fire-and-forget\n',
    );
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('action-config - run --actions with a bad file exits 1 with one line, and creates nothing on NATS', async () => {
    const prefix = uniqueName('acfg');
    const r = await runCli(['run', '--no-sample', '--actions', bad], { url: server.url, prefix, timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toEqual([badLine(bad)]);
    expect(await streamsOf(prefix)).toEqual([]);
  });

  it('action-config - JRN_ACTIONS pointing at a bad file does the same', async () => {
    const prefix = uniqueName('acfg');
    const r = await runCli(['run', '--no-sample'], {
      url: server.url,
      prefix,
      env: { JRN_ACTIONS: bad },
      timeoutMs: 30_000,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toEqual([badLine(bad)]);
    expect(await streamsOf(prefix)).toEqual([]);
  });

  it('action-config - without NATS_URL a bad file stops run before the embedded nats-server starts', async () => {
    const dataDir = join(dir, 'data');
    const r = await runCli(
      ['run', '--no-sample', '--actions', bad, '--data', dataDir, '--port', String(await freePort())],
      {
        url: '',
        prefix: uniqueName('acfg'),
        timeoutMs: 30_000,
      },
    );
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([badLine(bad)]);
    expect(existsSync(join(dataDir, 'nats'))).toBe(false);
  });

  it('action-config - run --actions with a good file starts, says how actions are performed, and stops on SIGTERM', async () => {
    const prefix = uniqueName('acfg');
    // `node --import tsx`: one process, so the SIGTERM reaches the CLI itself (the tsx CLI would relay it through a child).
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'runtime/cli/main.ts', 'run', '--no-sample', '--actions', good, '--prefix', prefix],
      {
        cwd: ROOT,
        env: { ...process.env, NATS_URL: server.url, LOG_LEVEL: 'warn', HTTP_PORT: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const within = <T>(what: string, p: Promise<T>, ms: number): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        p,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${what} not within ${ms} ms\nstdout: ${stdout}\nstderr: ${stderr}`)),
            ms,
          );
        }),
      ]).finally(() => clearTimeout(timer));
    };
    try {
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout.on('data', () => {
          if (stdout.includes('Ctrl-C to stop.')) resolve();
        });
        void exited.then((code) =>
          reject(new Error(`run exited (${code}) before its banner\nstdout: ${stdout}\nstderr: ${stderr}`)),
        );
      });
      await within('the banner', ready, 60_000);
      expect(stdout).toContain(
        `  actions   from ${good}: sms.send (request), webhook.call (fire-and-forget); others: outbound\n`,
      );
      expect(await streamsOf(prefix)).toContain(`${prefix.toUpperCase()}_ACTIONS`);

      child.kill('SIGTERM');
      expect(await within('the exit after SIGTERM', exited, 30_000)).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    }
  });
});
