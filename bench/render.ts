/** Redraws the SVG and Markdown table of a results file: `npx tsx bench/render.ts [bench/results/latest.json]`. */
import { readFile, writeFile } from 'node:fs/promises';
import { svg, table, type RunReport } from './report.ts';

const file = process.argv[2] ?? 'bench/results/latest.json';
const report = JSON.parse(await readFile(file, 'utf8')) as RunReport;
const base = file.replace(/\.json$/, '');
await writeFile(`${base}.svg`, svg(report));
await writeFile(`${base}.md`, table(report.scenarios) + '\n');
process.stdout.write(`wrote ${base}.svg and ${base}.md\n`);
