import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { PREVIEW_LIMIT, previewTimeline, type PreviewEntry } from '../actors/preview.ts';
import type { JourneyDefinition } from '../schemas/journey-definition.ts';
import { validateJourneyConfiguration } from '../schemas/validate.ts';
import { everyStepKind } from './fixtures.ts';

const example = (name: string): JourneyDefinition => {
  const r = validateJourneyConfiguration(
    JSON.parse(readFileSync(new URL(`../schemas/examples/${name}.json`, import.meta.url), 'utf8')),
  );
  if (!r.ok) throw new Error(`${name}: ${JSON.stringify(r.errors)}`);
  return r.definition;
};
const ms = (iso: string): number => Date.parse(iso);
const iso = (e: PreviewEntry | undefined): string | null => (e?.at == null ? null : new Date(e.at).toISOString());
const steps = (entries: PreviewEntry[]): string[] => entries.map((e) => e.stepId);

describe('preview - timeline of a definition', () => {
  const photographer = example('photographer-classic');

  it('preview - follows the journey to its end with wall-clock times in the wedding zone', () => {
    const t = previewTimeline(photographer, {
      now: ms('2027-01-10T12:00:00Z'),
      weddingDate: '2027-06-12',
      timeZone: 'Europe/London',
    });
    expect(steps(t)).toEqual([
      'welcome',
      'sixWeeksBefore',
      'questionnaire',
      'awaitQuestionnaire',
      'questionnaireReminder',
      'dayAfter',
      'thankYou',
      'twoWeeksLater',
      'reviewRequest',
      'done',
    ]);
    expect(t.map(iso)).toEqual([
      '2027-01-10T12:00:00.000Z',
      // six weeks before 12 June at 09:00 BST
      '2027-05-01T08:00:00.000Z',
      '2027-05-01T08:00:00.000Z',
      '2027-05-08T08:00:00.000Z',
      '2027-05-08T08:00:00.000Z',
      '2027-06-13T09:00:00.000Z',
      '2027-06-13T09:00:00.000Z',
      '2027-06-27T09:00:00.000Z',
      '2027-06-27T09:00:00.000Z',
      '2027-06-27T09:00:00.000Z',
    ]);
    expect(t[3]!.note).toMatch(/^if no event/);
    expect(t[3]!.note).toContain('form.submitted');
    expect(t[3]!.note).toContain('dayAfter'); // the outcome not followed is still shown
    expect(t.at(-1)!.type).toBe('end');
  });

  it('preview - holds an action back to the end of quiet hours', () => {
    const t = previewTimeline(photographer, {
      now: ms('2027-01-10T22:30:00Z'),
      weddingDate: '2027-06-12',
      timeZone: 'Europe/London',
    });
    expect(iso(t[0])).toBe('2027-01-11T08:00:00.000Z');
    expect(t[0]!.note).toContain('quiet hours');
  });

  it('preview - applies ifPast: skip to a passed waitUntil, and treats a missing wedding date as passed', () => {
    const late = previewTimeline(photographer, {
      now: ms('2027-05-20T12:00:00Z'),
      weddingDate: '2027-06-12',
      timeZone: 'Europe/London',
    });
    expect(steps(late).slice(0, 3)).toEqual(['welcome', 'sixWeeksBefore', 'dayAfter']);
    expect(late[1]!.note).toContain('skip');
    expect(iso(late[1])).toBe('2027-05-20T12:00:00.000Z');

    const unknown = previewTimeline(photographer, { now: ms('2027-01-10T12:00:00Z'), timeZone: 'Europe/London' });
    expect(unknown[1]!.note).toContain('no weddingDate');
    // dayAfter has no ifPast: it runs at once.
    expect(steps(unknown)).toEqual([
      'welcome',
      'sixWeeksBefore',
      'dayAfter',
      'thankYou',
      'twoWeeksLater',
      'reviewRequest',
      'done',
    ]);
    expect(unknown[2]!.note).toContain('ifPast: run');
  });

  it('preview - a skip without skipTo goes past the step after the wait (skipTargetOf)', () => {
    const def = structuredClone(photographer);
    const wait = def.steps['sixWeeksBefore'];
    if (wait?.type !== 'waitUntil') throw new Error('fixture');
    delete wait.skipTo;
    const t = previewTimeline(def, {
      now: ms('2027-05-20T12:00:00Z'),
      weddingDate: '2027-06-12',
      timeZone: 'Europe/London',
    });
    expect(steps(t).slice(0, 3)).toEqual(['welcome', 'sixWeeksBefore', 'awaitQuestionnaire']);
  });

  it('preview - branch follows default and lists the cases; split follows the first variant and lists the others', () => {
    const caterer = previewTimeline(example('caterer-menu-tasting'), {
      now: ms('2027-01-10T12:00:00Z'),
      weddingDate: '2027-09-04',
      timeZone: 'Europe/London',
    });
    const branch = caterer.find((e) => e.type === 'branch')!;
    expect(branch.note).toContain('default → smallTasting');
    expect(branch.note).toContain('data.guestCount >= 150 → largeTasting');
    expect(steps(caterer)).toContain('smallTasting');
    expect(steps(caterer)).not.toContain('largeTasting');

    const florist = previewTimeline(example('florist-approval'), {
      now: ms('2027-01-10T12:00:00Z'),
      weddingDate: '2027-09-04',
      timeZone: 'Europe/London',
    });
    const split = florist.find((e) => e.type === 'split')!;
    expect(split.note).toContain('moodboard-email (50%)');
    expect(split.note).toContain('consult-sms (50%) → consultSms');
    expect(steps(florist)).toContain('moodboardEmail');
    expect(steps(florist)).not.toContain('consultSms');
    expect(florist.find((e) => e.stepId === 'sendProposal')!.note).toContain('approval');
  });

  it('preview - data anchors are unknown until a later absolute wait; bookedAt anchors resolve', () => {
    const def: JourneyDefinition = {
      id: 'anchors',
      version: 1,
      name: 'Anchors',
      vendorType: 'other',
      trigger: { event: 'booking.created' },
      start: 'tasting',
      steps: {
        tasting: { type: 'waitUntil', anchor: 'data.tastingDate', offset: '-P1D', next: 'remind' },
        remind: { type: 'action', action: 'sms.send', next: 'pause' },
        pause: { type: 'wait', duration: 'P1D', next: 'anniversary' },
        anniversary: { type: 'waitUntil', anchor: 'bookedAt', offset: 'P1Y', next: 'done' },
        done: { type: 'end' },
      },
    };
    const t = previewTimeline(def, { now: ms('2027-01-10T12:00:00Z'), bookedAt: '2027-01-10T12:00:00Z' });
    expect(t.map((e) => e.at === null)).toEqual([true, true, true, false, false]);
    expect(t[0]!.note).toContain('depends on data');
    expect(iso(t[3])).toBe('2028-01-10T12:00:00.000Z');
  });

  it('preview - stops after the limit on a journey that loops, and never reads the clock', () => {
    const def: JourneyDefinition = {
      id: 'loop',
      version: 1,
      name: 'Loop',
      vendorType: 'other',
      trigger: { event: 'booking.created' },
      start: 'nudge',
      steps: {
        nudge: { type: 'action', action: 'email.send', quietHours: false, next: 'later' },
        later: { type: 'wait', duration: 'P1D', next: 'nudge' },
      },
      quietHours: { start: '21:00', end: '08:00' },
    };
    const input = { now: ms('2027-01-10T23:00:00Z'), timeZone: 'UTC' };
    const t = previewTimeline(def, input);
    expect(t).toHaveLength(PREVIEW_LIMIT);
    expect(iso(t[0])).toBe('2027-01-10T23:00:00.000Z'); // quietHours: false on the step
    // The same input under clocks years before and after every date in it (the wedding's ifPast, the quiet hours), so a
    // read of the clock anywhere would change a time or a skip.
    const late = { now: ms('2027-05-20T22:30:00Z'), weddingDate: '2027-06-12', timeZone: 'Europe/London' };
    const at = (clock: string) => {
      vi.useFakeTimers({ toFake: ['Date'], now: ms(clock) });
      try {
        return { loop: previewTimeline(def, input), photographer: previewTimeline(photographer, late) };
      } finally {
        vi.useRealTimers();
      }
    };
    const before = at('2001-03-04T05:06:07Z');
    expect(before.loop).toEqual(t);
    expect(steps(before.photographer).slice(0, 3)).toEqual(['welcome', 'sixWeeksBefore', 'dayAfter']); // ifPast: skip
    expect(at('2049-10-11T12:13:14Z')).toEqual(before);
  });

  it('preview - the shared every-step fixture reaches its end', () => {
    const t = previewTimeline(everyStepKind as unknown as JourneyDefinition, {
      now: ms('2027-01-10T12:00:00Z'),
      weddingDate: '2027-06-12',
      timeZone: 'Europe/London',
    });
    expect(t.at(-1)!.stepId).toBe('done');
    expect(steps(t)).toContain('questionnaire');
  });
});
