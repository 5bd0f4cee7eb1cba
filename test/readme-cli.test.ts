/**
 * The README's `journeys run` synopsis against the CLI's own `run --help`: every flag the help lists must be in the
 * synopsis line and have a row in its table, so a flag added to the CLI cannot go undocumented. (The reverse is not
 * checked: the README may document a flag that is being added.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from '../runtime/cli/main.ts';

async function runHelp(): Promise<string> {
  const out: string[] = [];
  const code = await main(['run', '--help'], {
    stdout: (t) => void out.push(t),
    stderr: (t) => void out.push(t),
    stderrIsTTY: false,
    env: {},
  });
  expect(code).toBe(0);
  return out.join('\n');
}

/** `--name` (and `-h`) of each line under "Flags:" in a command's help. */
function helpFlags(help: string): string[] {
  const lines = help.split('\n');
  const start = lines.indexOf('Flags:');
  expect(start, 'the help has a Flags: section').toBeGreaterThan(0);
  const flags: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    // The flag column ends at the first run of two spaces; the help text after it may mention other flags.
    const column = line.trim().split(/\s{2,}/)[0]!;
    flags.push(...(column.match(/(?<![\w-])--?[a-z][a-z-]*/g) ?? []));
  }
  return flags;
}

function readmeRunSection(): string {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('### `journeys run`');
  expect(start, 'README has a "### `journeys run`" section').toBeGreaterThan(0);
  const end = readme.slice(start + 1).search(/\n##/);
  return end < 0 ? readme.slice(start) : readme.slice(start, start + 1 + end);
}

const mentions = (text: string, flag: string): boolean =>
  new RegExp(`(?<![\\w-])${flag.replace(/-/g, '\\-')}(?![\\w-])`).test(text);

describe('readme-cli - journeys run', () => {
  it('readme-cli - every flag of `run --help` is in the README synopsis and its flag table', async () => {
    const flags = helpFlags(await runHelp());
    // The ones the README once missed, so the parse itself cannot silently come back empty.
    expect(flags).toEqual(
      expect.arrayContaining(['--concurrency', '--no-load', '--rate', '--fresh', '--prefix', '-h', '--help']),
    );
    const section = readmeRunSection();
    const synopsis = /```\n([\s\S]*?)\n```/.exec(section)?.[1] ?? '';
    const rows = section.split('\n').filter((l) => l.startsWith('| `-'));
    const firstCell = (row: string): string => row.split('|')[1] ?? '';
    for (const flag of flags) {
      expect(mentions(synopsis, flag), `${flag} in the README's run synopsis`).toBe(true);
      expect(
        rows.some((r) => mentions(firstCell(r), flag)),
        `${flag} has a row in the README's run flag table`,
      ).toBe(true);
    }
  });
});
