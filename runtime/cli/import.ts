/**
 * `journeys import <file>`: starts a journey for every line of a JSON-lines file (one start command per line) or a CSV
 * file (a header row naming the start command's fields; other columns go into `data`), with a progress bar. Lines are
 * sent as requests, a few dozen at a time; a refused line does not stop the others, and all refusals are summed up.
 */
import { readFile } from 'node:fs/promises';
import type { StartCommand } from '../../schemas/commands.ts';
import { errorMessage } from '../errors.ts';
import { UsageError } from './args.ts';
import type { Command } from './command.ts';
import { json } from './output.ts';
import { throttledProgress } from './progress.ts';

const FIELDS = new Set(['supplierId', 'clientId', 'journeyId', 'version', 'reentryKey', 'weddingDate', 'timeZone', 'bookedAt']);
const CLIENT_FIELDS = new Set(['name', 'email', 'phone']);
const IN_FLIGHT = 32;

/** Parses one CSV line: commas, double-quoted fields with "" escapes. */
export function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** The start commands of a file, with their line numbers; a line that cannot be read is returned as an error. */
export function parseStarts(text: string, csv: boolean): { line: number; cmd?: StartCommand; error?: string }[] {
  const lines = text.split(/\r?\n/);
  const out: { line: number; cmd?: StartCommand; error?: string }[] = [];
  if (!csv) {
    lines.forEach((l, i) => {
      if (l.trim() === '') return;
      try {
        out.push({ line: i + 1, cmd: JSON.parse(l) as StartCommand });
      } catch {
        out.push({ line: i + 1, error: 'not valid JSON' });
      }
    });
    return out;
  }
  const header = csvFields(lines[0] ?? '').map((h) => h.trim());
  if (!header.includes('supplierId') || !header.includes('clientId') || !header.includes('journeyId')) {
    throw new UsageError('the CSV header must name at least supplierId, clientId and journeyId');
  }
  lines.slice(1).forEach((l, i) => {
    if (l.trim() === '') return;
    const values = csvFields(l);
    const cmd: Record<string, unknown> = {};
    const data: Record<string, unknown> = {};
    const client: Record<string, unknown> = {};
    header.forEach((h, j) => {
      const v = values[j]?.trim() ?? '';
      if (v === '') return;
      if (FIELDS.has(h)) cmd[h] = h === 'version' ? Number(v) : v;
      else if (h.startsWith('client.') && CLIENT_FIELDS.has(h.slice(7))) client[h.slice(7)] = v;
      else data[h] = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
    });
    if (Object.keys(data).length > 0) cmd['data'] = data;
    if (Object.keys(client).length > 0) cmd['client'] = client;
    out.push({ line: i + 2, cmd: cmd as unknown as StartCommand });
  });
  return out;
}

export const importCommand: Command = {
  name: 'import',
  args: '<file.jsonl|file.csv>',
  summary:
    'Starts a journey for every line of a JSON-lines file (a start command per line) or a CSV file (a header naming the ' +
    'fields: supplierId, clientId, journeyId, weddingDate, timeZone, bookedAt, reentryKey, version, client.name, ' +
    'client.email, client.phone; other columns go into data). Shows progress with rate and ETA; lines already started find ' +
    'their execution again.',
  example: 'import bookings.csv',
  flags: {},
  async run(ctx, f) {
    const file = f.arg(0, '<file.jsonl|file.csv>');
    f.noMoreThan(1);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${errorMessage(err)}`);
    }
    const items = parseStarts(text, file.toLowerCase().endsWith('.csv'));
    const client = await ctx.client();
    const progress = throttledProgress((t, last) => ctx.progress(t, last), items.length);
    const refused: { line: number; error: string }[] = [];
    const started: { line: number; executionId: string }[] = [];
    let next = 0;
    let done = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const item = items[next++]!;
        if (item.error || !item.cmd) refused.push({ line: item.line, error: item.error ?? 'empty' });
        else {
          try {
            started.push({ line: item.line, executionId: await client.start(item.cmd) });
          } catch (err) {
            refused.push({ line: item.line, error: errorMessage(err) });
          }
        }
        progress(++done);
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, Math.max(1, items.length)) }, worker));
    refused.sort((a, b) => a.line - b.line);
    if (ctx.json) ctx.out(json({ started: started.length, refused }));
    else ctx.out(`started ${started.length} of ${items.length}`);
    const first = refused[0];
    if (first) throw new Error(`${refused.length} of ${items.length} lines refused; first: line ${first.line}: ${first.error}`);
  },
};
