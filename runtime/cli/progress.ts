/** A progress bar with rate and ETA for long CLI operations (bulk start, DLQ replay of many). */

const WIDTH = 24;

/** `[#########---------------] 1200/5000 24 % · 850/s · ETA 4 s` */
export function progressBar(done: number, total: number, elapsedMs: number): string {
  const fraction = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(fraction * WIDTH);
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  const eta = rate > 0 ? Math.ceil((total - done) / rate) : undefined;
  return (
    `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${done}/${total} ${Math.floor(fraction * 100)} % · ` +
    `${rate >= 10 ? Math.round(rate) : rate.toFixed(1)}/s · ETA ${eta === undefined ? '?' : formatSeconds(eta)}`
  );
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Reports progress at most every `everyMs` (and always at the end), so a fast loop does not flood stderr. */
export function throttledProgress(report: (text: string, last: boolean) => void, total: number, everyMs = 200) {
  const started = Date.now();
  let shown = 0;
  return (done: number): void => {
    const now = Date.now();
    const last = done >= total;
    if (!last && now - shown < everyMs) return;
    shown = now;
    report(progressBar(done, total, now - started), last);
  };
}
