#!/usr/bin/env node
// `npm run build [-- --out-dir DIR]`: compiles runtime/, actors/ and schemas/ to JavaScript with declarations
// (tsconfig.build.json), then copies the files the compiled runtime reads beside itself at run time, which tsc does not
// copy. A plain Node script, not a shell line, so the list of those files lives in one place and the build needs only
// node and the dev dependency typescript (the image's build stage runs it). Default out dir: dist/.
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Non-TypeScript files that go to the same relative place under the out dir: folder and which of its files. */
const ASSETS = [
  // The dashboard's page, script and styles, served from beside runtime/dashboard/routes.js (not its editor tsconfig).
  { dir: 'runtime/dashboard/public', keep: (f) => f !== 'tsconfig.json' },
  // The sample journeys `journeys run` deploys unless --no-sample (EXAMPLES_DIR in runtime/cli/run.ts).
  { dir: 'schemas/examples', keep: (f) => f.endsWith('.json') },
  // Not read at run time: the generated JSON Schemas of every message, shipped for services written in other languages.
  { dir: 'schemas', keep: (f) => f.endsWith('.schema.json') },
];

const args = process.argv.slice(2);
if (args.length > 0 && (args[0] !== '--out-dir' || args.length !== 2)) {
  process.stderr.write('usage: node bin/build.js [--out-dir DIR]\n');
  process.exit(2);
}
const outDir = resolve(ROOT, args[1] ?? 'dist');
// The out dir is emptied first; never the checkout or anything holding it.
const up = relative(outDir, ROOT);
if (up === '' || !up.startsWith('..')) {
  process.stderr.write(`build: refusing to empty ${outDir}: it holds the checkout\n`);
  process.exit(2);
}
rmSync(outDir, { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const tscArgs = [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outDir];
const r = spawnSync(process.execPath, tscArgs, { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

let copied = 0;
for (const { dir, keep } of ASSETS) {
  for (const file of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    if (!file.isFile() || !keep(file.name)) continue;
    cpSync(join(ROOT, dir, file.name), join(outDir, dir, file.name));
    copied++;
  }
}
process.stdout.write(`build: ${relative(ROOT, outDir) || outDir} (compiled, ${copied} files copied)\n`);
