#!/usr/bin/env node
// Launcher of the `journeys` CLI, with the same arguments and exit code. In a source checkout it runs
// runtime/cli/main.ts under tsx, so an edit is live and a stale dist/ never runs; in the published package and the
// image, which hold no sources, it runs the compiled dist/runtime/cli/main.js with node alone.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../runtime/cli/main.ts', import.meta.url));
const compiled = fileURLToPath(new URL('../dist/runtime/cli/main.js', import.meta.url));
const fromSource = existsSync(source) || !existsSync(compiled);
const argv = fromSource
  ? [createRequire(import.meta.url).resolve('tsx/cli'), source, ...process.argv.slice(2)]
  : [compiled, ...process.argv.slice(2)];

const child = spawn(process.execPath, argv, { stdio: 'inherit' });
// A terminal's Ctrl-C reaches the whole process group; a signal sent to this process alone is passed on.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  });
}
child.on('error', (err) => {
  process.stderr.write(`journeys: cannot start ${fromSource ? 'tsx' : 'node'}: ${err.message}\n`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else process.exit(code ?? 1);
});
