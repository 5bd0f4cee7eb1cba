import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_SCHEMAS, renderSchema } from '../schemas/generate.ts';
import type { JourneyDefinition } from '../schemas/journey-definition.ts';
import {
  DefinitionInvalidError,
  validateJourneyConfiguration,
  ValidationCodes,
  type ValidationIssue,
  type ValidationResult,
} from '../schemas/validate.ts';

/** Uses every step kind and every optional field at least once. */
const VALID = {
  id: 'photographer-classic',
  version: 1,
  name: 'Classic photographer journey',
  vendorType: 'photographer',
  trigger: { event: 'booking.created' },
  timeZone: 'Europe/London',
  quietHours: { start: '21:00', end: '08:00' },
  exitEvents: ['booking.cancelled'],
  start: 'welcome',
  steps: {
    welcome: {
      type: 'action',
      action: 'email.send',
      params: { template: 'welcome', nested: { ok: [1, 2] } },
      next: 'sixWeeks',
      timeout: 'PT30S',
      retry: { attempts: 5, backoff: 'PT10S', factor: 2 },
      approval: false,
      quietHours: true,
    },
    // No skipTo: a skip goes to the `next` of `sendForm`, i.e. `q`.
    sixWeeks: {
      type: 'waitUntil',
      anchor: 'weddingDate',
      offset: '-P42D',
      at: '09:00',
      ifPast: 'skip',
      next: 'sendForm',
    },
    sendForm: { type: 'action', action: 'form.send', next: 'q' },
    q: { type: 'waitForEvent', event: 'form.submitted', timeout: 'P7D', onEvent: 'b', onTimeout: 'remind' },
    remind: { type: 'action', action: 'email.send', params: { template: 'remind' }, next: 'pause' },
    // A loop back through a wait is fine.
    pause: { type: 'wait', duration: 'P3D', next: 'q' },
    b: {
      type: 'branch',
      cases: [{ when: "data.guestCount > 100 && data.package == 'gold'", next: 'big' }],
      default: 'small',
    },
    big: {
      type: 'split',
      variants: [
        { name: 'A', weight: 50, next: 'thanks-a' },
        { name: 'B', weight: 50, next: 'thanks-b' },
      ],
    },
    small: { type: 'action', action: 'email.send', next: 'anniversary' },
    anniversary: {
      type: 'waitUntil',
      anchor: '2027-06-12T10:00:00+01:00',
      ifPast: 'skip',
      skipTo: 'done',
      next: 'thanks-a',
    },
    'thanks-a': { type: 'action', action: 'email.send', next: 'done' },
    'thanks-b': { type: 'waitUntil', anchor: 'data.galleryReadyOn', next: 'done' },
    done: { type: 'end' },
  },
};

type Doc = Record<string, unknown> & { steps: Record<string, Record<string, unknown>> };

/** A deep copy of the valid document, changed by `change`. */
function variant(change: (doc: Doc) => void): Doc {
  const doc = structuredClone(VALID) as unknown as Doc;
  change(doc);
  return doc;
}

function errorsOf(result: ValidationResult): ValidationIssue[] {
  if (result.ok) throw new Error('expected the document to be invalid');
  return result.errors;
}

/** The single error of `doc`, which must have exactly one. */
function onlyError(doc: unknown, options?: { knownActions?: readonly string[] }): ValidationIssue {
  const errors = errorsOf(validateJourneyConfiguration(doc, options));
  expect(errors, JSON.stringify(errors, null, 2)).toHaveLength(1);
  return errors[0] as ValidationIssue;
}

describe('validateJourneyConfiguration: valid documents', () => {
  it('accepts a definition using every step kind', () => {
    const result = validateJourneyConfiguration(VALID, { knownActions: ['email.send', 'form.send'] });
    expect(result).toEqual({ ok: true, definition: VALID, warnings: [] });
    if (result.ok) {
      // The result is typed: narrowing on `type` works.
      const step = result.definition.steps['welcome'];
      expect(step?.type === 'action' ? step.retry?.attempts : undefined).toBe(5);
    }
  });

  it('accepts a minimal definition', () => {
    const minimal: JourneyDefinition = {
      id: 'x',
      version: 1,
      name: 'Minimal',
      vendorType: 'other',
      trigger: { event: 'booking.created' },
      start: 'done',
      steps: { done: { type: 'end' } },
    };
    expect(validateJourneyConfiguration(minimal).ok).toBe(true);
  });

  it('accepts a negative waitUntil offset', () => {
    expect(validateJourneyConfiguration(variant((d) => (d.steps['sixWeeks']!['offset'] = '-P1Y2M'))).ok).toBe(true);
  });

  it('accepts a retry override with only some fields (the rest stay the tier default)', () => {
    expect(validateJourneyConfiguration(variant((d) => (d.steps['welcome']!['retry'] = { attempts: 5 }))).ok).toBe(true);
  });

  it('ignores UNKNOWN_ACTION without a list of known actions', () => {
    expect(validateJourneyConfiguration(variant((d) => (d.steps['welcome']!['action'] = 'fax.send'))).ok).toBe(true);
  });
});

describe('validateJourneyConfiguration: one code per bad document', () => {
  it('SCHEMA: not an object', () => {
    expect(onlyError(null)).toMatchObject({ path: '$', code: ValidationCodes.SCHEMA });
    expect(onlyError([])).toMatchObject({ path: '$', code: 'SCHEMA' });
  });

  it('SCHEMA: missing top-level property, reported once', () => {
    expect(onlyError(variant((d) => delete d['name']))).toEqual({
      path: '$.name',
      code: 'SCHEMA',
      message: 'Missing required property "name"',
    });
  });

  it('SCHEMA: out-of-range number inside a step', () => {
    const issue = onlyError(variant((d) => ((d.steps['welcome']!['retry'] as { attempts: number }).attempts = 11)));
    expect(issue).toMatchObject({ path: '$.steps.welcome.retry.attempts', code: 'SCHEMA' });
    expect(issue.message).toContain('10');
  });

  it('SCHEMA: unknown step type names the allowed types', () => {
    const issue = onlyError(variant((d) => (d.steps['done'] = { type: 'teleport' })));
    expect(issue).toMatchObject({ path: '$.steps.done.type', code: 'SCHEMA' });
    expect(issue.message).toContain('waitForEvent');
  });

  it('SCHEMA: a property that belongs to another step kind', () => {
    expect(onlyError(variant((d) => (d.steps['done']!['next'] = 'welcome')))).toMatchObject({
      path: '$.steps.done.next',
      code: 'SCHEMA',
      message: 'Unexpected property "next"',
    });
  });

  it('SCHEMA: array index and bracketed keys in paths', () => {
    const missingNext = onlyError(
      variant((d) => delete (d.steps['b']!['cases'] as Record<string, unknown>[])[0]!['next']),
    );
    expect(missingNext).toMatchObject({ path: '$.steps.b.cases[0].next', code: 'SCHEMA' });
    const hyphen = onlyError(variant((d) => (d.steps['thanks-a']!['action'] = '')));
    expect(hyphen).toMatchObject({ path: "$.steps['thanks-a'].action", code: 'SCHEMA' });
  });

  it('SCHEMA: enumerations list their values', () => {
    const issue = onlyError(variant((d) => (d['vendorType'] = 'dj')));
    expect(issue).toMatchObject({ path: '$.vendorType', code: 'SCHEMA' });
    expect(issue.message).toContain('"photographer"');
  });

  it('SCHEMA: every invalid step id is reported', () => {
    const doc = variant((d) => {
      d.steps['1st'] = { type: 'end' };
      d.steps['_2nd'] = { type: 'end' };
    });
    const errors = errorsOf(validateJourneyConfiguration(doc));
    expect(errors.map((e) => [e.path, e.code])).toEqual([
      ["$.steps['1st']", 'SCHEMA'],
      ['$.steps._2nd', 'SCHEMA'],
    ]);
  });

  it('UNKNOWN_ACTION', () => {
    const doc = variant((d) => (d.steps['remind']!['action'] = 'sms.send'));
    expect(onlyError(doc, { knownActions: ['email.send', 'form.send'] })).toMatchObject({
      path: '$.steps.remind.action',
      code: 'UNKNOWN_ACTION',
    });
  });

  it('UNKNOWN_STEP: every kind of edge', () => {
    const cases: [(d: Doc) => void, string][] = [
      [(d) => (d['start'] = 'nowhere'), '$.start'],
      [(d) => (d.steps['welcome']!['next'] = 'nowhere'), '$.steps.welcome.next'],
      [(d) => (d.steps['q']!['onTimeout'] = 'nowhere'), '$.steps.q.onTimeout'],
      [(d) => (d.steps['b']!['default'] = 'nowhere'), '$.steps.b.default'],
      [(d) => (d.steps['anniversary']!['skipTo'] = 'nowhere'), '$.steps.anniversary.skipTo'],
      [
        (d) => ((d.steps['big']!['variants'] as Record<string, unknown>[])[1]!['next'] = 'nowhere'),
        '$.steps.big.variants[1].next',
      ],
      // Inherited names must not count as steps.
      [(d) => (d.steps['small']!['next'] = 'toString'), '$.steps.small.next'],
    ];
    for (const [change, path] of cases) {
      const errors = errorsOf(validateJourneyConfiguration(variant(change)));
      expect(errors.filter((e) => e.code === 'UNKNOWN_STEP').map((e) => e.path)).toEqual([path]);
    }
  });

  it('UNREACHABLE_STEP', () => {
    expect(onlyError(variant((d) => (d.steps['orphan'] = { type: 'end' })))).toMatchObject({
      path: '$.steps.orphan',
      code: 'UNREACHABLE_STEP',
    });
  });

  it('UNREACHABLE_STEP: skipTo only counts when ifPast is skip', () => {
    const doc = variant((d) => {
      d.steps['anniversary']!['ifPast'] = 'run';
      d.steps['anniversary']!['skipTo'] = 'orphan';
      d.steps['orphan'] = { type: 'end' };
    });
    expect(onlyError(doc)).toMatchObject({ path: '$.steps.orphan', code: 'UNREACHABLE_STEP' });
  });

  it('CYCLE_WITHOUT_WAIT lists the cycle', () => {
    const doc = variant((d) => (d.steps['thanks-a']!['next'] = 'b'));
    const issue = onlyError(doc);
    expect(issue.code).toBe('CYCLE_WITHOUT_WAIT');
    expect(issue.path).toMatch(/^\$\.steps\.(b|big|\['thanks-a'\])$/);
    expect(issue.message).toContain('b → big → thanks-a → b');
  });

  it('CYCLE_WITHOUT_WAIT: a self-loop', () => {
    expect(onlyError(variant((d) => (d.steps['thanks-a']!['next'] = 'thanks-a')))).toMatchObject({
      path: "$.steps['thanks-a']",
      code: 'CYCLE_WITHOUT_WAIT',
    });
  });

  it('BAD_DURATION: unparsable, zero and negative', () => {
    const cases: [(d: Doc) => void, string][] = [
      [(d) => (d.steps['pause']!['duration'] = 'P7X'), '$.steps.pause.duration'],
      [(d) => (d.steps['pause']!['duration'] = '-P7D'), '$.steps.pause.duration'],
      [(d) => (d.steps['pause']!['duration'] = 'PT0S'), '$.steps.pause.duration'],
      [(d) => (d.steps['q']!['timeout'] = '7 days'), '$.steps.q.timeout'],
      [(d) => (d.steps['welcome']!['timeout'] = '-PT30S'), '$.steps.welcome.timeout'],
      [
        (d) => ((d.steps['welcome']!['retry'] as Record<string, unknown>)['backoff'] = 'P'),
        '$.steps.welcome.retry.backoff',
      ],
      [(d) => (d.steps['sixWeeks']!['offset'] = '-42D'), '$.steps.sixWeeks.offset'],
    ];
    for (const [change, path] of cases) {
      expect(onlyError(variant(change))).toMatchObject({ path, code: 'BAD_DURATION' });
    }
  });

  it('BAD_TIME_ZONE', () => {
    expect(onlyError(variant((d) => (d['timeZone'] = 'Mars/Olympus_Mons')))).toMatchObject({
      path: '$.timeZone',
      code: 'BAD_TIME_ZONE',
    });
  });

  it('BAD_EXPRESSION carries the parser position', () => {
    const doc = variant(
      (d) => ((d.steps['b']!['cases'] as Record<string, unknown>[])[0]!['when'] = 'data.guestCount >'),
    );
    const issue = onlyError(doc);
    expect(issue).toMatchObject({ path: '$.steps.b.cases[0].when', code: 'BAD_EXPRESSION' });
    expect(issue.message).toContain('position 17');
  });

  it('BAD_TIME: quiet hours, `at`, impossible anchor dates', () => {
    const cases: [(d: Doc) => void, string][] = [
      [(d) => (d['quietHours'] = { start: '24:00', end: '08:00' }), '$.quietHours.start'],
      [(d) => (d.steps['sixWeeks']!['at'] = '9:00'), '$.steps.sixWeeks.at'],
      [(d) => (d.steps['anniversary']!['anchor'] = '2027-02-30'), '$.steps.anniversary.anchor'],
      [(d) => (d.steps['anniversary']!['anchor'] = '2027-06-12T25:00Z'), '$.steps.anniversary.anchor'],
    ];
    for (const [change, path] of cases) {
      expect(onlyError(variant(change))).toMatchObject({ path, code: 'BAD_TIME' });
    }
  });

  it('SCHEMA: an anchor of the wrong shape', () => {
    expect(onlyError(variant((d) => (d.steps['sixWeeks']!['anchor'] = 'weddingDay')))).toMatchObject({
      path: '$.steps.sixWeeks.anchor',
      code: 'SCHEMA',
    });
  });

  it('BAD_SKIP: the step after the wait has no single next', () => {
    const doc = variant((d) => (d.steps['sixWeeks']!['next'] = 'q'));
    // `sendForm` becomes unreachable too; the skip error is what matters here.
    const errors = errorsOf(validateJourneyConfiguration(doc));
    expect(errors.find((e) => e.code === 'BAD_SKIP')).toMatchObject({ path: '$.steps.sixWeeks.ifPast' });
    expect(errors.find((e) => e.code === 'BAD_SKIP')?.message).toContain('waitForEvent');
  });

  it('BAD_SKIP: the step after the wait does not exist', () => {
    const doc = variant((d) => (d.steps['sixWeeks']!['next'] = 'nowhere'));
    const codes = errorsOf(validateJourneyConfiguration(doc)).map((e) => `${e.code} ${e.path}`);
    expect(codes).toContain('BAD_SKIP $.steps.sixWeeks.ifPast');
    expect(codes).toContain('UNKNOWN_STEP $.steps.sixWeeks.next');
  });

  it('NO_END is only a warning', () => {
    const doc = variant((d) => {
      d['start'] = 'pause';
      d.steps = {
        pause: { type: 'wait', duration: 'P1D', next: 'nudge' },
        nudge: { type: 'action', action: 'x', next: 'pause' },
      };
    });
    const result = validateJourneyConfiguration(doc);
    expect(result.ok).toBe(true);
    expect(result.ok && result.warnings).toEqual([
      { path: '$.steps', code: 'NO_END', message: 'No end step is reachable from start' },
    ]);
  });

  it('DUPLICATE_VARIANT', () => {
    const doc = variant((d) => ((d.steps['big']!['variants'] as Record<string, unknown>[])[1]!['name'] = 'A'));
    expect(onlyError(doc)).toMatchObject({ path: '$.steps.big.variants[1].name', code: 'DUPLICATE_VARIANT' });
  });
});

describe('validateJourneyConfiguration: several problems', () => {
  it('reports every error, structural ones first', () => {
    const doc = variant((d) => {
      d['timeZone'] = 'Nowhere/City';
      d.steps['pause']!['duration'] = 'soon';
      d.steps['remind']!['next'] = 'gone';
      d.steps['welcome']!['retry'] = { attempts: 0, backoff: 'PT1S', factor: 2 };
      (d.steps['big']!['variants'] as Record<string, unknown>[])[1]!['name'] = 'A';
    });
    const errors = errorsOf(validateJourneyConfiguration(doc));
    expect(errors.map((e) => `${e.code} ${e.path}`)).toEqual([
      'SCHEMA $.steps.welcome.retry.attempts',
      'BAD_TIME_ZONE $.timeZone',
      'UNKNOWN_STEP $.steps.remind.next',
      'BAD_DURATION $.steps.pause.duration',
      'DUPLICATE_VARIANT $.steps.big.variants[1].name',
    ]);
  });

  it('still checks sound steps when another step is malformed, but skips graph checks', () => {
    const doc = variant((d) => {
      d.steps['welcome']!['next'] = 42;
      d.steps['pause']!['duration'] = 'soon';
      d.steps['orphan'] = { type: 'end' };
    });
    const errors = errorsOf(validateJourneyConfiguration(doc));
    expect(errors.map((e) => `${e.code} ${e.path}`)).toEqual([
      'SCHEMA $.steps.welcome.next',
      'BAD_DURATION $.steps.pause.duration',
    ]);
  });

  it('collects several graph errors together', () => {
    const doc = variant((d) => {
      d.steps['orphan'] = { type: 'action', action: 'x', next: 'orphan' };
      d.steps['small']!['next'] = 'nope';
    });
    const errors = errorsOf(validateJourneyConfiguration(doc));
    expect(errors.map((e) => `${e.code} ${e.path}`).sort()).toEqual(
      [
        'UNKNOWN_STEP $.steps.small.next',
        'UNREACHABLE_STEP $.steps.orphan',
        'UNREACHABLE_STEP $.steps.anniversary',
        'CYCLE_WITHOUT_WAIT $.steps.orphan',
      ].sort(),
    );
  });
});

describe('DefinitionInvalidError', () => {
  it('summarises the first issue and the count on one line', () => {
    const errors = errorsOf(
      validateJourneyConfiguration(
        variant((d) => {
          d['start'] = 'nowhere';
          d['timeZone'] = 'Bad/Zone';
        }),
      ),
    );
    const cause = new Error('publish failed');
    const err = new DefinitionInvalidError(errors, { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('DefinitionInvalidError');
    expect(err.code).toBe('DEFINITION_INVALID');
    expect(err.retryable).toBe(false);
    expect(err.issues).toBe(errors);
    expect(err.cause).toBe(cause);
    expect(err.message).not.toContain('\n');
    expect(err.message).toBe(
      'Invalid journey definition: $.timeZone: Unknown IANA time zone "Bad/Zone" [BAD_TIME_ZONE] (and 1 more issue)',
    );
  });
});

describe('published JSON Schema', () => {
  it('is up to date with the TypeBox source (run `npx tsx schemas/generate.ts`)', () => {
    for (const { file, schema } of GENERATED_SCHEMAS) {
      const onDisk = readFileSync(new URL(`../schemas/${file}`, import.meta.url), 'utf8');
      expect(onDisk, file).toBe(renderSchema(schema));
    }
  });

  it('is draft-07 with an $id', () => {
    const json = JSON.parse(
      readFileSync(new URL('../schemas/journey-definition.schema.json', import.meta.url), 'utf8'),
    );
    expect(json.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(json.$id).toBe('urn:wedsync:journey:definition');
  });
});
