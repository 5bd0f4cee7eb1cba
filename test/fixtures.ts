/** Shared journey definitions for tests. */
import { addDaysToDate, localDate } from '../actors/time.ts';
export const everyStepKind = {
  id: 'every-step',
  version: 1,
  name: 'Uses every step kind',
  vendorType: 'photographer',
  trigger: { event: 'booking.created' },
  exitEvents: ['booking.cancelled'],
  start: 'welcome',
  steps: {
    welcome: { type: 'action', action: 'email.send', params: { template: 'welcome' }, next: 'cohort' },
    cohort: {
      type: 'split',
      variants: [
        { name: 'A', weight: 50, next: 'sixWeeks' },
        { name: 'B', weight: 50, next: 'sixWeeks' },
      ],
    },
    sixWeeks: { type: 'waitUntil', anchor: 'weddingDate', offset: '-P42D', at: '09:00', ifPast: 'skip', skipTo: 'dayAfter', next: 'questionnaire' },
    questionnaire: { type: 'action', action: 'email.send', params: { template: 'questionnaire' }, next: 'awaitForm' },
    awaitForm: { type: 'waitForEvent', event: 'form.submitted', timeout: 'P7D', onEvent: 'size', onTimeout: 'remind' },
    remind: { type: 'action', action: 'email.send', params: { template: 'reminder' }, next: 'size' },
    size: { type: 'branch', cases: [{ when: 'data.guestCount > 100', next: 'bigWedding' }], default: 'dayAfter' },
    bigWedding: { type: 'action', action: 'task.create', params: { title: 'second shooter' }, next: 'dayAfter' },
    dayAfter: { type: 'waitUntil', anchor: 'weddingDate', offset: 'P1D', at: '10:00', next: 'thanks' },
    thanks: { type: 'action', action: 'email.send', params: { template: 'thanks' }, next: 'pause' },
    pause: { type: 'wait', duration: 'P14D', next: 'review' },
    review: { type: 'action', action: 'email.send', params: { template: 'review' }, next: 'done' },
    done: { type: 'end' },
  },
} as const;

/** One action, then the end: for throughput, crash and priority tests. */
export const oneStep = {
  id: 'one-step',
  version: 1,
  name: 'One action',
  vendorType: 'venue',
  trigger: { event: 'booking.created' },
  start: 'send',
  steps: {
    send: { type: 'action', action: 'email.send', params: { template: 'hello' }, next: 'done' },
    done: { type: 'end' },
  },
} as const;

/**
 * A wedding date `days` from now in `timeZone`'s local calendar, read when called (never once per file), so a test that
 * runs on the real clock gets the same tier whatever the day, and a run across midnight does not change it.
 */
export function weddingInDays(days: number, timeZone = 'UTC'): string {
  return addDaysToDate(localDate(Date.now(), timeZone), days);
}
