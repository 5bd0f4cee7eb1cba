/**
 * Writes the shipped nats-server configurations from the roles in `runtime/roles.ts`.
 *
 *   npx tsx deploy/nats/generate.ts          # (re)write the files
 *   npx tsx deploy/nats/generate.ts --check  # CI: exit 1 if a file on disk is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderServerConfig } from '../../runtime/roles.ts';

/** A generated file, relative to this directory, and its content. */
export const GENERATED_CONFIGS: readonly { file: string; render: () => string }[] = [
  { file: 'standalone.conf', render: () => renderServerConfig() },
  { file: 'cluster.conf', render: () => renderServerConfig({ cluster: true }) },
];

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function main(argv: readonly string[]): number {
  const check = argv.includes('--check');
  const stale: string[] = [];
  for (const { file, render } of GENERATED_CONFIGS) {
    const path = fileURLToPath(new URL(file, import.meta.url));
    const content = render();
    if (readOrEmpty(path) === content) continue;
    if (check) stale.push(file);
    else {
      writeFileSync(path, content);
      console.log(`wrote deploy/nats/${file}`);
    }
  }
  if (stale.length > 0) {
    console.error(
      `NATS configs out of date: ${stale.join(', ')}; run \`npx tsx deploy/nats/generate.ts\` and commit the result`,
    );
    return 1;
  }
  return 0;
}

// Only when run as a script: the tests import `GENERATED_CONFIGS`.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}
