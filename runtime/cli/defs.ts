/** `journeys defs validate|deploy|ls|preview`: journey definitions. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { PREVIEW_LIMIT, previewTimeline } from '../../actors/preview.ts';
import { addDaysToDate, daysBetweenDates, isValidTimeZone, localDate } from '../../actors/time.ts';
import type { JourneyDefinition } from '../../schemas/journey-definition.ts';
import { DefinitionInvalidError, validateJourneyConfiguration, type ValidationIssue } from '../../schemas/validate.ts';
import { errorMessage } from '../errors.ts';
import { UsageError } from './args.ts';
import { operator, type Command, type Context } from './command.ts';
import type { DeployResult } from '../definitions.ts';
import { columns, json, localTime, table } from './output.ts';

/** Reads and parses a JSON file; the error names the file. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${file}: invalid JSON: ${errorMessage(err)}`, { cause: err });
  }
}

const issueLines = (issues: readonly ValidationIssue[], suffix = ''): string =>
  columns(issues.map((i) => [i.path, i.code, `${i.message}${suffix}`]));

const validate: Command = {
  name: 'defs validate',
  args: '<file.json>...',
  summary: 'Checks journey definition files offline (no NATS needed). Prints each issue as "path  code  message".',
  example: 'defs validate schemas/examples/photographer-classic.json',
  flags: {},
  async run(ctx, f) {
    const files = f.positionals;
    if (files.length === 0) throw new UsageError('missing <file.json>');
    const results = [];
    for (const file of files) {
      const r = validateJourneyConfiguration(await readJsonFile(file));
      results.push(
        r.ok
          ? { file, ok: true, id: r.definition.id, version: r.definition.version, errors: [], warnings: r.warnings }
          : { file, ok: false, errors: r.errors, warnings: [] },
      );
    }
    if (ctx.json) ctx.out(json(results));
    else {
      for (const r of results) {
        if (files.length > 1 || r.ok) ctx.out(r.ok ? `${r.file}: valid (${r.id} v${r.version})` : `${r.file}:`);
        if (r.errors.length > 0) ctx.out(issueLines(r.errors));
        if (r.warnings.length > 0) ctx.out(issueLines(r.warnings, ' (warning)'));
      }
    }
    const bad = results.filter((r) => !r.ok);
    if (bad.length === 0) return 0;
    const one = bad[0]!;
    throw new Error(
      files.length === 1
        ? `${one.file} is not a valid journey definition (${one.errors.length} issue${one.errors.length === 1 ? '' : 's'})`
        : `${bad.length} of ${files.length} files are not valid journey definitions`,
    );
  },
};

/** Reads and validates a definition file; the error names the file. */
async function definitionFile(file: string): Promise<JourneyDefinition> {
  const r = validateJourneyConfiguration(await readJsonFile(file));
  if (!r.ok) throw new Error(`${file}: ${new DefinitionInvalidError(r.errors).message}`);
  return r.definition;
}

const deploy: Command = {
  name: 'defs deploy',
  args: '<file.json>...',
  summary: 'Validates every file, then deploys each as a new immutable version (an identical redeploy is a no-op).',
  example: 'defs deploy schemas/examples/*.json',
  flags: {},
  async run(ctx, f) {
    const files = f.positionals;
    if (files.length === 0) throw new UsageError('missing <file.json>');
    // Nothing is deployed unless every file is valid.
    const defs = [];
    for (const file of files) defs.push({ file, def: await definitionFile(file) });
    // Through the runtime (`<p>.admin.definitions.deploy`): validated there too, and audited with who asked.
    const client = await ctx.client();
    const by = operator(ctx.env);
    const results = [];
    for (const { file, def } of defs) {
      try {
        results.push({ file, ...(await client.admin<DeployResult>('definitions.deploy', { definition: def, by })) });
      } catch (err) {
        throw new Error(`${file}: ${errorMessage(err)}`, { cause: err });
      }
    }
    if (ctx.json) ctx.out(json(results));
    else
      for (const r of results)
        ctx.out(
          `${r.created ? 'deployed' : 'unchanged'} ${r.id} v${r.version}${r.created ? '' : ' (already deployed)'}`,
        );
  },
};

const ls: Command = {
  name: 'defs ls',
  args: '',
  summary: 'Lists deployed journeys with their latest version.',
  example: 'defs ls --json',
  flags: {},
  async run(ctx) {
    const list = await (await (await ctx.client()).definitions()).list();
    if (ctx.json) ctx.out(json(list));
    else if (list.length === 0) ctx.out('no journeys deployed');
    else
      ctx.out(
        table(
          ['JOURNEY', 'VERSION', 'VENDOR', 'NAME'],
          list.map((d) => [d.id, String(d.latest), d.vendorType, d.name]),
        ),
      );
  },
};

const preview: Command = {
  name: 'defs preview',
  args: '<file.json|journeyId>',
  summary:
    'Prints when each step would run for one booking, applying quiet hours and ifPast, without running anything. ' +
    'Assumes no event arrives, branches take their default and splits their first variant. Starts at --now, else --booked, else now.',
  example:
    'defs preview schemas/examples/photographer-classic.json --wedding 2027-06-12 --booked 2027-01-10T12:00:00Z --tz Europe/London',
  flags: {
    wedding: { kind: 'string', value: 'YYYY-MM-DD', help: 'local wedding date' },
    booked: { kind: 'string', value: 'ISO', help: 'booking instant (the `bookedAt` anchor)' },
    tz: { kind: 'string', value: 'Zone', help: "IANA time zone (default: the definition's, else UTC)" },
    now: { kind: 'string', value: 'ISO', help: 'when the execution starts (default: --booked, else now)' },
    version: { kind: 'string', value: 'N', help: 'deployed version, for a journey id (default: latest)' },
  },
  async run(ctx, f) {
    const source = f.arg(0, '<file.json|journeyId>');
    f.noMoreThan(1);
    const weddingDate = f.str('wedding');
    if (weddingDate !== undefined) {
      try {
        addDaysToDate(weddingDate, 0);
      } catch {
        throw new UsageError(`--wedding must be a calendar date YYYY-MM-DD, got "${weddingDate}"`);
      }
    }
    const tzFlag = f.str('tz');
    if (tzFlag !== undefined && !isValidTimeZone(tzFlag))
      throw new UsageError(`--tz: unknown IANA time zone "${tzFlag}"`);
    const booked = f.instant('booked');
    const now = f.instant('now') ?? booked ?? Date.now();
    const version = f.int('version', 1);
    const def = await loadDefinition(ctx, source, version);
    const timeZone = tzFlag ?? def.timeZone ?? 'UTC';
    const bookedAt = booked === undefined ? undefined : new Date(booked).toISOString();
    const entries = previewTimeline(def, {
      now,
      timeZone,
      ...(weddingDate ? { weddingDate } : {}),
      ...(bookedAt ? { bookedAt } : {}),
    });
    const truncated = entries.length >= PREVIEW_LIMIT && entries.at(-1)?.type !== 'end';
    if (ctx.json) {
      ctx.out(
        json({
          journeyId: def.id,
          version: def.version,
          timeZone,
          weddingDate: weddingDate ?? null,
          bookedAt: bookedAt ?? null,
          start: new Date(now).toISOString(),
          truncated,
          entries: entries.map((e) => ({ ...e, local: e.at === null ? null : localTime(e.at, timeZone) })),
        }),
      );
      return;
    }
    const relative = (at: number | null): string => {
      if (at === null || !weddingDate) return '';
      const d = daysBetweenDates(weddingDate, localDate(at, timeZone));
      return d === 0 ? 'wedding day' : `${d > 0 ? '+' : ''}${d}d`;
    };
    ctx.out(
      `${def.id} v${def.version} in ${timeZone}; wedding ${weddingDate ?? 'unknown'}; ` +
        `booked ${bookedAt ? localTime(booked!, timeZone) : 'unknown'}; starts ${localTime(now, timeZone)}`,
    );
    ctx.out(
      table(
        ['WHEN', 'WEDDING', 'STEP', 'TYPE', 'NOTE'],
        entries.map((e) => [
          e.at === null ? 'depends on data' : localTime(e.at, timeZone),
          relative(e.at),
          e.stepId,
          e.type,
          e.note,
        ]),
      ),
    );
    if (truncated) ctx.out(`(stopped after ${PREVIEW_LIMIT} steps: the journey loops)`);
  },
};

/** A definition from a file (offline) or, for a journey id, from the registry. */
async function loadDefinition(ctx: Context, source: string, version: number | undefined): Promise<JourneyDefinition> {
  if (source.endsWith('.json') || source.includes('/') || existsSync(source)) return await definitionFile(source);
  const def = await (await (await ctx.client()).definitions()).get(source, version);
  if (!def) throw new Error(`journey ${source}${version ? ` version ${version}` : ''} is not deployed`);
  return def;
}

export const defsCommands: readonly Command[] = [validate, deploy, ls, preview];
