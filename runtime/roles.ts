/**
 * NATS roles (R33): what each kind of client may publish and subscribe to, derived from the subject map in
 * `subjects.ts`, and rendered as nats-server configuration (one account, one user per role). `deploy/nats/generate.ts`
 * writes the shipped files from here; `test/roles.test.ts` runs them against a real server.
 *
 * Each role owns an inbox prefix (`_INBOX_<role>`, nats.js `inboxPrefix`, `NATS_INBOX_PREFIX`) and may subscribe only
 * to its own, so no role reads another's replies. Every subject branch of the namespace that a role is not granted is
 * also denied explicitly, so widening an allow later (`jrn.>`) cannot reach the runtime's internals by accident.
 */
import { names as subjectNames, COMMAND_VERBS, type Names } from './subjects.ts';

export const ROLES = ['runtime', 'publisher', 'action-service', 'dashboard', 'operator'] as const;
export type Role = (typeof ROLES)[number];

export interface SubjectPermission {
  allow: string[];
  deny?: string[];
}

export interface RolePermissions {
  publish: SubjectPermission;
  subscribe: SubjectPermission;
  /** May publish to the reply subject of a request it received, once (nats-server `allow_responses`). */
  allowResponses?: boolean;
}

export interface RoleInfo {
  /** The NATS user name. */
  user: string;
  /** Environment variable the server config reads the password from (plain text or a bcrypt hash). */
  passwordEnv: string;
  /** Inbox prefix the role's clients must use (nats.js `inboxPrefix`, `NATS_INBOX_PREFIX`, `nats --inbox-prefix`). */
  inboxPrefix: string;
  /** Who connects as this role, for the docs. */
  who: string;
}

export const ROLE_INFO: Readonly<Record<Role, RoleInfo>> = {
  runtime: {
    user: 'runtime',
    passwordEnv: 'JRN_RUNTIME_PASSWORD',
    inboxPrefix: '_INBOX_runtime',
    who: 'every `journeys run` instance',
  },
  publisher: {
    user: 'publisher',
    passwordEnv: 'JRN_PUBLISHER_PASSWORD',
    inboxPrefix: '_INBOX_publisher',
    who: 'services that start journeys and send events (`JourneyClient`)',
  },
  'action-service': {
    user: 'action-service',
    passwordEnv: 'JRN_ACTION_SERVICE_PASSWORD',
    inboxPrefix: '_INBOX_action-service',
    who: 'integration services performing outbound actions (docs/actions.md)',
  },
  dashboard: {
    user: 'dashboard',
    passwordEnv: 'JRN_DASHBOARD_PASSWORD',
    inboxPrefix: '_INBOX_dashboard',
    who: 'external dashboards, `journeys stats` and `journeys report`',
  },
  operator: {
    user: 'operator',
    passwordEnv: 'JRN_OPERATOR_PASSWORD',
    inboxPrefix: '_INBOX_operator',
    who: 'people on call: the `journeys` CLI and the `nats` CLI (docs/cookbook.md)',
  },
};

/**
 * The stream and subjects the reference action service (`examples/action-service.ts`) keeps its effects in: its own
 * subject space, outside the runtime's prefix.
 */
export function serviceEffects(n: Names): { stream: string; subjects: string } {
  return { stream: `SVC_EFFECTS_${n.prefix.toUpperCase()}`, subjects: `svc.${n.prefix}.effects.>` };
}

/** Every branch of the namespace as the wildcard that covers it (README "Subjects"). */
export function namespaceBranches(n: Names): Record<string, string> {
  const p = n.prefix;
  return {
    cmd: `${p}.cmd.>`,
    api: `${p}.api.>`,
    admin: `${p}.admin.>`,
    work: `${p}.work.>`,
    timer: `${p}.timer.>`,
    actions: `${p}.actions.>`,
    results: `${p}.results.>`,
    rejects: `${p}.rejects.>`,
    dlq: `${p}.dlq.>`,
    stats: `${p}.stats.>`,
    alerts: n.alerts,
    decisions: n.decisions,
    override: `${p}.supervisor.override`,
    audit: `${p}.audit.>`,
  };
}

const api = (...tokens: string[]): string => ['$JS.API', ...tokens].join('.');
const kvSubjects = (bucket: string): string => `$KV.${bucket}.>`;
const kvStream = (bucket: string): string => `KV_${bucket}`;

/**
 * Reading a stream's messages: its info, single messages (`MSG.GET`, and `DIRECT.GET` where the stream allows it), and
 * ephemeral pull consumers (nats.js ordered consumers put the name, and a single filter, in the create subject; they
 * delete their previous consumer when they reset).
 */
function streamReader(stream: string, opts: { direct?: boolean; flowControl?: boolean } = {}): string[] {
  return [
    api('STREAM.INFO', stream),
    api('STREAM.MSG.GET', stream),
    ...(opts.direct ? [api('DIRECT.GET', stream), api('DIRECT.GET', stream, '>')] : []),
    api('CONSUMER.CREATE', stream, '>'),
    api('CONSUMER.INFO', stream, '*'),
    api('CONSUMER.MSG.NEXT', stream, '*'),
    api('CONSUMER.DELETE', stream, '*'),
    // Push consumers with flow control (KV `keys()`, the `nats` CLI) answer on `$JS.FC.<stream>.…`.
    ...(opts.flowControl ? [`$JS.FC.${stream}.>`] : []),
  ];
}

/** Reading a KV bucket (get, keys, history) without writing it. */
function kvReader(bucket: string): string[] {
  return streamReader(kvStream(bucket), { direct: true, flowControl: true });
}

const inboxOf = (role: Role): string => `${ROLE_INFO[role].inboxPrefix}.>`;

/** Other roles' inboxes, and the default one nobody is given: denied to `role` for subscribing. */
function foreignInboxes(role: Role): string[] {
  return ['_INBOX.>', ...ROLES.filter((r) => r !== role).map(inboxOf)];
}

/**
 * Whether `subject` (which may itself hold wildcards) lies within `pattern`: what nats-server checks when it matches a
 * publish against a permission, or a subscription against an allow list.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const t = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return t.length > i;
    if (i >= t.length) return false;
    if (p[i] === '*' ? t[i] === '>' : p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}

/** The namespace branches none of `granted` falls in, and every KV bucket: denied explicitly. */
function denyOthers(n: Names, granted: readonly string[]): string[] {
  return [
    ...Object.values(namespaceBranches(n)).filter((branch) => !granted.some((g) => subjectMatches(branch, g))),
    ...Object.values(n.buckets).map(kvSubjects),
  ];
}

/** The permissions of every role for the subject namespace `n`. */
export function rolePermissions(n: Names): Record<Role, RolePermissions> {
  const b = namespaceBranches(n);
  const s = n.streams;
  const verbs = (f: (v: (typeof COMMAND_VERBS)[number]) => string): string[] => COMMAND_VERBS.map(f);
  const runtimeStreams = Object.values(s);
  const effects = serviceEffects(n);

  const runtime: RolePermissions = {
    publish: {
      allow: [
        // Its streams, consumers and buckets: it creates and updates the whole topology at start (streams.ts).
        '$JS.API.>',
        ...runtimeStreams.map((stream) => `$JS.ACK.${stream}.>`),
        // Flow-control answers of its push consumers (KV watchers and key listings).
        '$JS.FC.>',
        ...Object.values(n.buckets).map(kvSubjects),
        b.work!,
        b.timer!,
        b.actions!,
        b.rejects!,
        b.dlq!,
        b.audit!,
        b.stats!,
        b.alerts!,
        b.decisions!,
        // `journeys run --demo` sends its load as requests, like a publisher.
        ...verbs((v) => n.api(v)),
      ],
    },
    subscribe: {
      allow: [
        `${n.prefix}.api.*`,
        b.admin!,
        b.override!,
        // The aggregator reads every instance's stats; the built-in web dashboard the merged ones, alerts and decisions.
        b.stats!,
        b.alerts!,
        b.decisions!,
        inboxOf('runtime'),
      ],
      deny: foreignInboxes('runtime'),
    },
    // Answers on `<p>.api.*`, `<p>.admin.>` and `<p>.supervisor.override` go to the asker's inbox.
    allowResponses: true,
  };

  // Starts also go straight into the work stream on the start intake, which the runtime checks and re-tiers (intake.ts).
  const publisherAllow = [...verbs((v) => n.cmd(v)), ...verbs((v) => n.api(v)), n.intake('*', '*', '*')];
  const publisher: RolePermissions = {
    // No JetStream API at all: a publish to `<p>.cmd.*` is answered (PubAck) on the inbox by the stream itself.
    publish: { allow: publisherAllow, deny: [...denyOthers(n, publisherAllow), n.work('*', '*', '*'), '$JS.API.>'] },
    subscribe: { allow: [inboxOf('publisher')], deny: foreignInboxes('publisher') },
  };

  const actionService: RolePermissions = {
    publish: {
      allow: [
        api('INFO'),
        // Its own effects stream, created at start when missing (examples/action-service.ts).
        api('STREAM.INFO', effects.stream),
        api('STREAM.CREATE', effects.stream),
        effects.subjects,
        // A durable pull consumer on the action commands: create (name and filter are in the subject), info, pull, ack.
        api('CONSUMER.CREATE', s.actions, '>'),
        api('CONSUMER.INFO', s.actions, '*'),
        api('CONSUMER.MSG.NEXT', s.actions, '*'),
        `$JS.ACK.${s.actions}.>`,
        b.results!,
      ],
      deny: denyOthers(n, [b.results!]),
    },
    subscribe: { allow: [inboxOf('action-service')], deny: foreignInboxes('action-service') },
  };

  const dashboard: RolePermissions = {
    // Nothing but the JetStream API calls that read the stats history (`journeys report`, the alerts seed of
    // `journeys stats`): `$JS.API.INFO` (jetstreamManager checks the API) and reads of `<P>_STATS`.
    publish: { allow: [api('INFO'), ...streamReader(s.stats)], deny: denyOthers(n, []) },
    subscribe: {
      allow: [b.stats!, b.alerts!, b.decisions!, inboxOf('dashboard')],
      deny: foreignInboxes('dashboard'),
    },
  };

  const operatorAllow = [b.admin!, b.override!, ...verbs((v) => n.api(v))];
  const operator: RolePermissions = {
    publish: {
      allow: [
        ...operatorAllow,
        api('INFO'),
        api('STREAM.NAMES'),
        api('STREAM.LIST'),
        // Lag and health of every stream and consumer (`nats stream info`, `nats consumer info JRN_WORK work-critical`).
        ...runtimeStreams.flatMap((stream) => [
          api('STREAM.INFO', stream),
          api('CONSUMER.INFO', stream, '*'),
          api('CONSUMER.NAMES', stream),
          api('CONSUMER.LIST', stream),
        ]),
        // Reading dead letters, refusals, the audit trail and the stats history; changes go through `<p>.admin.>`.
        ...[s.dlq, s.rejects, s.audit, s.stats].flatMap((stream) => streamReader(stream)),
        // `journeys status`, `ls`, `defs ls`, `defs preview`, `nats kv get`.
        ...kvReader(n.buckets.executions),
        ...kvReader(n.buckets.definitions),
      ].filter(unique),
      deny: denyOthers(n, operatorAllow),
    },
    subscribe: {
      allow: [b.stats!, b.alerts!, b.decisions!, inboxOf('operator')],
      deny: foreignInboxes('operator'),
    },
  };

  return { runtime, publisher, 'action-service': actionService, dashboard, operator };
}

function unique<T>(v: T, i: number, all: readonly T[]): boolean {
  return all.indexOf(v) === i;
}

export interface ServerConfigOptions {
  /** Subject prefix. @default 'jrn' */
  prefix?: string;
  /** A node of a 3-node JetStream cluster (routes and server name from the environment) instead of a single server. */
  cluster?: boolean;
}

/** Environment variables the rendered config reads (besides the roles' passwords), with what they hold. */
export function configEnv(opts: ServerConfigOptions = {}): Record<string, string> {
  const passwords = Object.fromEntries(
    ROLES.map((r) => [ROLE_INFO[r].passwordEnv, `password of the \`${ROLE_INFO[r].user}\` user`]),
  );
  if (!opts.cluster) return passwords;
  return {
    ...passwords,
    JRN_NATS_SERVER_NAME: "this node's name, unique in the cluster (`nats-0`)",
    JRN_ROUTE_PASSWORD: 'password the nodes authenticate each other with on the route port',
    JRN_NATS_ROUTE_1: 'route URL of node 1, with the route credentials (`nats-route://route:<password>@nats-0:6222`)',
    JRN_NATS_ROUTE_2: 'route URL of node 2',
    JRN_NATS_ROUTE_3: 'route URL of node 3',
  };
}

const q = (v: string): string => JSON.stringify(v);

function list(key: string, subjects: readonly string[] | undefined, indent: string): string[] {
  if (!subjects || subjects.length === 0) return [];
  return [`${indent}${key}: [`, ...subjects.map((s) => `${indent}  ${q(s)}`), `${indent}]`];
}

/** One entry of the account's `users`, at `indent`. */
function renderUser(role: Role, p: RolePermissions, indent: string): string[] {
  const info = ROLE_INFO[role];
  const i1 = `${indent}  `;
  const i2 = `${i1}  `;
  const side = (name: 'publish' | 'subscribe', perm: SubjectPermission): string[] => [
    `${i2}${name}: {`,
    ...list('allow', perm.allow, `${i2}  `),
    ...list('deny', perm.deny, `${i2}  `),
    `${i2}}`,
  ];
  return [
    `${indent}# ${role}: ${info.who}; inbox prefix ${info.inboxPrefix}`,
    `${indent}{`,
    `${i1}user: ${q(info.user)}`,
    `${i1}password: $${info.passwordEnv}`,
    `${i1}permissions: {`,
    ...side('publish', p.publish),
    ...side('subscribe', p.subscribe),
    ...(p.allowResponses ? [`${i2}allow_responses: true`] : []),
    `${i1}}`,
    `${indent}}`,
  ];
}

/**
 * nats-server configuration text: JetStream on, one account for the prefix with one user per role. Ports, addresses and
 * the store folder are the usual defaults; `nats-server -c FILE -a ADDR -p PORT -m PORT -sd DIR` overrides them.
 */
export function renderServerConfig(opts: ServerConfigOptions = {}): string {
  const n = subjectNames(opts.prefix ?? 'jrn');
  const perms = rolePermissions(n);
  const lines = [
    `# nats-server configuration for the journey runtime (prefix "${n.prefix}"${opts.cluster ? ', one node of a 3-node cluster' : ''}).`,
    '# Generated by deploy/nats/generate.ts from runtime/roles.ts: do not edit by hand. Roles: deploy/nats/README.md.',
    `# Reads ${Object.keys(configEnv(opts)).join(', ')} from the environment.`,
    '',
    opts.cluster ? 'server_name: $JRN_NATS_SERVER_NAME' : `server_name: ${q(`${n.prefix}-nats`)}`,
    'listen: "0.0.0.0:4222"',
    '# Monitoring (/varz, /jsz): Prometheus exporters and the KEDA nats-jetstream scaler read it.',
    'http_port: 8222',
    'max_payload: 1048576',
    '',
    'jetstream {',
    '  store_dir: "/data"',
    '}',
    '',
  ];
  if (opts.cluster) {
    lines.push(
      'cluster {',
      `  name: ${q(n.prefix)}`,
      '  listen: "0.0.0.0:6222"',
      '  authorization {',
      '    user: "route"',
      '    password: $JRN_ROUTE_PASSWORD',
      '  }',
      '  # All three nodes, this one included.',
      '  routes: [',
      '    $JRN_NATS_ROUTE_1',
      '    $JRN_NATS_ROUTE_2',
      '    $JRN_NATS_ROUTE_3',
      '  ]',
      '}',
      '',
    );
  }
  lines.push(
    '# One account: every role sees the same streams; permissions decide who may do what.',
    'accounts {',
    `  ${n.prefix.toUpperCase()}: {`,
    '    jetstream: enabled',
    '    users: [',
    ...ROLES.flatMap((r) => renderUser(r, perms[r], '      ')),
    '    ]',
    '  }',
    '}',
    '',
  );
  return lines.join('\n');
}
