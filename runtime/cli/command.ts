/** What every `journeys` command gets: the parsed flags, output streams, and a lazily opened NATS client. */
import { userInfo } from 'node:os';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { JourneyClient } from '../client.ts';
import { connectionOptionsFromEnv } from '../connection.ts';
import { errorMessage } from '../errors.ts';
import type { FlagKind, Flags } from './args.ts';
import { redactUrl } from './output.ts';

export interface FlagHelp {
  kind: FlagKind;
  /** Placeholder of the value in help, e.g. `ISO`. */
  value?: string;
  help: string;
}

export interface Command {
  /** `ls`, `defs validate`, ... */
  name: string;
  /** Positional arguments as shown in usage, e.g. `<file.json>...`. */
  args: string;
  summary: string;
  /** One line, without the leading `journeys`. */
  example: string;
  flags: Readonly<Record<string, FlagHelp>>;
  run(ctx: Context, f: Flags): Promise<number | void>;
}

export interface Context {
  prefix: string;
  json: boolean;
  env: NodeJS.ProcessEnv;
  /** A line (or block) on stdout. */
  out(text: string): void;
  /** A line on stderr (progress, notices; failures go through the thrown error). */
  err(text: string): void;
  /** Progress on stderr: rewritten in place on a terminal, one line each otherwise; `last` ends the line. */
  progress(text: string, last: boolean): void;
  /** Connects on first use; closed by `main` when the command ends. */
  client(): Promise<JourneyClient>;
}

/** Connection for commands other than `run`: the `nats` CLI's environment, a short timeout, no reconnects. */
export async function connectCli(env: NodeJS.ProcessEnv, timeoutMs = 3_000): Promise<NatsConnection> {
  const opts = connectionOptionsFromEnv(env);
  const url = redactUrl([opts.servers ?? []].flat().join(','));
  try {
    return await connect({ ...opts, name: 'journeys-cli', timeout: timeoutMs, reconnect: false });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${url}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Help text of one command. */
export function commandHelp(cmd: Command, globals: Readonly<Record<string, FlagHelp>>): string {
  const flags = Object.entries({ ...cmd.flags, ...globals });
  const left = (name: string, f: FlagHelp): string =>
    `${name === 'help' ? '-h, ' : ''}--${name}${f.kind === 'string' ? ` <${f.value ?? 'value'}>` : ''}`;
  const width = Math.max(...flags.map(([n, f]) => left(n, f).length));
  return [
    `Usage: journeys ${cmd.name}${cmd.args ? ` ${cmd.args}` : ''}${flags.length ? ' [flags]' : ''}`,
    '',
    cmd.summary,
    '',
    'Flags:',
    ...flags.map(([n, f]) => `  ${left(n, f).padEnd(width)}  ${f.help}`),
    '',
    'Example:',
    `  journeys ${cmd.example}`,
  ].join('\n');
}

/** Who asks, for the audit record of an admin request: the login name (the server-side identity is the NATS user). */
export function operator(env: NodeJS.ProcessEnv): string {
  return env['USER'] ?? env['LOGNAME'] ?? userInfo().username;
}
