/**
 * `journeys`: the command-line interface of the journey runtime. `npx tsx runtime/cli/main.ts --help` lists commands.
 * Every failure prints one line, `journeys: <message>`, on stderr and exits non-zero: 2 for usage errors, 1 otherwise.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { NatsConnection } from '@nats-io/transport-node';
import { JourneyClient } from '../client.ts';
import { errorMessage } from '../errors.ts';
import { Flags, parseArgs, UsageError, type FlagKind } from './args.ts';
import { commandHelp, connectCli, type Command, type Context, type FlagHelp } from './command.ts';
import { defsCommands } from './defs.ts';
import { dlqCommands } from './dlq.ts';
import { executionCommands } from './executions.ts';
import { importCommand } from './import.ts';
import { reportCommand } from './report.ts';
import { runCommand } from './run.ts';
import { scaleCommand } from './scale.ts';
import { statsCommand } from './stats.ts';

const GLOBAL_FLAGS: Readonly<Record<string, FlagHelp>> = {
  prefix: { kind: 'string', value: 'p', help: 'subject prefix of the runtime (default: $JRN_PREFIX, else jrn)' },
  json: { kind: 'boolean', help: 'machine-readable output' },
  help: { kind: 'boolean', help: 'this help' },
};

const COMMANDS: readonly Command[] = [
  runCommand,
  ...defsCommands,
  ...executionCommands,
  importCommand,
  ...dlqCommands,
  scaleCommand,
  statsCommand,
  reportCommand,
];
const BY_NAME = new Map(COMMANDS.map((c) => [c.name, c]));
const GROUPS = new Set(COMMANDS.filter((c) => c.name.includes(' ')).map((c) => c.name.split(' ')[0]!));
const PREFIX = /^[a-z][a-z0-9_]{0,31}$/;

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stderrIsTTY: boolean;
  env: NodeJS.ProcessEnv;
}

function generalHelp(group?: string): string {
  const shown = COMMANDS.filter((c) => group === undefined || c.name.startsWith(`${group} `));
  const width = Math.max(...shown.map((c) => `${c.name} ${c.args}`.length));
  return [
    `Usage: journeys ${group ?? '<command>'}${group ? ' <command>' : ''} [flags]   (npx tsx runtime/cli/main.ts ...)`,
    '',
    'Commands:',
    ...shown.map((c) => `  ${`${c.name} ${c.args}`.padEnd(width)}  ${c.summary.split(/(?<=\.) /)[0]}`),
    '',
    'Global flags: --prefix <p>, --json, -h/--help. NATS settings come from NATS_URL, NATS_USER/NATS_PASSWORD, NATS_TOKEN,',
    'NATS_CREDS, NATS_NKEY, NATS_CA/NATS_CERT/NATS_KEY, as for the nats CLI.',
    `Run "journeys ${group ? `${group} ` : ''}<command> --help" for a command's flags and an example.`,
  ].join('\n');
}

/** Splits the command words (`defs preview`) from the flags and positionals that follow. */
function commandWords(argv: readonly string[]): { words: string[]; rest: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a.startsWith('-') && a.length > 1) {
      rest.push(a);
      if (a === '--prefix' && i + 1 < argv.length) rest.push(argv[++i]!);
    } else if (words.length === 0 || (words.length === 1 && GROUPS.has(words[0]!))) {
      words.push(a);
    } else {
      rest.push(a);
    }
  }
  return { words, rest };
}

/** Runs one invocation and returns the exit code. Never throws. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  let nc: NatsConnection | undefined;
  let prefix = 'jrn';
  try {
    const { words, rest } = commandWords(argv);
    const wantsHelp = rest.includes('--help') || rest.includes('-h');
    const name = words.join(' ');
    const cmd = BY_NAME.get(name);
    if (!cmd) {
      const group = words[0] !== undefined && GROUPS.has(words[0]) ? words[0] : undefined;
      if (words.length === 0 || (group && words.length === 1)) {
        io.stdout(generalHelp(group));
        if (wantsHelp) return 0;
        throw new UsageError(`missing ${group ? `${group} ` : ''}command`);
      }
      throw new UsageError(`unknown command "${name}" (see journeys ${group ? `${group} ` : ''}--help)`);
    }
    const spec: Record<string, FlagKind> = {};
    for (const [k, v] of Object.entries({ ...cmd.flags, ...GLOBAL_FLAGS })) spec[k] = v.kind;
    if (wantsHelp) {
      io.stdout(commandHelp(cmd, GLOBAL_FLAGS));
      return 0;
    }
    const f = new Flags(parseArgs(rest, spec));
    prefix = f.str('prefix') ?? io.env['JRN_PREFIX'] ?? 'jrn';
    if (!PREFIX.test(prefix)) throw new UsageError(`--prefix "${prefix}" must match ${PREFIX.source}`);
    let client: JourneyClient | undefined;
    const ctx: Context = {
      prefix,
      json: f.bool('json'),
      env: io.env,
      out: io.stdout,
      err: io.stderr,
      progress: (text, last) => {
        if (io.stderrIsTTY) process.stderr.write(`\r${text}${last ? '\n' : ''}`);
        else io.stderr(text);
      },
      client: async () => {
        if (!client) {
          nc = await connectCli(io.env);
          client = new JourneyClient(nc, prefix);
        }
        return client;
      },
    };
    return (await cmd.run(ctx, f)) ?? 0;
  } catch (err) {
    let message = errorMessage(err) || 'failed';
    // A missing stream or bucket means no runtime ever ran with this prefix on this server.
    if (/^stream not found$|bucket not found/i.test(message)) {
      message = `no journey runtime has run with prefix "${prefix}" on this NATS server (${message}); check --prefix or JRN_PREFIX`;
    }
    io.stderr(`journeys: ${message}`);
    return err instanceof UsageError ? 2 : 1;
  } finally {
    await nc?.close().catch(() => undefined);
  }
}

const isEntry =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(resolve(process.argv[1]))).href;
if (isEntry) {
  const argv = process.argv.slice(2);
  // A promise rejected with no handler (a stray background task in a library, a bug) ends Node with a stack trace by
  // default: `run` would stop serving over one stray error. It is one line on stderr instead, and `run` carries on; a
  // one-shot command that would have succeeded exits 1 still, as the crash made it.
  let unhandled = false;
  process.on('unhandledRejection', (reason) => {
    unhandled = true;
    process.stderr.write(`journeys: unhandled rejection: ${errorMessage(reason) || String(reason)}\n`);
  });
  const code = await main(argv, {
    stdout: (text) => void process.stdout.write(`${text}\n`),
    stderr: (text) => void process.stderr.write(`${text}\n`),
    stderrIsTTY: process.stderr.isTTY === true,
    env: process.env,
  });
  // Flush both streams before exiting: a piped stdout may still hold the last lines.
  await new Promise<void>((r) => process.stdout.write('', () => r()));
  await new Promise<void>((r) => process.stderr.write('', () => r()));
  process.exit(code === 0 && unhandled && commandWords(argv).words[0] !== 'run' ? 1 : code);
}
