/**
 * The live web dashboard (R27) in a real headless Chromium (playwright-core driving Debian's chromium): a real nats-server,
 * an in-process runtime publishing stats every 300 ms, the runtime's HTTP server with the dashboard routes, and a load
 * where some sends fail for good (so the DLQ has entries and alerts open). Screenshots of every tab land in
 * `test-artifacts/dashboard-<tab>.png`.
 */
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { chromium, type Browser, type Page } from 'playwright-core';
import { pino } from 'pino';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import { startHttp, type HttpServer } from '../runtime/http.ts';
import { dashboardRoutes, type Dashboard } from '../runtime/dashboard/routes.ts';
import { JourneyClient } from '../runtime/client.ts';
import { ActionError } from '../runtime/errors.ts';
import { startServer, uniqueName, waitFor, type TestServer } from './harness/nats.ts';
import { oneStep } from './fixtures.ts';

const ARTIFACTS = 'test-artifacts';
const photoStep = { ...oneStep, id: 'photo-one-step', name: 'One photographer action', vendorType: 'photographer' } as const;

let server: TestServer | undefined;
let nc: NatsConnection | undefined;
let runtime: Runtime | undefined;
let dashboard: Dashboard | undefined;
let http: HttpServer | undefined;
let browser: Browser | undefined;
let page: Page;
let client: JourneyClient;
let base = '';
/** While true, every send for a client whose id starts with `bad` fails for good (straight to the DLQ). */
let failing = true;
const requests: string[] = [];
const consoleErrors: string[] = [];
const today = new Date().toISOString().slice(0, 10);
let n = 0;

/** Starts `count` executions: `bad` ones fail while `failing`; `today` ones are wedding-day (critical) work. */
async function load(count: number, opts: { bad?: number; today?: number } = {}): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) => {
      const bad = i < (opts.bad ?? 0);
      const wedding = i < (opts.today ?? 0);
      return client.start({
        supplierId: 'studio-1',
        clientId: `${bad ? 'bad' : 'ok'}-${n++}`,
        journeyId: !bad && i % 3 === 2 ? photoStep.id : oneStep.id, // failures are all venue sends
        weddingDate: wedding ? today : '2031-06-14',
        timeZone: 'UTC',
      });
    }),
  );
}

const shot = async (tab: string): Promise<void> => {
  await page.screenshot({ path: `${ARTIFACTS}/dashboard-${tab}.png`, fullPage: true });
};
const num = async (selector: string): Promise<number> => {
  const text = (await page.locator(selector).textContent()) ?? '';
  const value = Number(text.replace(/[^0-9.]/g, ''));
  return text.trim() === '—' || text.trim() === '' ? NaN : value;
};
const openTab = async (tab: string): Promise<void> => {
  await page.click(`#tab-btn-${tab}`);
  await expect.poll(() => page.locator(`#tab-${tab}`).isVisible()).toBe(true);
};

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  server = await startServer();
  nc = await server.connect();
  runtime = await startRuntime({
    nc,
    prefix: uniqueName('dash'),
    logger: pino({ level: 'silent' }),
    monitor: { intervalMs: 300, thresholds: { minSamples: 5 } },
    supervisor: { tickMs: 500 },
    handlers: {
      'email.send': async (inv) => {
        if (failing && inv.clientId.startsWith('bad')) throw new ActionError('smtp 550: mailbox unavailable', { retryable: false });
      },
    },
  });
  await runtime.definitions.deploy(oneStep);
  await runtime.definitions.deploy(photoStep);
  client = new JourneyClient(nc, runtime.names.prefix);
  dashboard = dashboardRoutes(runtime, { thresholds: { minSamples: 5 }, heartbeatMs: 500 });
  http = await startHttp({ runtime, registry: runtime.metrics.registry, port: 0, host: '127.0.0.1', routes: dashboard.routes });
  base = `http://127.0.0.1:${http.port}`;

  // Some history before the page opens: wedding-day work, future work, and three sends that fail for good.
  await load(30, { bad: 3, today: 12 });
  const rt = runtime;
  await waitFor('three dead letters', async () => (await rt.dlq.list()).length >= 3, 20_000, 100);

  browser = await chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  page.on('request', (r) => void requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => void consoleErrors.push(e.message));
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
    await page.goto(`${base}/`);
    await expect.poll(() => page.title()).toContain('Journeys');
    await expect.poll(() => num('#kpi-completed'), { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#conn').getAttribute('data-state')).toBe('live');

    for (const id of ['chart-throughput', 'chart-latency', 'chart-success', 'chart-queue']) {
      const canvas = page.locator(`#${id} .uplot canvas`).first();
      await expect.poll(async () => (await canvas.boundingBox())?.width ?? 0).toBeGreaterThan(100);
      expect((await canvas.boundingBox())?.height ?? 0).toBeGreaterThan(100);
    }

    // More load while the page is open (two of them failing): the completed counter grows live.
    const before = await num('#kpi-completed');
    await load(24, { bad: 2 });
    await expect.poll(() => num('#kpi-completed'), { timeout: 15_000 }).toBeGreaterThanOrEqual(before + 22);
    // The series are drawn: coloured pixels (the lines; grid and text are grey) on the throughput canvas.
    // (A string: the test's TypeScript has no DOM types.)
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
    await expect.poll(coloured).toBeGreaterThan(100);
    await expect.poll(() => page.locator('#tier-table tbody tr').count()).toBe(4);
    await shot('overview');
    // Responsive: on a phone-sized screen the charts shrink to the width, nothing overflows the page.
    await page.setViewportSize({ width: 390, height: 844 });
    await expect
      .poll(async () => (await page.locator('#chart-throughput .uplot canvas').first().boundingBox())?.width ?? 999)
      .toBeLessThan(390);
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await shot('overview-mobile');
    await page.setViewportSize({ width: 1360, height: 900 });
  });

  it("wedding focus - today's weddings from the calendar, critical numbers and the open alerts", async () => {
    await openTab('wedding');
    // The calendar is flushed every 5 s; the page reloads it every 10 s and when the tab opens.
    await expect
      .poll(
        async () => {
          const v = await num('#wed-today');
          if (!(v >= 12)) await page.click('#tab-btn-overview').then(() => page.click('#tab-btn-wedding'));
          return v;
        },
        { timeout: 25_000, interval: 1_000 },
      )
      .toBeGreaterThanOrEqual(12);
    await expect.poll(() => num('#crit-completed')).toBeGreaterThanOrEqual(9); // 12 today, 3 of them failing
    // Failed wedding-day sends breach the 99.9 % target: an alert is open (raised after two evaluations).
    await expect.poll(() => page.locator('#alerts-list li[data-alert]').count(), { timeout: 15_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#wed-table tbody tr').first().textContent()).toContain('UTC');
    await shot('wedding');

    // A page opened now is not empty: the last stats and the open alerts come with the connection.
    const second = await browser!.newPage();
    try {
      await second.goto(`${base}/#wedding`);
      await expect.poll(() => second.locator('#alerts-list li[data-alert]').count(), { timeout: 3_000 }).toBeGreaterThan(0);
      await expect.poll(() => second.locator('#kpi-completed').textContent(), { timeout: 3_000 }).not.toBe('—');
    } finally {
      await second.close();
    }
  });

  it('vendors - SLA per vendor type against its own limit, with pass/fail badges', async () => {
    await openTab('vendors');
    const venue = page.locator('#vendor-table tr[data-vendor="venue"]');
    const photographer = page.locator('#vendor-table tr[data-vendor="photographer"]');
    await expect.poll(() => venue.count()).toBe(1);
    await expect.poll(() => photographer.count()).toBe(1);
    expect(await venue.locator('td').nth(1).textContent()).toBe('15 s');
    expect(await photographer.locator('td').nth(1).textContent()).toBe('25 s');
    // Steps take milliseconds: latency passes; five of the venue sends failed for good: success fails the 95 % target.
    await expect.poll(() => venue.locator('td').nth(7).textContent()).toBe('PASS');
    await expect.poll(() => venue.locator('td').nth(8).textContent()).toBe('FAIL');
    await expect.poll(() => photographer.locator('td').nth(8).textContent()).toBe('PASS');
    await shot('vendors');
  });

  it('errors - top errors and the DLQ; replay asks in a dialog, the entry leaves and the execution completes', async () => {
    await openTab('errors');
    await expect.poll(() => page.locator('#errors-table tbody').textContent()).toContain('smtp 550');
    const rows = page.locator('#dlq-table tbody tr[data-seq]');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(5);
    await shot('errors');

    const row = rows.first();
    const seq = Number(await row.getAttribute('data-seq'));
    const executionId = (await row.getAttribute('data-execution'))!;
    expect((await client.status(executionId)).status).toBe('failed');
    failing = false; // the handler is fixed
    await row.locator('button.replay').click();
    await expect.poll(() => page.locator('#replay-dialog').isVisible()).toBe(true);
    expect(await page.locator('#replay-text').textContent()).toContain(executionId);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-errors-confirm.png` });
    await page.click('#replay-confirm');
    await expect.poll(() => page.locator('#replay-dialog').isVisible()).toBe(false);
    await expect.poll(() => page.locator(`#dlq-table tr[data-seq="${seq}"]`).count()).toBe(0);
    await waitFor('the replayed execution completes', async () => (await client.status(executionId)).status === 'done', 15_000, 100);
    expect((await runtime!.dlq.list()).map((e) => e.seq)).not.toContain(seq);
    // The list reloads from the server without it, and without the other entries changing.
    await page.click('#dlq-refresh');
    await expect.poll(() => page.locator(`#dlq-table tr[data-seq="${seq}"]`).count()).toBe(0);
    expect(await rows.count()).toBeGreaterThanOrEqual(4);
  });

  it('supervisor - concurrency per tier, desired replicas and the recent decisions with reasons', async () => {
    await openTab('supervisor');
    await expect.poll(() => page.locator('#decisions-table tbody tr[data-decision]').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(() => num('#sup-replicas')).toBeGreaterThanOrEqual(1);
    for (const tier of ['critical', 'high', 'medium', 'low']) expect(await num(`#sup-${tier}`)).toBeGreaterThanOrEqual(1);
    expect(((await page.locator('#sup-reason').textContent()) ?? '').length).toBeGreaterThan(10);
    await shot('supervisor');
  });

  it('events - config, the latest stats and the open alerts at once, then live frames and heartbeats; cleanup on disconnect', async () => {
    // The test page is the one browser connected (the second page of the wedding test has gone).
    await expect.poll(() => dashboard!.clients).toBe(1);
    const abort = new AbortController();
    const res = await fetch(`${base}/events`, { signal: abort.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const frames = (event: string) => text.split('\n\n').filter((f) => f.startsWith(`event: ${event}\n`));
    const deadline = Date.now() + 10_000;
    while (!(frames('stats').length >= 3 && text.includes(': heartbeat') && frames('alert').length > 0 && frames('decision').length > 0)) {
      if (Date.now() > deadline) throw new Error(`incomplete event stream: ${text.slice(0, 300)}`);
      const { value, done } = await reader.read();
      if (done) throw new Error('event stream ended');
      text += decoder.decode(value, { stream: true });
    }
    expect(text.startsWith('retry: ')).toBe(true);
    expect(text.indexOf('event: config')).toBeLessThan(text.indexOf('event: stats'));
    const stats = JSON.parse(frames('stats')[0]!.split('\ndata: ')[1]!) as Record<string, unknown>;
    expect(stats['instance']).toBe('cluster');
    expect(stats['byJourney']).toBeUndefined(); // slimmed for browsers: no per-journey detail, no histograms
    expect(frames('stats')[0]).not.toContain('histogram');
    expect(dashboard!.clients).toBe(2);
    abort.abort();
    await expect.poll(() => dashboard!.clients).toBe(1);
  });

  it('api - bad replay requests get JSON errors; the page came from this host only and logged no error', async () => {
    const post = (body: string, type = 'application/json') =>
      fetch(`${base}/api/dlq/replay`, { method: 'POST', headers: { 'content-type': type }, body });
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
    const today = (await (await fetch(`${base}/api/executions/today`)).json()) as { today: { weddings: number } };
    expect(today.today.weddings).toBeGreaterThanOrEqual(12);

    expect(consoleErrors).toEqual([]);
    const foreign = requests.filter((u) => !u.startsWith(`${base}/`) && !u.startsWith('data:'));
    expect(foreign).toEqual([]);
    expect(requests.some((u) => u.endsWith('/assets/uPlot.iife.min.js'))).toBe(true);
  });
});
