/**
 * The live web dashboard (R27) in a real headless Chromium (playwright-core driving Debian's chromium): a real nats-server,
 * an in-process runtime publishing stats every 300 ms and the runtime's HTTP server with the dashboard routes, shared by
 * the file. Each test opens its own page and makes its own load (its own supplier, vendor types and wedding zone, some
 * sends failing for good so the DLQ has entries and alerts open), and asserts on what that load changed, so any test
 * passes alone and in any order. Screenshots of every tab land in `test-artifacts/dashboard-<tab>.png`.
 */
import { mkdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { chromium, type Browser, type Page } from 'playwright-core';
import { pino } from 'pino';
import type { AlertEvent } from '../actors/alerts.ts';
import { TIERS } from '../actors/priority.ts';
import type { StatsMessage } from '../schemas/stats.ts';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import { startHttp, type HttpServer } from '../runtime/http.ts';
import { dashboardRoutes, type Dashboard } from '../runtime/dashboard/routes.ts';
import { JourneyClient } from '../runtime/client.ts';
import { systemClock, type Clock } from '../runtime/clock.ts';
import { decodeText } from '../runtime/codec.ts';
import { ActionError } from '../runtime/errors.ts';
import { startServer, uniqueName, waitFor, type TestServer } from './harness/nats.ts';
import { oneStep, weddingInDays } from './fixtures.ts';

const ARTIFACTS = 'test-artifacts';
/** The vendors test's own vendor types, which no other test sends for (the other tests' sends are venue ones). */
const catererStep = { ...oneStep, id: 'caterer-one-step', name: 'One caterer action', vendorType: 'caterer' } as const;
const floristStep = { ...oneStep, id: 'florist-one-step', name: 'One florist action', vendorType: 'florist' } as const;
/** The actions test's own action (sms.send), which no other test uses. */
const smsStep = {
  ...oneStep,
  id: 'sms-one-step',
  name: 'One text',
  steps: { send: { type: 'action', action: 'sms.send', params: { template: 'hello' }, next: 'done' }, done: { type: 'end' } },
} as const;
/** The monitor's stats interval; no other timer of the runtime uses this delay (see {@link MonitorGate}). */
const MONITOR_MS = 300;
/** Polls of the page and the server: generous, since a busy two-core machine can be slow; their condition ends them. */
const SOON = { timeout: 10_000 } as const;

/**
 * The runtime's clock, able to hold the monitor's ticks (the only timers of {@link MONITOR_MS}): while they are held the
 * runtime publishes no stats and no alert, so whatever a page shows then came with its connection.
 */
class MonitorGate implements Clock {
  #holding = false;
  readonly #held: (() => void)[] = [];

  now(): number {
    return systemClock.now();
  }

  setTimer(fn: () => void, ms: number): () => void {
    if (ms !== MONITOR_MS) return systemClock.setTimer(fn, ms);
    let cancelled = false;
    const run = (): void => {
      if (!cancelled) fn();
    };
    const cancel = systemClock.setTimer(() => {
      if (this.#holding) this.#held.push(run);
      else run();
    }, ms);
    return () => {
      cancelled = true;
      cancel();
    };
  }

  /**
   * Holds the monitor's next tick. Resolves once it is held: the monitor re-arms only when a tick is over, so by then the
   * last tick's stats and alerts are all published (and delivered on the shared connection, which the server does first).
   */
  async hold(): Promise<void> {
    this.#holding = true;
    await waitFor("the monitor's next tick to be held", () => this.#held.length > 0, 10_000, 20);
  }

  release(): void {
    this.#holding = false;
    for (const run of this.#held.splice(0)) run();
  }
}

let server: TestServer | undefined;
let nc: NatsConnection | undefined;
let runtime: Runtime | undefined;
let dashboard: Dashboard | undefined;
let http: HttpServer | undefined;
let browser: Browser | undefined;
let page: Page;
let client: JourneyClient;
let base = '';
const gate = new MonitorGate();
/** Executions whose handler has been fixed: their sends succeed even for a `bad` client. */
const fixed = new Set<string>();
/** The latest event of each alert id published so far (they come in order on one subject). */
const alerts = new Map<string, AlertEvent>();
/** What the current test's pages asked for and logged as an error. */
const requests: string[] = [];
const consoleErrors: string[] = [];
let n = 0;

/**
 * Starts `count` executions of `journeyId` for `supplierId`, each wedding `days` from today in `timeZone` (0: wedding-day,
 * critical work): the first `bad` of them fail for good (straight to the DLQ) until their execution is {@link fixed}.
 * Returns the execution ids in that order.
 */
async function load(
  supplierId: string,
  count: number,
  opts: { bad?: number; days?: number; timeZone?: string; journeyId?: string } = {},
): Promise<string[]> {
  const timeZone = opts.timeZone ?? 'UTC';
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      client.start({
        supplierId,
        clientId: `${i < (opts.bad ?? 0) ? 'bad' : 'ok'}-${n++}`,
        journeyId: opts.journeyId ?? oneStep.id,
        weddingDate: weddingInDays(opts.days ?? 180, timeZone),
        timeZone,
      }),
    ),
  );
}

/** Waits until each of `ids` (from {@link load}) has finished: the first `bad` failed for good, the others completed. */
async function finished(ids: readonly string[], bad = 0): Promise<void> {
  const statuses = () => Promise.all(ids.map(async (id) => (await client.status(id)).status));
  await waitFor(`${ids.length} executions to finish`, async () => (await statuses()).every((s) => s === 'done' || s === 'failed'), 30_000, 100);
  expect(await statuses()).toEqual(ids.map((_, i) => (i < bad ? 'failed' : 'done')));
}

/** The last cluster stats published (what a page opened now receives first). */
async function lastStats(): Promise<StatsMessage | undefined> {
  const rt = runtime!;
  const m = await rt.jsm.streams.getMessage(rt.names.streams.stats, { last_by_subj: rt.names.statsCluster }).catch(() => null);
  return m ? (JSON.parse(decodeText(m.data)) as StatsMessage) : undefined;
}

/** Cluster stats taken once nothing runs any more: their cumulative counts stay as they are until the next load. */
async function settledStats(): Promise<StatsMessage> {
  const rt = runtime!;
  await waitFor('the runtime to be idle', () => rt.idle(), 20_000, 100);
  const idleAt = Date.now();
  return waitFor(
    'cluster stats taken after that',
    async () => {
      const stats = await lastStats();
      return stats !== undefined && Date.parse(stats.at) > idleAt && stats;
    },
    10_000,
    50,
  );
}

/** Ids of the alerts open now: those whose latest event raised them. */
const openAlerts = (): string[] =>
  [...alerts.values()]
    .filter((a) => a.type === 'raised')
    .map((a) => a.id)
    .sort();

const shot = async (tab: string): Promise<void> => {
  await page.screenshot({ path: `${ARTIFACTS}/dashboard-${tab}.png`, fullPage: true });
};
const num = async (selector: string, on: Page = page): Promise<number> => {
  const text = (await on.locator(selector).textContent()) ?? '';
  const value = Number(text.replace(/[^0-9.]/g, ''));
  return text.trim() === '—' || text.trim() === '' ? NaN : value;
};
// Read in one evaluation each, since the page re-renders on every stats message. (Strings: the test's TypeScript has no
// DOM types.)
/** The cells' text of each body row of `table`. */
const cells = (table: string, on: Page = page): Promise<string[][]> =>
  on.evaluate<string[][]>(`[...document.querySelectorAll('${table} tbody tr')].map((r) => [...r.cells].map((c) => c.textContent.trim()))`);
/** The ids of the alerts the page lists as open. */
const listedAlerts = (on: Page = page): Promise<string[]> =>
  on.evaluate<string[]>(`[...document.querySelectorAll('#alerts-list li[data-alert]')].map((li) => li.dataset.alert).sort()`);
/** The DLQ rows the page lists, as [seq, execution id]. */
const dlqRows = (): Promise<[number, string][]> =>
  page.evaluate<[number, string][]>(`[...document.querySelectorAll('#dlq-table tbody tr[data-seq]')].map((r) => [Number(r.dataset.seq), r.dataset.execution])`);

/** Opens the page on `tab` and waits until it is live: connected, with stats (so it now receives every new window). */
const open = async (tab: string, on: Page = page): Promise<void> => {
  await on.goto(`${base}/#${tab}`);
  await expect.poll(() => on.locator(`#tab-${tab}`).isVisible(), SOON).toBe(true);
  await expect.poll(() => on.locator('#conn').getAttribute('data-state'), SOON).toBe('live');
  await expect.poll(() => num('#kpi-completed', on), SOON).not.toBeNaN();
};
const switchTab = async (tab: string): Promise<void> => {
  await page.click(`#tab-btn-${tab}`);
  await expect.poll(() => page.locator(`#tab-${tab}`).isVisible(), SOON).toBe(true);
};
/** A page whose requests and errors are recorded for {@link misbehaviour}. */
const newPage = async (): Promise<Page> => {
  const p = await browser!.newPage({ viewport: { width: 1360, height: 900 } });
  p.on('request', (r) => void requests.push(r.url()));
  p.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  p.on('pageerror', (e) => void consoleErrors.push(e.message));
  return p;
};
/** What the test's pages did wrong: errors they logged, requests they made to another host. */
/** A GET with the given Host header (fetch cannot set it): the status and, for JSON answers, the error code. */
const statusWithHost = (url: string, host: string): Promise<{ status: number; code?: string }> =>
  new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      // An event stream that was let through does not end: its status is enough.
      if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        resolve({ status: res.statusCode ?? 0 });
        req.destroy();
        return;
      }
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode ?? 0, ...(code ? { code } : {}) });
      });
    });
    req.on('error', reject);
    req.end();
  });

const misbehaviour = (): { errors: string[]; foreign: string[] } => ({
  errors: [...consoleErrors],
  foreign: requests.filter((u) => !u.startsWith(`${base}/`) && !u.startsWith('data:')),
});

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  server = await startServer();
  nc = await server.connect();
  runtime = await startRuntime({
    nc,
    prefix: uniqueName('dash'),
    clock: gate,
    logger: pino({ level: 'silent' }),
    monitor: { intervalMs: MONITOR_MS, thresholds: { minSamples: 5 } },
    supervisor: { tickMs: 500 },
    handlers: {
      'email.send': async (inv) => {
        if (inv.clientId.startsWith('bad') && !fixed.has(inv.executionId)) {
          throw new ActionError(`smtp 550: mailbox unavailable at ${inv.supplierId}`, { retryable: false });
        }
      },
      'sms.send': async (inv) => {
        if (inv.clientId.startsWith('bad')) throw new ActionError(`sms gateway refused ${inv.supplierId}`, { retryable: false });
      },
    },
  });
  nc.subscribe(runtime.names.alerts, {
    callback: (_err, m) => {
      const a = JSON.parse(decodeText(m.data)) as AlertEvent;
      alerts.set(a.id, a);
    },
  });
  for (const definition of [oneStep, catererStep, floristStep, smsStep]) await runtime.definitions.deploy(definition);
  client = new JourneyClient(nc, runtime.names.prefix);
  dashboard = dashboardRoutes(runtime, { thresholds: { minSamples: 5 }, heartbeatMs: 500 });
  http = await startHttp({ runtime, registry: runtime.metrics.registry, port: 0, host: '127.0.0.1', routes: dashboard.routes });
  base = `http://127.0.0.1:${http.port}`;
  browser = await chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

beforeEach(async () => {
  page = await newPage();
});

afterEach(async () => {
  // Whatever the test did with its pages, they logged no error and asked nothing of another host.
  try {
    expect(misbehaviour()).toEqual({ errors: [], foreign: [] });
  } finally {
    requests.length = 0;
    consoleErrors.length = 0;
    gate.release(); // in case a test failed while holding it
    await page.close();
  }
});

afterAll(async () => {
  const steps: [string, () => Promise<unknown> | undefined][] = [
    ['browser', () => browser?.close()],
    ['dashboard', async () => dashboard?.close()],
    ['http', () => http?.close()],
    ['runtime', () => runtime?.stop()],
    ['nats connection', () => nc?.close()],
    ['nats-server', () => server?.stop()],
  ];
  for (const [what, stop] of steps) {
    try {
      await stop();
    } catch (err) {
      console.error(`closing ${what}:`, err);
    }
  }
});

describe('live web dashboard', () => {
  it('overview - loads, draws its charts and its numbers follow the load as it runs', async () => {
    const before = (await settledStats()).cumulative.totals.completed;
    await open('overview');
    await expect.poll(() => page.title(), SOON).toContain('Journeys');
    await expect.poll(() => num('#kpi-completed'), SOON).toBe(before);

    // Sizes follow the layout (and the fonts): bounds, not values.
    for (const id of ['chart-throughput', 'chart-latency', 'chart-success', 'chart-queue']) {
      const canvas = page.locator(`#${id} .uplot canvas`).first();
      await expect.poll(async () => (await canvas.boundingBox())?.width ?? 0, SOON).toBeGreaterThan(100);
      expect((await canvas.boundingBox())?.height ?? 0).toBeGreaterThan(100);
    }

    // A load while the page is open (two of its sends failing): the completed counter follows it live.
    const ids = await load('studio-overview', 24, { bad: 2 });
    await finished(ids, 2);
    const after = (await settledStats()).cumulative.totals.completed;
    expect(after - before).toBe(22);
    await expect.poll(() => num('#kpi-completed'), { timeout: 15_000 }).toBe(after);
    // The series are drawn: coloured pixels (the lines; grid and text are grey) on the throughput canvas. How many
    // depends on the line paths and anti-aliasing, so a bound: a few lines across the plot make hundreds.
    const coloured = () =>
      page.evaluate<number>(`(() => {
        const canvas = document.querySelector('#chart-throughput .uplot canvas');
        const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let count = 0;
        for (let i = 0; i < px.length; i += 4) {
          if (px[i + 3] > 200 && Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 80) count++;
        }
        return count;
      })()`);
    await expect.poll(coloured, SOON).toBeGreaterThan(100);
    await expect.poll(async () => (await cells('#tier-table')).map((r) => r[0]), SOON).toEqual([...TIERS]);
    await shot('overview');
    // Responsive: on a phone-sized screen the charts shrink to the width (less the page's padding), nothing overflows.
    await page.setViewportSize({ width: 390, height: 844 });
    await expect
      .poll(async () => (await page.locator('#chart-throughput .uplot canvas').first().boundingBox())?.width ?? 999, SOON)
      .toBeLessThan(390);
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await shot('overview-mobile');
  });

  it("wedding focus - today's weddings from the calendar, critical numbers and the open alerts", async () => {
    const zone = 'UTC'; // no other test has weddings today or tomorrow in it
    const before = (await settledStats()).cumulative.byTier.critical.completed;
    await open('wedding');
    // Twelve weddings today, three of them failing for good.
    const ids = await load('studio-wedding', 12, { bad: 3, days: 0, timeZone: zone });
    await finished(ids, 3);
    const after = (await settledStats()).cumulative.byTier.critical.completed;
    expect(after - before).toBe(9);
    await expect.poll(() => num('#crit-completed'), { timeout: 15_000 }).toBe(after);

    // The calendar is flushed every 5 s; the page reloads it every 10 s and when the tab opens.
    await expect
      .poll(
        async () => {
          const rows = (await cells('#wed-table')).filter((r) => r[0] === 'Today' && r[2] === zone);
          if (rows[0]?.[3] !== '12') await switchTab('overview').then(() => switchTab('wedding'));
          return rows;
        },
        { timeout: 25_000, interval: 1_000 },
      )
      .toEqual([['Today', weddingInDays(0, zone), zone, '12']]);
    const today = (await cells('#wed-table')).filter((r) => r[0] === 'Today').reduce((sum, r) => sum + Number(r[3]), 0);
    expect(await num('#wed-today')).toBe(today);
    // Failed wedding-day sends breach the 99.9 % target: the alert is open (raised after two evaluations).
    await expect.poll(() => page.locator('#alerts-list li[data-alert="wedding-day-success"]').count(), { timeout: 15_000 }).toBe(1);
    await shot('wedding');

    // A page opened now is not empty: the last stats and the open alerts come with the connection. The monitor is held
    // meanwhile, so nothing new is published: what the second page shows can only come from its first frames.
    await gate.hold();
    const published: string[] = [];
    const watches = [runtime!.names.statsCluster, runtime!.names.alerts].map((subject) =>
      nc!.subscribe(subject, { callback: () => void published.push(subject) }),
    );
    const second = await newPage();
    try {
      const last = await lastStats();
      const open = openAlerts();
      expect(open).toContain('wedding-day-success');
      await second.goto(`${base}/#wedding`);
      await expect.poll(() => listedAlerts(second), { timeout: 15_000 }).toEqual(open);
      await expect.poll(() => num('#kpi-completed', second), { timeout: 15_000 }).toBe(last?.cumulative.totals.completed);
      expect(published).toEqual([]);
    } finally {
      for (const w of watches) w.unsubscribe();
      gate.release();
      await second.close();
    }
  });

  it('vendors - SLA per vendor type against its own limit, with pass/fail badges', async () => {
    await open('vendors');
    // Vendor types only this test sends for: ten caterer sends, four failing for good; six florist sends.
    const caterer = await load('studio-vendors', 10, { bad: 4, journeyId: catererStep.id });
    const florist = await load('studio-vendors', 6, { journeyId: floristStep.id });
    await finished(caterer, 4);
    await finished(florist);
    // Per vendor: limit, steps done, dead-lettered, success rate, latency badge, success badge. (The latency columns are
    // measured: their badge judges them. Steps take milliseconds, so latency passes.)
    const row = async (vendor: string) => {
      const r = (await cells('#vendor-table')).find((c) => c[0] === vendor);
      return r && [r[1], r[4], r[5], r[6], r[7], r[8]];
    };
    await expect.poll(() => row('caterer'), { timeout: 15_000 }).toEqual(['20 s', '6', '4', '60 %', 'PASS', 'FAIL']);
    await expect.poll(() => row('florist'), SOON).toEqual(['18 s', '6', '0', '100 %', 'PASS', 'PASS']);
    await shot('vendors');
  });

  it('errors - top errors and the DLQ; replay asks in a dialog, the entry leaves and the execution completes', async () => {
    await open('errors');
    // Opened before the load: the page counts every failed attempt of it. Three of five sends fail for good.
    const ids = await load('studio-errors', 5, { bad: 3 });
    const dead = ids.slice(0, 3);
    await finished(ids, 3);
    const message = 'smtp 550: mailbox unavailable at studio-errors';
    await expect
      .poll(async () => (await cells('#errors-table')).find((r) => r[0] === message)?.[2], { timeout: 15_000 })
      .toBe('3');
    const ours = async () =>
      (await dlqRows())
        .filter(([, ex]) => dead.includes(ex))
        .map(([, ex]) => ex)
        .sort();
    await expect.poll(ours, { timeout: 15_000 }).toEqual([...dead].sort());
    await shot('errors');

    const executionId = dead[0]!;
    const row = page.locator(`#dlq-table tr[data-execution="${executionId}"]`);
    const seq = Number(await row.getAttribute('data-seq'));
    expect((await client.status(executionId)).status).toBe('failed');
    const others = (await runtime!.dlq.list()).map((e) => e.seq).filter((s) => s !== seq);
    fixed.add(executionId); // the handler is fixed for it
    await row.locator('button.replay').click();
    await expect.poll(() => page.locator('#replay-dialog').isVisible(), SOON).toBe(true);
    expect(await page.locator('#replay-text').textContent()).toContain(executionId);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-errors-confirm.png` });
    await page.click('#replay-confirm');
    await expect.poll(() => page.locator('#replay-dialog').isVisible(), SOON).toBe(false);
    await expect.poll(() => row.count(), SOON).toBe(0);
    await waitFor('the replayed execution completes', async () => (await client.status(executionId)).status === 'done', 15_000, 100);
    expect((await runtime!.dlq.list()).map((e) => e.seq)).not.toContain(seq);
    // The list reloads from the server without it, and with every other entry as it was.
    await page.click('#dlq-refresh');
    await expect.poll(async () => (await dlqRows()).map(([s]) => s).sort((a, b) => a - b), SOON).toEqual(others.sort((a, b) => a - b));
  });

  it('actions - per action in Errors and Vendors: attempts, success rate, p50/p99 and the circuit, an open one highlighted', async () => {
    await open('errors');
    // Five texts, three refused for good: 2 ok and 3 failed attempts (not retried), 40 % success.
    const ids = await load('studio-actions', 5, { bad: 3, journeyId: smsStep.id });
    await finished(ids, 3);
    const stats = await settledStats();
    expect(stats.cumulative.byAction?.['sms.send']).toMatchObject({ ok: 2, failed: 3, held: 0, attempts: 5, successRate: 0.4 });
    const row = async (table: string) => (await cells(table)).find((c) => c[0] === 'sms.send');
    const latency = /^(<1 ms|[\d.]+ ms|[\d.]+ s)$/;
    await expect.poll(async () => (await row('#error-actions-table'))?.slice(0, 4), { timeout: 15_000 }).toEqual(['sms.send', '5', '0', '40 %']);
    const shown = (await row('#error-actions-table'))!;
    expect(shown[4]).toMatch(latency);
    expect(shown[5]).toMatch(latency);
    expect(shown[6]).toBe('closed');
    const circuit = (table: string) => page.locator(`${table} tr[data-action="sms.send"]`);

    // Its circuit opens (as the runtime reports a breaker's change): the row says so, highlighted and first, and the
    // alert is raised.
    const id = 'action-circuit:sms.send';
    runtime!.monitor!.observe({ type: 'breaker', at: Date.now(), action: 'sms.send', state: 'open', failureRate: 0.6 });
    await expect.poll(() => circuit('#error-actions-table').getAttribute('data-circuit'), { timeout: 15_000 }).toBe('open');
    expect(await circuit('#error-actions-table').getAttribute('class')).toBe('circuit-open');
    expect((await cells('#error-actions-table'))[0]?.[0]).toBe('sms.send');
    expect((await row('#error-actions-table'))?.[6]).toBe('open');
    await waitFor('the circuit alert', () => alerts.get(id)?.type === 'raised', 15_000);
    await shot('errors-actions');
    await switchTab('vendors');
    await expect.poll(async () => (await row('#vendor-actions-table'))?.filter((_, i) => i !== 4 && i !== 5), SOON).toEqual(['sms.send', '5', '0', '40 %', 'open']);

    // Closed again: the row follows and the alert clears (the other tests compare the open alerts with the page's).
    runtime!.monitor!.observe({ type: 'breaker', at: Date.now(), action: 'sms.send', state: 'closed', failureRate: 0 });
    await expect.poll(() => circuit('#vendor-actions-table').getAttribute('data-circuit'), { timeout: 15_000 }).toBe('closed');
    await waitFor('the circuit alert cleared', () => alerts.get(id)?.type === 'cleared', 15_000);
  });

  it('supervisor - concurrency per tier, desired replicas and the recent decisions with reasons', async () => {
    await open('supervisor');
    // The supervisor decides at its first tick and on every change after: the page shows its latest decision in force,
    // and the recent ones newest first. Read together on each try, since a decision may land meanwhile.
    const sup = runtime!.supervisor!;
    const decided = () => {
      const d = sup.snapshot?.context.decisions.at(-1);
      return d && { latest: `${runtime!.instanceId}:${d.seq}`, newestFirst: true, replicas: d.to.replicas, ...d.to.concurrency, reason: d.reason };
    };
    const shown = () =>
      page.evaluate<Record<string, unknown>>(`(() => {
        const num = (id) => Number(document.getElementById(id).textContent.replace(/[^0-9.]/g, ''));
        const keys = [...document.querySelectorAll('#decisions-table tbody tr[data-decision]')].map((r) => r.dataset.decision);
        const seqs = keys.map((k) => Number(k.slice(k.lastIndexOf(':') + 1)));
        return {
          latest: keys[0], newestFirst: seqs.every((s, i) => i === 0 || s < seqs[i - 1]), replicas: num('sup-replicas'),
          critical: num('sup-critical'), high: num('sup-high'), medium: num('sup-medium'), low: num('sup-low'),
          reason: document.getElementById('sup-reason').textContent,
        };
      })()`);
    await expect
      .poll(
        async () => {
          const want = decided();
          const got = await shown();
          return isDeepStrictEqual(got, want) ? 'the latest decision' : { page: got, supervisor: want };
        },
        { timeout: 15_000 },
      )
      .toBe('the latest decision');
    await shot('supervisor');
  });

  it('events - config, the latest stats and the open alerts at once, then live frames and heartbeats; cleanup on disconnect', async () => {
    // An alert to be open: a wedding-day send that fails for good breaches the 99.9 % target.
    const ids = await load('studio-events', 6, { bad: 1, days: 0, timeZone: 'Europe/Paris' });
    await finished(ids, 1);
    await waitFor('the wedding-day alert to be open', () => openAlerts().includes('wedding-day-success'), 15_000);
    // No browser is connected (this test's page stays blank; earlier tests' pages have gone).
    await expect.poll(() => dashboard!.clients, SOON).toBe(0);

    const abort = new AbortController();
    let text = '';
    const frames = (event: string) => text.split('\n\n').filter((f) => f.startsWith(`event: ${event}\n`));
    const data = (f: string) => JSON.parse(f.split('\ndata: ')[1]!) as Record<string, unknown>;
    // The monitor is held while connecting: nothing new is published, so the frames read then are the first ones.
    await gate.hold();
    try {
      const last = await lastStats();
      const open = openAlerts();
      const res = await fetch(`${base}/events`, { signal: abort.signal });
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      const readUntil = async (what: string, done: () => boolean): Promise<void> => {
        const deadline = Date.now() + 10_000;
        while (!done()) {
          if (Date.now() > deadline) throw new Error(`no ${what} in the event stream within 10 s: ${text.slice(0, 300)}`);
          const { value, done: ended } = await reader.read();
          if (ended) throw new Error('event stream ended');
          text += decoder.decode(value, { stream: true });
        }
      };
      // Config, stats, open alerts, recent decisions (the supervisor has decided at least once): a decision ends them.
      await readUntil('first frames', () => frames('stats').length > 0 && frames('decision').length > 0);
      expect(text.startsWith('retry: ')).toBe(true);
      expect(text.indexOf('event: config')).toBeLessThan(text.indexOf('event: stats'));
      expect(frames('stats').map((f) => data(f)['at'])).toEqual([last?.at]);
      expect(frames('alert').map((f) => data(f)['id']).sort()).toEqual(open);
      expect(dashboard!.clients).toBe(1);

      gate.release();
      await readUntil('live stats and heartbeat', () => frames('stats').length >= 3 && text.includes(': heartbeat'));
      // The first frame and the live ones alike: slimmed for browsers, no per-journey detail, no histograms.
      for (const f of frames('stats')) {
        expect(data(f)['instance']).toBe('cluster');
        expect(data(f)['byJourney']).toBeUndefined();
        expect(f).not.toContain('histogram');
      }
    } finally {
      gate.release();
      abort.abort();
    }
    await expect.poll(() => dashboard!.clients, SOON).toBe(0);
  });

  it('api - bad replay requests get JSON errors; the page came from this host only and logged no error', async () => {
    // As the page sends it: a browser names the page's origin on every POST.
    const post = (body: string, type = 'application/json') =>
      fetch(`${base}/api/dlq/replay`, { method: 'POST', headers: { 'content-type': type, origin: base }, body });
    for (const body of ['{}', '{"seq":"1"}', '{"seq":-3}', '{"seq":1.5}', 'not json', 'null']) {
      const res = await post(body);
      expect(res.status, body).toBe(400);
      expect(((await res.json()) as { ok: boolean; error: { code: string } }).error.code).toBe('BAD_REQUEST');
    }
    expect((await post('{"seq":1}', 'text/plain')).status).toBe(415);
    expect((await post('{"seq":999999}')).status).toBe(404);
    expect((await fetch(`${base}/api/dlq/replay`)).status).toBe(405);
    const cross = await fetch(`${base}/api/dlq/replay`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://evil.example' }, body: '{"seq":1}' });
    expect(cross.status).toBe(403);
    // No Origin: not from the page (a script, or a form elsewhere).
    const bare = await fetch(`${base}/api/dlq/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"seq":999999}' });
    expect([bare.status, ((await bare.json()) as { error: { code: string } }).error.code]).toEqual([403, 'FORBIDDEN']);
    // A name that resolves to this machine but is none of its own (DNS rebinding): nothing answers but the refusal.
    for (const path of ['/', '/api/dlq', '/events']) {
      expect(await statusWithHost(`${base}${path}`, 'evil.example'), path).toEqual({ status: 403, code: 'HOST_NOT_ALLOWED' });
    }
    expect((await statusWithHost(`${base}/api/dlq`, `localhost:${http!.port}`)).status).toBe(200);

    // Weddings today and tomorrow on the local dates of a zone no other test uses (the calendar is flushed every 5 s).
    const zone = 'Asia/Tokyo';
    const ids = [...(await load('studio-api', 3, { days: 0, timeZone: zone })), ...(await load('studio-api', 2, { days: 1, timeZone: zone }))];
    await finished(ids);
    type Day = { weddings: number; zones: { timeZone: string; date: string; weddings: number }[] };
    const weddings = async () => (await (await fetch(`${base}/api/executions/today`)).json()) as { today: Day; tomorrow: Day };
    await expect
      .poll(
        async () => {
          const w = await weddings();
          return [w.today, w.tomorrow].map((d) => d.zones.filter((z) => z.timeZone === zone));
        },
        { timeout: 15_000 },
      )
      .toEqual([[{ timeZone: zone, date: weddingInDays(0, zone), weddings: 3 }], [{ timeZone: zone, date: weddingInDays(1, zone), weddings: 2 }]]);
    const w = await weddings();
    for (const d of [w.today, w.tomorrow]) expect(d.weddings).toBe(d.zones.reduce((sum, z) => sum + z.weddings, 0));

    await open('overview');
    expect(misbehaviour()).toEqual({ errors: [], foreign: [] });
    expect(requests.some((u) => u === `${base}/assets/uPlot.iife.min.js`)).toBe(true);
  });

  it('api - with an operator token set: changes need it, listed host names answer, live streams are capped; off means off', async () => {
    const token = 's3cret-operator-token';
    const guarded = dashboardRoutes(runtime!, { changes: { token }, hosts: ['Journeys.Example'], maxClients: 1, heartbeatMs: 500 });
    const off = dashboardRoutes(runtime!, { changes: 'off', heartbeatMs: 500 });
    const servers = [
      await startHttp({ runtime: runtime!, registry: runtime!.metrics.registry, port: 0, host: '127.0.0.1', routes: guarded.routes }),
      await startHttp({ runtime: runtime!, registry: runtime!.metrics.registry, port: 0, host: '127.0.0.1', routes: off.routes }),
    ];
    const abort = new AbortController();
    const tokenPage = await browser!.newPage({ viewport: { width: 1360, height: 900 } });
    const pageErrors: string[] = [];
    tokenPage.on('console', (m) => void (m.type() === 'error' && pageErrors.push(m.text())));
    tokenPage.on('pageerror', (e) => void pageErrors.push(e.message));
    try {
      const [url, offUrl] = servers.map((s) => `http://127.0.0.1:${s.port}`) as [string, string];
      const replay = (on: string, headers: Record<string, string> = {}) =>
        fetch(`${on}/api/dlq/replay`, { method: 'POST', headers: { 'content-type': 'application/json', origin: on, ...headers }, body: '{"seq":999999}' });
      const answer = async (r: Response) => [r.status, ((await r.json()) as { error: { code: string } }).error.code];
      expect(await answer(await replay(url))).toEqual([401, 'UNAUTHORIZED']);
      expect(await answer(await replay(url, { authorization: 'Bearer guess' }))).toEqual([401, 'UNAUTHORIZED']);
      // The right token gets past the guard: the entry is then simply not there.
      expect(await answer(await replay(url, { authorization: `Bearer ${token}` }))).toEqual([404, 'DLQ_ENTRY_MISSING']);
      expect(await answer(await replay(offUrl, { authorization: `Bearer ${token}` }))).toEqual([403, 'CHANGES_OFF']);
      // Listed names answer (whatever their case and port), others do not.
      expect((await statusWithHost(`${url}/api/dlq`, 'journeys.example:8080')).status).toBe(200);
      expect(await statusWithHost(`${url}/api/dlq`, 'journeys.example.evil.test')).toEqual({ status: 403, code: 'HOST_NOT_ALLOWED' });

      // One live stream at a time here: the second is told to come back later.
      const first = await fetch(`${url}/events`, { signal: abort.signal });
      expect(first.status).toBe(200);
      await expect.poll(() => guarded.clients, SOON).toBe(1);
      const second = await fetch(`${url}/events`);
      expect([second.status, second.headers.get('retry-after')]).toEqual([503, '10']);
      abort.abort();
      await expect.poll(() => guarded.clients, SOON).toBe(0);

      // The page asks for the token in the replay dialog and sends it; a dead letter then leaves the queue.
      // Two dead letters: one replayed here, one left for the page where changes are off.
      const ids = await load('studio-token', 2, { bad: 2 });
      await finished(ids, 2);
      const dead = ids[0];
      fixed.add(dead!);
      await tokenPage.goto(`${url}/#errors`);
      const row = tokenPage.locator(`#dlq-table tr[data-execution="${dead}"]`);
      await expect.poll(() => row.count(), { timeout: 15_000 }).toBe(1);
      await row.locator('button.replay').click();
      await expect.poll(() => tokenPage.locator('#replay-token').isVisible(), SOON).toBe(true);
      await tokenPage.fill('#replay-token', token);
      await tokenPage.click('#replay-confirm');
      await expect.poll(() => tokenPage.locator('#replay-dialog').isVisible(), SOON).toBe(false);
      await waitFor('the replayed execution completes', async () => (await client.status(dead!)).status === 'done', 15_000, 100);
      // Where changes are off, the page offers no replay.
      await tokenPage.goto(`${offUrl}/#errors`);
      await expect.poll(() => tokenPage.locator('#dlq-table button.replay').count(), { timeout: 15_000 }).toBeGreaterThan(0);
      await expect.poll(() => tokenPage.locator('#dlq-table button.replay:not([disabled])').count(), SOON).toBe(0);
      expect(pageErrors).toEqual([]);
    } finally {
      abort.abort();
      await tokenPage.close();
      guarded.close();
      off.close();
      for (const s of servers) await s.close();
    }
  });
});
