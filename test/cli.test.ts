/**
 * The `journeys` CLI as a real child process (tsx, as `npx tsx runtime/cli/main.ts` runs it) against a real nats-server,
 * with a runtime in this process under a unique prefix.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import { oneStep, weddingInDays } from './fixtures.ts';
import { lines, runCli, type CliResult } from './harness/cli.ts';
import { useNats, uniqueName, waitFor, type TestServer } from './harness/nats.ts';


let server: TestServer;
let nc: NatsConnection;
useNats((s, c) => ([server, nc] = [s, c]));
let runtime: Runtime;
let prefix: string;
let dir: string;
/** Every `email.send` call; each test looks only at its own supplier's. */
const sent: { executionId: string; supplierId: string }[] = [];
const sentFor = (supplierId: string): string[] => sent.filter((s) => s.supplierId === supplierId).map((s) => s.executionId);

/** Runs the CLI with `--prefix` of the test runtime and NATS_URL of the test server. */
const cli = (args: string[], env: Record<string, string> = {}): Promise<CliResult> =>
  runCli(args, { url: server.url, prefix, env, timeoutMs: 20_000 });


beforeAll(async () => {
  prefix = uniqueName('cli');
  runtime = await startRuntime({
    nc,
    prefix,
    logger: pino({ level: 'silent' }),
    handlers: {
      'email.send': async (inv) => {
        sent.push({ executionId: inv.executionId, supplierId: inv.supplierId });
      },
    },
  });
  dir = await mkdtemp(join(tmpdir(), 'jrn-cli-'));
  await writeFile(join(dir, 'good.json'), JSON.stringify(oneStep));
  await writeFile(
    join(dir, 'bad.json'),
    JSON.stringify({ ...oneStep, steps: { ...oneStep.steps, send: { ...oneStep.steps.send, next: 'nowhere' } } }),
  );
});

afterAll(async () => {
  await runtime?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('cli - offline commands and errors', () => {
  it('cli - defs validate: a good file passes, a bad one prints the path of each issue and exits 1', async () => {
    const [good, bad] = await Promise.all([
      cli(['defs', 'validate', join(dir, 'good.json')]),
      cli(['defs', 'validate', join(dir, 'bad.json')]),
    ]);
    expect(good).toMatchObject({ code: 0, stderr: '' });
    expect(good.stdout).toContain('valid (one-step v1)');

    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/\$\.steps\.send\.next\s+UNKNOWN_STEP\s+Step "nowhere" does not exist/);
    expect(bad.stdout).toMatch(/\$\.steps\.done\s+UNREACHABLE_STEP/);
    expect(lines(bad.stderr)).toEqual([
      `journeys: ${join(dir, 'bad.json')} is not a valid journey definition (2 issues)`,
    ]);
  });

  it('cli - defs preview prints a timeline with quiet hours and ifPast applied', async () => {
    const r = await cli([
      'defs',
      'preview',
      'schemas/examples/photographer-classic.json',
      '--wedding',
      '2027-06-12',
      '--booked',
      '2027-01-10T22:30:00Z',
      '--tz',
      'Europe/London',
    ]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const out = lines(r.stdout);
    expect(out[1]).toMatch(/^WHEN\s+WEDDING\s+STEP\s+TYPE\s+NOTE$/);
    // Booked in quiet hours: the welcome waits for 08:00; six weeks before the wedding at 09:00.
    expect(out[2]).toMatch(/^Mon 2027-01-11 08:00\s+-152d\s+welcome\s+action\s+email\.send/);
    expect(out[3]).toMatch(/^Sat 2027-05-01 09:00\s+-42d\s+sixWeeksBefore\s+waitUntil/);
    expect(r.stdout).toMatch(/awaitQuestionnaire\s+waitForEvent\s+if no event/);
    expect(out.at(-1)).toMatch(/done\s+end\s+journey ends$/);
  });

  it('cli - usage errors exit 2 with one line; a NATS that is not there is one line too', async () => {
    const [unknown, missing, down] = await Promise.all([
      cli(['frobnicate']),
      cli(['status']),
      cli(['ls'], { NATS_URL: 'nats://127.0.0.1:1' }),
    ]);
    expect(unknown.code).toBe(2);
    expect(lines(unknown.stderr)).toEqual(['journeys: unknown command "frobnicate" (see journeys --help)']);
    expect(missing.code).toBe(2);
    expect(lines(missing.stderr)).toEqual(['journeys: missing <executionId>']);
    expect(down.code).toBe(1);
    expect(lines(down.stderr)).toHaveLength(1);
    expect(down.stderr).toMatch(/^journeys: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1: /);
  });

  it('cli - run refuses replicas JetStream cannot have, from the flag or JRN_REPLICAS, before it starts anything', async () => {
    const [flag, env] = await Promise.all([cli(['run', '--replicas', '7']), cli(['run'], { JRN_REPLICAS: 'three' })]);
    expect(flag.code).toBe(2);
    expect(lines(flag.stderr)).toEqual(['journeys: --replicas must be an integer from 1 to 5, got "7"']);
    expect(env.code).toBe(2);
    expect(lines(env.stderr)).toEqual(['journeys: JRN_REPLICAS must be an integer from 1 to 5, got "three"']);
  });
});

describe('cli - against a running runtime', () => {
  it('cli - defs deploy, then defs ls --json lists it', async () => {
    const deploy = await cli(['defs', 'deploy', join(dir, 'good.json')]);
    expect(deploy).toMatchObject({ code: 0, stderr: '' });
    expect(deploy.stdout.trim()).toBe('deployed one-step v1');

    const ls = await cli(['defs', 'ls', '--json']);
    expect(ls.code).toBe(0);
    expect(JSON.parse(ls.stdout)).toEqual([{ id: 'one-step', latest: 1, name: 'One action', vendorType: 'venue' }]);
  });

  it('cli - start prints the execution id; status --json shows it completed', async () => {
    await runtime.definitions.deploy(oneStep);
    const wedding = weddingInDays(365, 'Europe/London'); // low tier whatever the day
    const start = await cli([
      'start',
      '--supplier',
      'sup1',
      '--client',
      'couple1',
      '--journey',
      'one-step',
      '--wedding',
      wedding,
      '--tz',
      'Europe/London',
      '--data',
      '{"guestCount":80}',
    ]);
    expect(start.stderr).toBe('');
    expect(start.code).toBe(0);
    const id = start.stdout.trim();
    expect(id).toMatch(/^ex_[a-z2-7]{26}$/);

    const status = await waitFor('the execution to complete', async () => {
      const r = await cli(['status', id, '--json']);
      const s = JSON.parse(r.stdout) as { state: string; status: string };
      return s.status === 'done' ? s : undefined;
    });
    expect(status).toMatchObject({
      executionId: id,
      state: 'completed',
      status: 'done',
      journeyId: 'one-step',
      weddingDate: wedding,
    });
    expect(sentFor('sup1')).toEqual([id]);
  });

  it('cli - event for an unknown execution fails with one line; dlq ls --json is an empty list', async () => {
    const unknownId = `ex_${'a'.repeat(26)}`;
    const [event, dlq] = await Promise.all([cli(['event', unknownId, 'form.submitted']), cli(['dlq', 'ls', '--json'])]);
    expect(event.code).toBe(1);
    expect(event.stdout).toBe('');
    expect(lines(event.stderr)).toEqual([`journeys: no execution ${unknownId}`]);

    expect(dlq).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(dlq.stdout)).toEqual([]);
  });

  it('cli - import starts every line of a CSV file with a progress bar, and sums up the refused lines', async () => {
    await runtime.definitions.deploy(oneStep);
    const wedding = weddingInDays(365, 'Europe/London');
    const rows = ['supplierId,clientId,journeyId,weddingDate,timeZone,client.email,guestCount'];
    for (let i = 0; i < 40; i++) rows.push(`imp,c${i},one-step,${wedding},Europe/London,"c${i}@example.com",${100 + i}`);
    rows.push(`imp,bad-zone,one-step,${wedding},Mars/Base,,10`); // line 42
    rows.push(`imp,no-journey,nope,${wedding},Europe/London,,10`); // line 43
    const file = join(dir, 'bookings.csv');
    await writeFile(file, rows.join('\n') + '\n');
    const r = await cli(['import', file]);
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toBe('started 40 of 42');
    const errLines = lines(r.stderr);
    expect(errLines.at(-1)).toMatch(/^journeys: 2 of 42 lines refused; first: line 42: .*Mars\/Base/);
    expect(r.stderr).toMatch(/\[#+\] 42\/42 100 % · [\d.]+\/s · ETA 0 s/);
    await waitFor('the 40 imported executions ran', () => sentFor('imp').length >= 40);
    expect(sentFor('imp')).toHaveLength(40);
    expect(new Set(sentFor('imp')).size).toBe(40); // each execution once
  });
});
