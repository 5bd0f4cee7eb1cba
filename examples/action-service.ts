/**
 * A reference action service (docs/actions.md), written against the documented contract with the plain NATS client and
 * nothing from the runtime: it consumes commands for its actions from `<prefix>.actions.<action>`, performs each one
 * at most once per idempotency key, and publishes the result on the command's `resultSubject`.
 *
 * "Performing" here is publishing the effect (the email that would be sent) on `svc.<prefix>.effects.<action>` into a
 * stream with the key as `Nats-Msg-Id`: the stream stores it once per key, however often a crash makes us try. A real
 * service passes the key to its provider the same way (most email, SMS and payment APIs take an idempotency key).
 *
 *   NATS_URL=nats://127.0.0.1:4222 JRN_PREFIX=jrn SERVICE_ACTIONS=email.send node --import tsx examples/action-service.ts
 *
 * With the roles of deploy/nats/, also NATS_USER=action-service NATS_PASSWORD=… NATS_INBOX_PREFIX=_INBOX_action-service.
 *
 * SERVICE_BEHAVIOUR picks how it answers, for demos and tests:
 *   ok (default)          performs and answers `{ ok: true, data: { messageId } }`
 *   fail-attempts:N       attempts 1..N answer a retryable failure (SMTP_TEMPFAIL), later ones succeed
 *   reject                answers a non-retryable failure (MAILBOX_UNKNOWN) without performing
 *   silent                takes the command and never answers
 *   fail-until:EPOCH_MS   answers a retryable failure until that instant, then succeeds
 * It prints `ready` once it consumes, and one line per command when SERVICE_LOG=1. Tests also use SERVICE_ANSWER_DELAY_MS
 * (a pause between performing and answering, so a crash can fall there) and SERVICE_OBSERVE (a subject on which every
 * perform is announced, duplicates included).
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';

const prefix = process.env['JRN_PREFIX'] ?? 'jrn';
const actions = (process.env['SERVICE_ACTIONS'] ?? 'email.send').split(',').filter(Boolean);
const behaviour = process.env['SERVICE_BEHAVIOUR'] ?? 'ok';
const log = process.env['SERVICE_LOG'] === '1';
const answerDelayMs = Number(process.env['SERVICE_ANSWER_DELAY_MS'] ?? 0);
const observe = process.env['SERVICE_OBSERVE'];

interface Command {
  action: string;
  key: string;
  attempt: number;
  params: Record<string, unknown>;
  resultSubject?: string;
}

// As the `action-service` role of deploy/nats/: its user, and its own inbox prefix (no other role reads its replies).
const nc = await connect({
  servers: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
  maxReconnectAttempts: -1,
  ...(process.env['NATS_USER'] ? { user: process.env['NATS_USER'], pass: process.env['NATS_PASSWORD'] ?? '' } : {}),
  ...(process.env['NATS_INBOX_PREFIX'] ? { inboxPrefix: process.env['NATS_INBOX_PREFIX'] } : {}),
});
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
const effects = `SVC_EFFECTS_${prefix.toUpperCase()}`;
await jsm.streams.add({ name: effects, subjects: [`svc.${prefix}.effects.>`], duplicate_window: 30 * 60 * 1e9 }).catch(async () => {
  await jsm.streams.info(effects); // exists already (another instance, or a restart)
});

/** How this instance answers one command: a result, or nothing (silent). */
async function perform(cmd: Command): Promise<object | undefined> {
  const [mode, arg] = behaviour.split(':');
  if (mode === 'silent') return undefined;
  if (mode === 'reject') return { ok: false, error: { code: 'MAILBOX_UNKNOWN', message: 'no such mailbox' }, retryable: false };
  if ((mode === 'fail-attempts' && cmd.attempt <= Number(arg)) || (mode === 'fail-until' && Date.now() < Number(arg))) {
    return { ok: false, error: { code: 'SMTP_TEMPFAIL', message: 'try again later' }, retryable: true };
  }
  // The effect, once per key: a repeat within the stream's window is acknowledged as a duplicate and not stored again.
  const h = headers();
  h.set('Nats-Msg-Id', cmd.key);
  const ack = await js.publish(`svc.${prefix}.effects.${cmd.action}`, JSON.stringify({ key: cmd.key, params: cmd.params, pid: process.pid }), { headers: h });
  if (observe) await js.publish(observe, JSON.stringify({ key: cmd.key, attempt: cmd.attempt, pid: process.pid }));
  if (answerDelayMs > 0) await new Promise((r) => setTimeout(r, Math.floor(Math.random() * answerDelayMs)));
  return { ok: true, data: { messageId: `${effects}-${ack.seq}` } };
}

async function handle(msg: JsMsg): Promise<void> {
  let cmd: Command;
  try {
    cmd = msg.json<Command>();
  } catch {
    msg.term(); // not a command: nothing to answer
    return;
  }
  const answer = await perform(cmd);
  if (log) process.stdout.write(`${cmd.action} ${cmd.key} attempt ${cmd.attempt}: ${answer ? JSON.stringify(answer) : 'no answer'}\n`);
  if (answer && cmd.resultSubject) {
    const h = headers();
    h.set('Nats-Msg-Id', `${cmd.key}:${cmd.attempt}`);
    await js.publish(cmd.resultSubject, JSON.stringify({ key: cmd.key, attempt: cmd.attempt, ...answer }), { headers: h });
  }
  msg.ack(); // only after the result is stored: a crash before this makes JetStream deliver the command again
}

for (const action of actions) {
  const durable = `svc-${action.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  await jsm.consumers.add(`${prefix.toUpperCase()}_ACTIONS`, {
    durable_name: durable,
    filter_subject: `${prefix}.actions.${action}`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: 5e9, // a crashed instance's commands come back after 5 s
    max_ack_pending: 256,
  });
  const messages = await (await js.consumers.get(`${prefix.toUpperCase()}_ACTIONS`, durable)).consume({ max_messages: 128 });
  void (async () => {
    for await (const msg of messages) void handle(msg).catch((err: unknown) => process.stderr.write(`${String(err)}\n`));
  })();
}
process.stdout.write('ready\n');

const stop = async (): Promise<void> => {
  await nc.drain();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
