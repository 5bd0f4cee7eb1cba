/**
 * Timeline preview of a journey definition (R5): when each step would run for one booking, without running anything.
 *
 * Pure: no I/O and no clock. The start instant, the wedding date and the booking instant are passed in. The walk follows
 * the path an execution takes when nothing else happens: actions are held back by quiet hours, waits and `waitUntil`
 * steps move time forward (`ifPast` applied), a `waitForEvent` is assumed to time out, a `branch` takes its `default`
 * and a `split` its first variant; the paths not taken are named in the entry's note.
 */
import type { JourneyDefinition, Step, StepType, WaitUntilStep } from '../schemas/journey-definition.ts';
import { skipTargetOf } from './journey-execution.ts';
import { addDuration, parseDuration } from './duration.ts';
import { localDate, nextAllowedTime, resolveWaitUntil } from './time.ts';

/** Longest timeline produced; a journey that loops (through a wait) stops here. */
export const PREVIEW_LIMIT = 200;

export interface PreviewInput {
  /** Instant the execution starts (epoch ms), usually the booking instant. */
  now: number;
  /** Local wedding date `YYYY-MM-DD`; without it, wedding-anchored waits count as passed (as the runtime does). */
  weddingDate?: string;
  /** Booking instant, ISO-8601 with `Z` or an offset. */
  bookedAt?: string;
  /** IANA zone; defaults to the definition's `timeZone`, then UTC. */
  timeZone?: string;
}

export interface PreviewEntry {
  stepId: string;
  type: StepType;
  /** When the step takes effect (the action runs, the wait ends), epoch ms; null when it depends on unknown data. */
  at: number | null;
  note: string;
}

/** Walks `def` from `start` and returns at most {@link PREVIEW_LIMIT} entries, ending with the `end` step when reached. */
export function previewTimeline(def: JourneyDefinition, input: PreviewInput): PreviewEntry[] {
  const tz = input.timeZone ?? def.timeZone ?? 'UTC';
  const out: PreviewEntry[] = [];
  let t: number | null = input.now;
  let id: string | undefined = def.start;
  while (id !== undefined && out.length < PREVIEW_LIMIT) {
    const step: Step | undefined = def.steps[id];
    if (step === undefined) break; // a validated definition has no dangling references
    const push = (at: number | null, note: string): void => {
      out.push({ stepId: id as string, type: step.type, at, note });
    };
    switch (step.type) {
      case 'action': {
        const quiet = step.quietHours !== false ? def.quietHours : undefined;
        const at: number | null = t === null ? null : Math.max(t, nextAllowedTime(t, quiet, tz));
        const parts = [describeAction(step.action, step.params)];
        if (step.approval) parts.push('after vendor approval');
        if (t !== null && at !== null && at > t) parts.push(`held for quiet hours (${quiet?.start}-${quiet?.end})`);
        push(at, parts.join('; '));
        t = at;
        id = step.next;
        break;
      }
      case 'wait': {
        const d = parseDuration(step.duration);
        t = t === null || d === undefined ? null : addDuration(t, d, tz);
        push(t, `wait ${step.duration}`);
        id = step.next;
        break;
      }
      case 'waitUntil': {
        const r = waitUntil(def, step, input, tz, t);
        push(r.at, r.note);
        t = r.at;
        id = r.next;
        break;
      }
      case 'waitForEvent': {
        const d = parseDuration(step.timeout);
        t = t === null || d === undefined ? null : addDuration(t, d, tz);
        push(
          t,
          `if no event: ${step.event} not received within ${step.timeout} → ${step.onTimeout} (on ${step.event} → ${step.onEvent})`,
        );
        id = step.onTimeout;
        break;
      }
      case 'branch': {
        const alternatives = step.cases.map((c) => `when ${c.when} → ${c.next}`).join('; ');
        push(t, `default → ${step.default} (alternatives: ${alternatives})`);
        id = step.default;
        break;
      }
      case 'split': {
        const total = step.variants.reduce((sum, v) => sum + v.weight, 0);
        const share = (w: number): string => `${Math.round((100 * w) / total)}%`;
        const [first, ...others] = step.variants;
        if (first === undefined) break;
        const rest = others.map((v) => `${v.name} (${share(v.weight)}) → ${v.next}`).join('; ');
        push(t, `variant ${first.name} (${share(first.weight)}) → ${first.next} (others: ${rest})`);
        id = first.next;
        break;
      }
      case 'end':
        push(t, 'journey ends');
        id = undefined;
        break;
    }
  }
  return out;
}

function describeAction(action: string, params: Record<string, unknown> | undefined): string {
  const label = params?.['template'] ?? params?.['title'] ?? params?.['name'];
  return typeof label === 'string' ? `${action} (${label})` : action;
}

/** The due time of a `waitUntil`, with `ifPast` applied at time `t`. */
function waitUntil(
  def: JourneyDefinition,
  step: WaitUntilStep,
  input: PreviewInput,
  tz: string,
  t: number | null,
): { at: number | null; note: string; next: string | undefined } {
  const what = `${step.anchor}${step.offset ? ` ${step.offset}` : ''}${step.at ? ` at ${step.at}` : ''}`;
  if (step.anchor.startsWith('data.')) {
    return { at: null, note: `until ${what}: depends on data (${step.anchor})`, next: step.next };
  }
  const anchor =
    step.anchor === 'weddingDate' ? input.weddingDate : step.anchor === 'bookedAt' ? input.bookedAt : step.anchor;
  const offset = step.offset === undefined ? undefined : parseDuration(step.offset);
  let due: number | undefined;
  if (anchor !== undefined) {
    try {
      due = resolveWaitUntil({ anchor, ...(offset ? { offset } : {}), ...(step.at ? { at: step.at } : {}) }, tz);
    } catch {
      due = undefined; // an unparsable booking instant: treated like a missing anchor, as the runtime would fail to
    }
  }
  // No anchor: the runtime treats the moment as passed.
  const past = due === undefined || (t !== null && due <= t);
  if (!past) return { at: due ?? null, note: `until ${what}`, next: step.next };
  const why = due === undefined ? `no ${step.anchor}: counts as passed` : `${what} (${localDate(due, tz)}) has passed`;
  if ((step.ifPast ?? 'run') === 'skip') {
    const target = skipTargetOf(def, step);
    return { at: t, note: `${why}: skipped (ifPast: skip) → ${target ?? 'nowhere'}`, next: target };
  }
  return { at: t, note: `${why}: continues at once (ifPast: run)`, next: step.next };
}
