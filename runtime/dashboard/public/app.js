// Journeys live dashboard: plain browser module, no framework, no build. Live data arrives as Server-Sent Events from
// /events (stats, alert, decision); the DLQ and the wedding calendar come from small JSON endpoints. Everything is built
// with DOM nodes and textContent (error messages come from action handlers: never innerHTML).
/* global uPlot */

const TIERS = ['critical', 'high', 'medium', 'low'];
const TIER_COLORS = { critical: '#dc2626', high: '#ea8a0c', medium: '#2563eb', low: '#64748b' };
const MAX_POINTS = 3600;
const CHART_HEIGHT = 220;

const state = {
  config: null,
  stats: null,
  /** Latest event per alert id; open = latest is `raised`. */
  alerts: new Map(),
  decisions: [],
  /** Error message → failed attempts counted from the stats windows seen since the page opened. */
  sessionErrors: new Map(),
  weddings: null,
  dlq: null,
  /** Sequences replayed from this page: hidden even if a list fetched before the replay still holds them. */
  replayed: new Set(),
  lastDeadLettered: null,
  lastStatsAt: 0,
  tab: 'overview',
};

// ---------------------------------------------------------------------------------------------------------------------
// Formatting and DOM helpers

const $ = (id) => document.getElementById(id);
const nf0 = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const nf1 = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
const nf2 = new Intl.NumberFormat('en', { maximumFractionDigits: 2 });
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const fmtInt = (v) => (isNum(v) ? nf0.format(v) : '—');
const fmtRate = (v) => (isNum(v) ? (v >= 100 ? nf0 : v >= 10 ? nf1 : nf2).format(v) : '—');
const fmtMs = (v) => {
  if (!isNum(v)) return '—';
  if (v < 1) return '<1 ms';
  if (v < 1000) return `${(v < 10 ? nf1 : nf0).format(v)} ms`;
  if (v < 60_000) return `${nf2.format(v / 1000)} s`;
  return `${nf1.format(v / 60_000)} min`;
};
/** A rate in 0..1 as a percentage: two decimals near 100 % (where 99.9 and 99.99 differ), one below. */
const fmtPct = (v) => {
  if (!isNum(v)) return '—';
  const p = v * 100;
  return `${(p >= 99 ? nf2 : nf1).format(p >= 99.995 && p < 100 ? 99.99 : p)} %`;
};
const fmtTime = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
const fmtDateTime = (ms) => {
  const d = new Date(ms);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? fmtTime(ms) : `${d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' })} ${fmtTime(ms)}`;
};
const ago = (ms) => {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${nf1.format(s / 3600)} h ago`;
};

/** `h('td', { class: 'num' }, '12')`: an element with attributes (`on*` as listeners) and text or node children. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const setText = (id, text) => {
  const el = $(id);
  if (el && el.textContent !== text) el.textContent = text;
};
const fillBody = (table, rows, emptyText, columns) => {
  const body = $(table).tBodies[0];
  body.replaceChildren(...(rows.length > 0 ? rows : [h('tr', { class: 'empty' }, h('td', { colspan: columns }, emptyText))]));
};
const badge = (kind, text) => h('span', { class: `badge ${kind}` }, text);
const tierLabel = (tier) => h('span', { class: `tier ${tier}` }, tier);

// ---------------------------------------------------------------------------------------------------------------------
// Tabs

function showTab(name) {
  if (!document.getElementById(`tab-${name}`)) name = 'overview';
  state.tab = name;
  for (const btn of document.querySelectorAll('[role="tab"]')) {
    const on = btn.dataset.tab === name;
    btn.setAttribute('aria-selected', String(on));
    btn.tabIndex = on ? 0 : -1;
  }
  for (const panel of document.querySelectorAll('[role="tabpanel"]')) panel.hidden = panel.id !== `tab-${name}`;
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  if (name === 'errors') void loadDlq();
  if (name === 'wedding') void loadWeddings();
  resizeCharts();
}

for (const btn of document.querySelectorAll('[role="tab"]')) {
  btn.addEventListener('click', () => showTab(btn.dataset.tab));
  btn.addEventListener('keydown', (e) => {
    const tabs = [...document.querySelectorAll('[role="tab"]')];
    const i = tabs.indexOf(btn);
    const next = e.key === 'ArrowRight' ? tabs[(i + 1) % tabs.length] : e.key === 'ArrowLeft' ? tabs[(i - 1 + tabs.length) % tabs.length] : null;
    if (next) {
      next.focus();
      showTab(next.dataset.tab);
    }
  });
}
window.addEventListener('hashchange', () => showTab(location.hash.slice(1)));
$('alert-chip').addEventListener('click', () => showTab('wedding'));

// ---------------------------------------------------------------------------------------------------------------------
// Charts (uPlot): one shared time axis per chart, the session's history in memory.

const charts = [];

const AXIS = { stroke: '#4a5566', grid: { stroke: '#edf0f4', width: 1 }, ticks: { stroke: '#e2e7ee', width: 1 }, font: '12px system-ui, sans-serif' };
/** Time ticks of whole seconds and up, labelled HH:MM:SS (HH:MM from a minute up). */
const TIME_AXIS = {
  ...AXIS,
  space: 70,
  incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400],
  values: (_u, vals, _axis, _space, incr) =>
    vals.map((v) => {
      const t = new Date(v * 1000).toLocaleTimeString('en-GB', { hour12: false });
      return incr >= 60 ? t.slice(0, 5) : t;
    }),
};
const valueAxis = (format) => ({ ...AXIS, size: 70, values: (_u, vals) => vals.map((v) => (v === 0 ? '0' : format(v))) });

/** A time-series chart in container `id` with `series` ({ label, color, format? }); values in `yFormat` on the axis. */
function chart(id, series, yFormat, scale = {}) {
  const el = $(id);
  const data = [[], ...series.map(() => [])];
  const opts = {
    width: Math.max(el.clientWidth, 300),
    height: CHART_HEIGHT,
    cursor: { drag: { x: false, y: false } },
    legend: { live: false },
    scales: { x: { time: true }, y: { range: (_u, min, max) => [scale.min ?? Math.min(0, min ?? 0), Math.max(scale.minMax ?? 1, (max ?? 1) * 1.1)], ...scale.y } },
    axes: [TIME_AXIS, valueAxis(yFormat)],
    series: [
      { value: (_u, v) => (v == null ? '—' : fmtTime(v * 1000)) },
      ...series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        spanGaps: true,
        // uPlot shows points only where data is sparse: a lone window with samples stays visible.
        points: { size: 5 },
        ...(s.fill ? { fill: s.fill } : {}),
        value: (_u, v) => (v == null ? '—' : (s.format ?? yFormat)(v)),
      })),
    ],
  };
  const u = new uPlot(opts, data, el);
  const c = { id, el, u, data };
  charts.push(c);
  new ResizeObserver(() => resizeChart(c)).observe(el);
  return c;
}

function resizeChart(c) {
  const w = Math.floor(c.el.clientWidth);
  if (w > 0 && Math.abs(w - c.u.width) > 1) c.u.setSize({ width: w, height: CHART_HEIGHT });
}
function resizeCharts() {
  for (const c of charts) resizeChart(c);
}

const fmtAxisMs = (v) => fmtMs(v);
const fmtAxisPct = (v) => `${nf2.format(v)} %`;
const fmtAxisNum = (v) => fmtRate(v);

const throughputChart = chart(
  'chart-throughput',
  [
    { label: 'completed / s', color: '#6d28d9', fill: 'rgba(109,40,217,0.08)' },
    { label: 'started / s', color: '#0ea5e9' },
    { label: 'steps / s', color: '#15803d' },
  ],
  fmtAxisNum,
);
const latencyChart = chart(
  'chart-latency',
  [
    { label: 'p50', color: '#15803d' },
    { label: 'p90', color: '#ea8a0c' },
    { label: 'p99', color: '#dc2626' },
  ],
  fmtAxisMs,
);
const successChart = chart(
  'chart-success',
  [
    { label: 'last window', color: '#2563eb' },
    { label: 'since start', color: '#6d28d9' },
  ],
  fmtAxisPct,
  { y: { range: (_u, min) => [Math.max(0, Math.min(90, Math.floor((min ?? 100) - 1))), 100.5] } },
);
const queueChart = chart(
  'chart-queue',
  TIERS.map((t) => ({ label: t, color: TIER_COLORS[t] })),
  fmtAxisNum,
);
const criticalChart = chart(
  'chart-critical',
  [
    { label: 'queued', color: '#dc2626' },
    { label: 'completed / s', color: '#6d28d9' },
  ],
  fmtAxisNum,
);

function pushPoint(c, t, values) {
  c.data[0].push(t);
  values.forEach((v, i) => c.data[i + 1].push(isNum(v) ? v : null));
  if (c.data[0].length > MAX_POINTS) for (const arr of c.data) arr.shift();
  c.u.setData(c.data);
}

// ---------------------------------------------------------------------------------------------------------------------
// Stats

const queueOf = (q) => (q ? q.pending + q.ackPending : 0);
const perSecond = (count, windowMs) => (windowMs > 0 ? count / (windowMs / 1000) : null);

function onStats(s) {
  if (state.stats && s.at <= state.stats.at) return; // a reconnect re-sends the latest
  const prev = state.stats;
  state.stats = s;
  state.lastStatsAt = Date.now();
  const t = Date.parse(s.at) / 1000;
  const w = s.windowMs;
  const lat = s.latency.step;
  pushPoint(throughputChart, t, [perSecond(s.totals.completed, w), perSecond(s.totals.started, w), perSecond(s.totals.stepsDone, w)]);
  pushPoint(latencyChart, t, [lat.p50, lat.p90, lat.p99]);
  const pct = (r) => (isNum(r) ? r * 100 : null);
  pushPoint(successChart, t, [pct(s.totals.successRate), pct(s.cumulative.totals.successRate)]);
  pushPoint(queueChart, t, TIERS.map((tier) => queueOf(s.queues[tier])));
  pushPoint(criticalChart, t, [queueOf(s.queues.critical), perSecond(s.byTier.critical.completed, w)]);
  for (const e of s.topErrors ?? []) state.sessionErrors.set(e.message, (state.sessionErrors.get(e.message) ?? 0) + e.count);

  renderHeader();
  renderOverview();
  renderWeddingStats();
  renderVendors();
  renderErrors();
  renderActions();
  // New dead letters: refresh the DLQ list (throttled), so the Errors tab stays current.
  const dead = s.cumulative.totals.deadLettered;
  if (prev && dead !== state.lastDeadLettered) scheduleDlq();
  state.lastDeadLettered = dead;
}

function renderHeader() {
  const s = state.stats;
  if (!s) return;
  setText('updated', `updated ${fmtTime(Date.parse(s.at))} · ${nf1.format(s.windowMs / 1000)} s window`);
  setText('instances', `${s.instances} instance${s.instances === 1 ? '' : 's'}`);
  const flags = [];
  if (s.flags.saturday) flags.push(h('span', { class: 'chip' }, 'Saturday'));
  if (s.flags.season) flags.push(h('span', { class: 'chip' }, 'wedding season'));
  const key = `${s.flags.saturday}${s.flags.season}`;
  const el = $('flags');
  if (el.dataset.key !== key) {
    el.dataset.key = key;
    el.replaceChildren(...flags);
  }
}

function renderOverview() {
  const s = state.stats;
  const c = s.cumulative;
  const lat = s.latency.step;
  setText('kpi-throughput', fmtRate(perSecond(s.totals.completed, s.windowMs)));
  setText('kpi-completed', fmtInt(c.totals.completed));
  setText('kpi-completed-sub', `of ${fmtInt(c.totals.started)} started · since ${fmtDateTime(Date.parse(c.since))}`);
  setText('kpi-p99', fmtMs(lat.p99));
  setText('kpi-latency-sub', `p50 ${fmtMs(lat.p50)} · p90 ${fmtMs(lat.p90)} · last window`);
  // The last window's rate, or the rate since start when the window finished no step.
  const target = state.config?.thresholds?.overallSuccess ?? 0.95;
  const rate = s.totals.successRate ?? c.totals.successRate;
  setText('kpi-success', fmtPct(rate));
  setText(
    'kpi-success-sub',
    isNum(s.totals.successRate) ? `last window · ${fmtPct(c.totals.successRate)} since start` : `since start (no step in the last window) · target ${fmtPct(target)}`,
  );
  $('kpi-success').parentElement.className = `kpi ${isNum(rate) ? (rate >= target ? 'good' : 'bad') : ''}`;
  setText('kpi-queue', fmtInt(TIERS.reduce((n, t) => n + queueOf(s.queues[t]), 0)));
  setText('kpi-dead', fmtInt(c.totals.deadLettered));
  $('kpi-dead').parentElement.className = `kpi ${c.totals.deadLettered > 0 ? 'bad' : ''}`;

  const rows = TIERS.map((tier) => {
    const g = s.byTier[tier];
    const cg = c.byTier[tier];
    return h(
      'tr',
      { 'data-tier': tier },
      h('td', {}, tierLabel(tier)),
      h('td', { class: 'num' }, fmtInt(queueOf(s.queues[tier]))),
      h('td', { class: 'num' }, fmtRate(perSecond(g.completed, s.windowMs))),
      h('td', { class: 'num' }, fmtInt(cg.completed)),
      h('td', { class: 'num' }, fmtMs(g.latency.step.p99)),
      h('td', { class: 'num' }, fmtPct(cg.successRate)),
    );
  });
  fillBody('tier-table', rows, '', 6);
}

// ---------------------------------------------------------------------------------------------------------------------
// Wedding focus

function renderWeddingStats() {
  const s = state.stats;
  if (!s) return;
  const c = s.cumulative;
  const target = state.config?.thresholds?.weddingDaySuccess ?? 0.999;
  const rate = s.weddingDay.successRate ?? c.weddingDay.successRate;
  setText('wd-success', fmtPct(rate));
  setText(
    'wd-success-sub',
    isNum(s.weddingDay.successRate)
      ? `last window · target ${fmtPct(target)} · ${fmtPct(c.weddingDay.successRate)} since start`
      : `since start · target ${fmtPct(target)}`,
  );
  $('wd-success').parentElement.className = `kpi ${isNum(rate) ? (rate >= target ? 'good' : 'bad') : ''}`;
  setText('crit-queue', fmtInt(queueOf(s.queues.critical)));
  setText('crit-completed', fmtInt(c.byTier.critical.completed));
  setText('crit-completed-sub', `since start · ${fmtRate(perSecond(s.byTier.critical.completed, s.windowMs))} / s now`);
  setText('crit-p99', fmtMs(s.byTier.critical.latency.step.p99));
  setText('crit-p99-sub', `last window · ${fmtMs(c.byTier.critical.latency.step.p99)} since start`);
}

function renderWeddings() {
  const w = state.weddings;
  if (!w) return;
  setText('wed-today', fmtInt(w.today.weddings));
  setText('wed-tomorrow', fmtInt(w.tomorrow.weddings));
  setText('wed-today-sub', `${w.today.zones.length} time zone${w.today.zones.length === 1 ? '' : 's'} · local dates`);
  setText('wed-tomorrow-sub', `${w.tomorrow.zones.length} time zone${w.tomorrow.zones.length === 1 ? '' : 's'}`);
  const rows = [
    ...w.today.zones.map((z) => ['Today', z]),
    ...w.tomorrow.zones.map((z) => ['Tomorrow', z]),
  ].map(([day, z]) =>
    h('tr', {}, h('td', {}, day), h('td', { class: 'mono' }, z.date), h('td', {}, z.timeZone), h('td', { class: 'num' }, fmtInt(z.weddings))),
  );
  fillBody('wed-table', rows, 'No weddings today or tomorrow.', 4);
}

let weddingsLoading = false;
async function loadWeddings() {
  if (weddingsLoading) return;
  weddingsLoading = true;
  try {
    const res = await fetch('/api/executions/today', { cache: 'no-store' });
    if (res.ok) {
      state.weddings = await res.json();
      renderWeddings();
    }
  } catch {
    // the connection indicator already says when the runtime is unreachable
  } finally {
    weddingsLoading = false;
  }
}

function onAlert(e) {
  const prev = state.alerts.get(e.id);
  if (prev && prev.at > e.at) return;
  state.alerts.set(e.id, e);
  renderAlerts();
}

function renderAlerts() {
  const open = [...state.alerts.values()]
    .filter((a) => a.type === 'raised')
    .sort((a, b) => (a.severity === b.severity ? b.at - a.at : a.severity === 'critical' ? -1 : 1));
  const list = $('alerts-list');
  if (open.length === 0) {
    list.replaceChildren(h('li', { class: 'none' }, 'No open alerts'));
  } else {
    list.replaceChildren(
      ...open.map((a) =>
        h(
          'li',
          { class: a.severity, 'data-alert': a.id },
          badge(a.severity, a.severity),
          h('span', { class: 'msg' }, a.message),
          h('span', { class: 'when' }, `${a.rule}${a.key ? ` · ${a.key}` : ''} · raised ${fmtDateTime(a.at)} (${ago(a.at)})`),
        ),
      ),
    );
  }
  const count = $('alert-count');
  count.hidden = open.length === 0;
  count.textContent = String(open.length);
  const chip = $('alert-chip');
  chip.hidden = open.length === 0;
  chip.className = `alert-chip ${open.some((a) => a.severity === 'critical') ? '' : 'warning'}`;
  chip.textContent = `${open.length} open alert${open.length === 1 ? '' : 's'}`;
}

// ---------------------------------------------------------------------------------------------------------------------
// Vendors

function limitFor(vendor) {
  const t = state.config?.thresholds;
  if (!t) return vendor === 'photographer' ? 25_000 : vendor === 'venue' ? 15_000 : vendor === 'caterer' ? 20_000 : vendor === 'florist' ? 18_000 : 30_000;
  return Object.prototype.hasOwnProperty.call(t.maxExecutionMsByVendor, vendor) ? t.maxExecutionMsByVendor[vendor] : t.maxExecutionMs;
}

function renderVendors() {
  const s = state.stats;
  const c = s.cumulative;
  const target = state.config?.thresholds?.overallSuccess ?? 0.95;
  const q = state.config?.thresholds?.executionTimeQuantile ?? 0.99;
  const vendors = [...new Set([...Object.keys(c.byVendor), ...Object.keys(s.byVendor)])].sort();
  const rows = vendors.map((v) => {
    const all = c.byVendor[v];
    const win = s.byVendor[v];
    const limit = limitFor(v);
    const p99 = all?.latency.step.p99;
    const p99w = win?.latency.step.p99;
    const rate = all?.successRate;
    const latencyOk = isNum(p99) ? p99 <= limit : null;
    const successOk = isNum(rate) ? rate >= target : null;
    return h(
      'tr',
      { 'data-vendor': v },
      h('td', {}, h('strong', {}, v)),
      h('td', { class: 'num' }, fmtMs(limit)),
      h('td', { class: `num ${latencyOk === false ? 'over' : ''}` }, fmtMs(p99)),
      h('td', { class: `num ${isNum(p99w) && p99w > limit ? 'over' : ''}` }, fmtMs(p99w)),
      h('td', { class: 'num' }, fmtInt(all?.stepsDone)),
      h('td', { class: 'num' }, fmtInt(all?.deadLettered)),
      h('td', { class: `num ${successOk === false ? 'over' : ''}` }, fmtPct(rate)),
      h('td', {}, latencyOk === null ? badge('none', 'no data') : latencyOk ? badge('pass', 'PASS') : badge('fail', 'FAIL')),
      h('td', {}, successOk === null ? badge('none', 'no data') : successOk ? badge('pass', 'PASS') : badge('fail', 'FAIL')),
    );
  });
  fillBody('vendor-table', rows, 'No vendor activity yet.', 9);
  setText(
    'vendors-hint',
    `Step latency p${nf1.format(q * 100)} against each vendor type's limit (others ${fmtMs(state.config?.thresholds?.maxExecutionMs ?? 30_000)}), ` +
      `and step success against ${fmtPct(target)}. Counted since the runtime instances started; the last-window column is what alerts judge.`,
  );
}

// ---------------------------------------------------------------------------------------------------------------------
// Actions (R13): attempts, success and latency per action since start, and its circuit now. Shown in Vendors and Errors.

const CIRCUIT_ORDER = { open: 0, 'half-open': 1, closed: 2 };
const CIRCUIT_BADGE = { open: 'fail', 'half-open': 'warning', closed: 'pass' };

function actionRows() {
  const s = state.stats;
  const all = s.cumulative.byAction ?? {};
  const win = s.byAction ?? {};
  const circuits = s.circuits ?? {};
  const own = (rec, k) => (Object.prototype.hasOwnProperty.call(rec, k) ? rec[k] : undefined);
  const circuitOf = (a) => own(circuits, a)?.state ?? 'closed';
  // Open circuits first: they are what this table is looked at for.
  const actions = [...new Set([...Object.keys(all), ...Object.keys(win), ...Object.keys(circuits)])].sort(
    (a, b) => CIRCUIT_ORDER[circuitOf(a)] - CIRCUIT_ORDER[circuitOf(b)] || a.localeCompare(b),
  );
  return actions.map((action) => {
    const a = own(all, action) ?? own(win, action);
    const circuit = circuitOf(action);
    const rate = a?.successRate;
    const target = state.config?.thresholds?.overallSuccess ?? 0.95;
    return h(
      'tr',
      { 'data-action': action, 'data-circuit': circuit, class: circuit === 'closed' ? '' : `circuit-${circuit}` },
      h('td', { class: 'mono' }, action),
      h('td', { class: 'num' }, fmtInt(a?.attempts ?? 0)),
      h('td', { class: 'num' }, fmtInt(a?.held ?? 0)),
      h('td', { class: `num ${isNum(rate) && rate < target ? 'over' : ''}` }, fmtPct(rate)),
      h('td', { class: 'num' }, fmtMs(a?.latency?.p50)),
      h('td', { class: 'num' }, fmtMs(a?.latency?.p99)),
      h('td', {}, badge(CIRCUIT_BADGE[circuit] ?? 'none', circuit)),
    );
  });
}

function renderActions() {
  // Two tables, one per tab: each gets its own rows (a node lives in one place).
  for (const table of ['vendor-actions-table', 'error-actions-table']) fillBody(table, actionRows(), 'No action attempted yet.', 7);
}

// ---------------------------------------------------------------------------------------------------------------------
// Errors and the dead-letter queue

function renderErrors() {
  const s = state.stats;
  const windowCounts = new Map((s?.topErrors ?? []).map((e) => [e.message, e.count]));
  const rows = [...state.sessionErrors.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20)
    .map(([message, total]) =>
      h('tr', {}, h('td', { class: 'error' }, message), h('td', { class: 'num' }, fmtInt(windowCounts.get(message) ?? 0)), h('td', { class: 'num' }, fmtInt(total))),
    );
  fillBody('errors-table', rows, 'No errors since the page opened.', 3);
}

function renderDlq() {
  const entries = (state.dlq ?? []).filter((e) => !state.replayed.has(e.seq));
  const count = $('dlq-count');
  count.hidden = entries.length === 0;
  count.textContent = String(entries.length);
  setText('dlq-summary', state.dlq === null ? '' : `· ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}`);
  const rows = entries.map((e) =>
    h(
      'tr',
      { 'data-seq': e.seq, 'data-execution': e.executionId },
      h('td', { class: 'num' }, String(e.seq)),
      h('td', { class: 'num' }, fmtDateTime(e.at)),
      h('td', {}, e.journeyId ? `${e.journeyId} · ${e.stepId}` : '—', e.action ? h('div', { class: 'muted mono' }, e.action) : null),
      h('td', { class: 'mono' }, e.executionId, h('div', { class: 'muted' }, e.supplierId)),
      h('td', {}, tierLabel(e.tier)),
      h('td', { class: 'num' }, String(e.attempts)),
      h('td', { class: 'error' }, e.error),
      h('td', {}, replayButton(e)),
    ),
  );
  fillBody('dlq-table', rows, state.dlq === null ? 'Loading…' : 'The dead-letter queue is empty.', 8);
}

let dlqLoading = null;
async function loadDlq() {
  if (dlqLoading) return dlqLoading;
  dlqLoading = (async () => {
    try {
      const res = await fetch('/api/dlq', { cache: 'no-store' });
      const body = await res.json();
      if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
      state.dlq = body.entries;
      // Forget replayed sequences the server no longer lists.
      for (const seq of state.replayed) if (!state.dlq.some((e) => e.seq === seq)) state.replayed.delete(seq);
      renderDlq();
    } catch (err) {
      showDlqMessage(`Could not load the dead-letter queue: ${err.message}`, true);
    } finally {
      dlqLoading = null;
    }
  })();
  return dlqLoading;
}
let dlqTimer = 0;
function scheduleDlq() {
  if (dlqTimer) return;
  dlqTimer = setTimeout(() => {
    dlqTimer = 0;
    void loadDlq();
  }, 1_000);
}

function showDlqMessage(text, error = false) {
  const el = $('dlq-message');
  el.textContent = text;
  el.className = `notice ${error ? 'error' : ''}`;
  el.hidden = false;
}

/** Replay needs the operator token where the runtime asks for one, and is off where it allows no changes. */
const changes = () => state.config?.changes ?? 'open';
function replayButton(entry) {
  const off = changes() === 'off';
  return h(
    'button',
    { class: 'btn replay', type: 'button', 'data-seq': entry.seq, onclick: () => askReplay(entry), ...(off ? { disabled: '', title: 'Changes are off on this dashboard: the runtime needs JRN_HTTP_TOKEN' } : {}) },
    'Replay',
  );
}

let pendingReplay = null;
function askReplay(entry) {
  pendingReplay = entry;
  const needsToken = changes() === 'token';
  $('replay-token-field').hidden = !needsToken;
  if (needsToken) $('replay-token').value = sessionStorage.getItem('jrn-token') ?? '';
  $('replay-text').textContent =
    `Execution ${entry.executionId} (${entry.journeyId || 'unknown journey'} · ${entry.stepId || 'unknown step'}) resumes at its failed step ` +
    `with fresh attempts, and entry #${entry.seq} leaves the queue.`;
  $('replay-error').hidden = true;
  $('replay-confirm').disabled = false;
  $('replay-dialog').showModal();
}
$('replay-cancel').addEventListener('click', () => {
  pendingReplay = null;
  $('replay-dialog').close();
});
$('replay-confirm').addEventListener('click', () => void confirmReplay());
async function confirmReplay() {
  const entry = pendingReplay;
  if (!entry) return;
  $('replay-confirm').disabled = true;
  try {
    const headers = { 'content-type': 'application/json' };
    const token = changes() === 'token' ? $('replay-token').value.trim() : '';
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch('/api/dlq/replay', { method: 'POST', headers, body: JSON.stringify({ seq: entry.seq }) });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
    if (token) sessionStorage.setItem('jrn-token', token); // for this tab only, and only once it worked
    pendingReplay = null;
    $('replay-dialog').close();
    state.replayed.add(entry.seq);
    renderDlq();
    showDlqMessage(`Replayed #${entry.seq}: ${entry.executionId} resumes at ${entry.stepId || 'its failed step'}.`);
    scheduleDlq();
  } catch (err) {
    const el = $('replay-error');
    el.textContent = `Replay failed: ${err.message}`;
    el.hidden = false;
    $('replay-confirm').disabled = false;
  }
}
$('dlq-refresh').addEventListener('click', () => void loadDlq());

// ---------------------------------------------------------------------------------------------------------------------
// Supervisor

function onDecision(d) {
  if (state.decisions.some((x) => x.instance === d.instance && x.seq === d.seq)) return;
  state.decisions.push(d);
  state.decisions.sort((a, b) => a.at - b.at);
  if (state.decisions.length > 50) state.decisions.shift();
  renderSupervisor();
}

const allocText = (a) => (a ? `${TIERS.map((t) => `${t[0].toUpperCase()}${a.concurrency[t]}`).join(' ')} · ${a.replicas} repl.` : 'start');

function renderSupervisor() {
  const latest = state.decisions.at(-1);
  if (!latest) return;
  for (const t of TIERS) setText(`sup-${t}`, fmtInt(latest.to.concurrency[t]));
  setText('sup-replicas', fmtInt(latest.to.replicas));
  setText('sup-replicas-sub', `cluster-wide · decided ${fmtDateTime(latest.at)} by ${latest.instance}`);
  setText('sup-reason', latest.reason);
  const f = latest.inputs?.factors;
  const chips = [];
  if (f) {
    chips.push(h('span', { class: 'chip' }, `season ×${f.season}`), h('span', { class: 'chip' }, `Saturday ×${f.saturday}`));
    chips.push(h('span', { class: 'chip' }, `calendar ×${nf2.format(f.calendar)}`), h('span', { class: 'chip' }, `latency ×${nf2.format(f.latency)}`));
    for (const t of TIERS) if (f.lag?.[t] && f.lag[t] !== 1) chips.push(h('span', { class: 'chip' }, `${t} backlog ×${nf2.format(f.lag[t])}`));
  }
  if (latest.inputs) chips.push(h('span', { class: 'chip' }, `${latest.inputs.instances} live instance${latest.inputs.instances === 1 ? '' : 's'}`));
  $('sup-factors').replaceChildren(...chips);
  const rows = [...state.decisions].reverse().map((d) =>
    h(
      'tr',
      { 'data-decision': `${d.instance}:${d.seq}` },
      h('td', { class: 'num' }, fmtDateTime(d.at)),
      h('td', { class: 'mono' }, d.instance),
      h('td', {}, d.kind + (d.by ? ` (${d.by})` : '')),
      h('td', { class: 'mono' }, `${allocText(d.from)} → ${allocText(d.to)}`),
      h('td', { class: 'reason' }, d.reason),
    ),
  );
  fillBody('decisions-table', rows, 'No scaling decision yet.', 5);
  // Every instance decides for its own process: with several, show each one's allocation in force.
  const byInstance = new Map();
  for (const d of state.decisions) byInstance.set(d.instance, d);
  $('sup-instances-card').hidden = byInstance.size < 2;
  fillBody(
    'sup-instances',
    [...byInstance.values()].map((d) =>
      h(
        'tr',
        {},
        h('td', { class: 'mono' }, d.instance),
        ...TIERS.map((t) => h('td', { class: 'num' }, fmtInt(d.to.concurrency[t]))),
        h('td', { class: 'num' }, fmtInt(d.to.replicas)),
        h('td', { class: 'num' }, fmtDateTime(d.at)),
      ),
    ),
    '',
    7,
  );
}

// ---------------------------------------------------------------------------------------------------------------------
// Live feed

function setConn(s, text) {
  $('conn').dataset.state = s;
  setText('conn-text', text);
}

function connect() {
  const es = new EventSource('/events');
  const on = (name, f) =>
    es.addEventListener(name, (ev) => {
      try {
        f(JSON.parse(ev.data));
      } catch (err) {
        console.warn(`bad ${name} event`, err);
      }
    });
  es.addEventListener('open', () => setConn('live', 'live'));
  es.addEventListener('error', () => setConn(es.readyState === EventSource.CLOSED ? 'down' : 'connecting', 'reconnecting…'));
  on('config', (c) => {
    state.config = c;
    // Each connection starts with config, then the open alerts: rebuild the alert list from them.
    state.alerts.clear();
    renderAlerts();
    renderDlq(); // the replay buttons follow what the runtime allows
    setText('prefix', `${c.prefix} · live dashboard`);
  });
  on('stats', onStats);
  on('alert', onAlert);
  on('decision', onDecision);
}

// Stale data is worse than none: say so when stats stop arriving.
setInterval(() => {
  if (!state.stats) return;
  const windowMs = state.stats.windowMs || 5_000;
  const silent = Date.now() - state.lastStatsAt;
  if ($('conn').dataset.state === 'live' && silent > 3 * windowMs + 5_000) setConn('stale', `no stats for ${Math.round(silent / 1000)} s`);
  else if ($('conn').dataset.state === 'stale' && silent <= 3 * windowMs + 5_000) setConn('live', 'live');
}, 2_000);
setInterval(() => void loadWeddings(), 10_000);
setInterval(() => {
  if (state.tab === 'errors') void loadDlq();
}, 10_000);

renderAlerts();
renderDlq();
showTab(location.hash.slice(1) || 'overview');
connect();
void loadWeddings();
void loadDlq();
