/**
 * deploy/k8s (kustomize base, overlays, monitoring, autoscaling, secret templates) and deploy/helm/nats-values.yaml,
 * without a cluster: every manifest validates against its schema (kubernetes-models, @kubernetes-models/keda,
 * @kubernetes-models/prometheus-operator), the kustomize tree names only files that exist and leaves none out, and the
 * facts that tie the files to the code hold: stream, consumer and account names, environment variables, ports, probe
 * paths, metric names, the NATS roles. Those are read from the code itself, so renaming one there fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parser as promql } from '@prometheus-io/lezer-promql';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IService } from 'kubernetes-models/v1/Service';
import { ScaledObject, type IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import {
  PrometheusRule,
  ServiceMonitor,
  type IServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { TIERS } from '../actors/priority.ts';
import { DEFAULT_SCALING_CONFIG } from '../actors/scaling-policy.ts';
import { build, loadManifests, references, type K8sObject } from '../deploy/k8s/build.ts';
import { GENERATED_FILES } from '../deploy/k8s/generate.ts';
import { parseActionsFile } from '../runtime/action-config.ts';
import { assertSafeCas, versionAtLeast } from '../runtime/engine/streams.ts';
import { createMetrics } from '../runtime/metrics.ts';
import { ROLES, ROLE_INFO, rolePermissions, type SubjectPermission } from '../runtime/roles.ts';
import { names } from '../runtime/subjects.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const K8S = join(ROOT, 'deploy/k8s');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const rel = (path: string): string => relative(ROOT, path);

function filesUnder(dir: string, ext: RegExp): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name), ext) : ext.test(e.name) ? [join(dir, e.name)] : [],
  );
}

// ---- what the code says -----------------------------------------------------------------------------------------

/** Environment variables the runtime reads: `env['NAME']` and the connection module's `get('NAME')`. */
function envReadByRuntime(): Set<string> {
  const found = new Set<string>();
  for (const file of filesUnder(join(ROOT, 'runtime'), /\.ts$/)) {
    for (const m of readFileSync(file, 'utf8').matchAll(
      /\benv\[['"]([A-Z][A-Z0-9_]*)['"]\]|\bget\(['"]([A-Z][A-Z0-9_]*)['"]\)/g,
    )) {
      found.add((m[1] ?? m[2])!);
    }
  }
  return found;
}

/** The paths runtime/http.ts answers, and the HTTP port `journeys run` listens on without HTTP_PORT. */
const httpPaths = [...read('runtime/http.ts').matchAll(/path === '(\/[a-z]*)'/g)].map((m) => m[1]!);
const defaultHttpPort = Number(/env\['HTTP_PORT'\] \?\? (\d+)/.exec(read('runtime/serve.ts'))?.[1]);
/** `journeys run` gives up on a stop after this long (runtime/cli/run.ts). */
const stopTimeoutMs = Number(/STOP_TIMEOUT_MS = ([\d_]+)/.exec(read('runtime/cli/run.ts'))?.[1]?.replaceAll('_', ''));

/** The account, client port and monitoring port of the shipped NATS configuration (deploy/nats, from runtime/roles.ts). */
const clusterConf = read('deploy/nats/cluster.conf');
const natsAccount = /^accounts \{\n\s+(\w+): \{/m.exec(clusterConf)?.[1];
const natsClientPort = Number(/^listen: "[\d.]+:(\d+)"/m.exec(clusterConf)?.[1]);
const natsMonitorPort = Number(/^http_port: (\d+)/m.exec(clusterConf)?.[1]);

const metricNames = async (): Promise<string[]> =>
  (await createMetrics(() => undefined).registry.getMetricsAsJSON()).map((m) => m.name);

// ---- what the files say -----------------------------------------------------------------------------------------

type Model = new (data: never) => { validate(): void };
const MODELS: Record<string, Model> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

const yamlFiles = filesUnder(K8S, /\.ya?ml$/);
const kustomizationDirs = yamlFiles.filter((f) => basename(f) === 'kustomization.yaml').map(dirname);
/** Manifests, as opposed to kustomizations and the patches they name (partial objects). Throws on a broken tree. */
const manifestFiles = (): string[] => {
  const patches = new Set(kustomizationDirs.flatMap((d) => references(d).patches));
  return yamlFiles.filter((f) => basename(f) !== 'kustomization.yaml' && !patches.has(f));
};
const overlays = readdirSync(join(K8S, 'overlays')).map((d) => join(K8S, 'overlays', d));

const one = <T>(objects: K8sObject[], kind: string): T => {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as unknown as T;
};
const runtimeContainer = (d: IDeployment): IContainer =>
  d.spec!.template.spec!.containers.find((c) => c.name === 'runtime')!;
const subsetOf = (labels: Record<string, string> | undefined, of: Record<string, string> | undefined): boolean =>
  Object.keys(labels ?? {}).length > 0 && Object.entries(labels ?? {}).every(([k, v]) => of?.[k] === v);

/** The container's environment as `journeys run` sees it: `envFrom` ConfigMaps of the build, then `env`. */
function containerEnv(
  objects: K8sObject[],
  c: IContainer,
): Map<string, { value?: string; secret?: { name: string; key: string } }> {
  const env = new Map<string, { value?: string; secret?: { name: string; key: string } }>();
  for (const from of c.envFrom ?? []) {
    expect(from.secretRef, 'envFrom secretRef is not modelled here').toBeUndefined();
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === from.configMapRef?.name);
    expect(cm, `ConfigMap ${from.configMapRef?.name}`).toBeDefined();
    for (const [k, v] of Object.entries((cm!['data'] ?? {}) as Record<string, string>)) env.set(k, { value: v });
  }
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    env.set(e.name, ref ? { secret: { name: ref.name!, key: ref.key } } : { value: e.value ?? '' });
  }
  return env;
}

/** Kubernetes quantities in bytes or cores: `512Mi`, `2Gi`, `500m`, `1`. */
function quantity(q: string | number | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|k|M|G)?$/.exec(String(q));
  if (!m) throw new Error(`quantity ${q}`);
  const unit = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

const lagScaledObject = (): IScaledObject =>
  loadManifests(join(K8S, 'autoscaling/lag/scaledobject.yaml'))[0] as unknown as IScaledObject;
const desiredScaledObject = (): IScaledObject =>
  loadManifests(join(K8S, 'autoscaling/desired-replicas/scaledobject.yaml'))[0] as unknown as IScaledObject;
const baseEnv = (): Map<string, { value?: string }> => {
  const objects = build(join(K8S, 'base'));
  return containerEnv(objects, runtimeContainer(one<IDeployment>(objects, 'Deployment')));
};
/** The parts of deploy/helm/nats-values.yaml checked here (the chart's value layout). */
interface HelmValues {
  config: {
    cluster: { enabled: boolean; replicas: number };
    jetstream: { enabled: boolean; fileStore: { pvc: { size: string } } };
    monitor: { enabled: boolean; port: number };
    merge: { accounts: Record<string, { jetstream: string; users: HelmUser[] }> };
  };
  container: { image: { tag: string }; env: Record<string, { valueFrom?: { secretKeyRef?: { key: string } } }> };
  podDisruptionBudget: { enabled: boolean };
  podTemplate: { topologySpreadConstraints: Record<string, unknown> };
}
interface HelmUser {
  user: string;
  password: string;
  permissions: { publish: SubjectPermission; subscribe: SubjectPermission; allow_responses?: boolean };
}
const helmValues = (): HelmValues => parse(read('deploy/helm/nats-values.yaml')) as HelmValues;

describe('deploy/k8s manifests', () => {
  it('deploy-k8s - every manifest parses and validates against its schema, in its file and in each overlay', () => {
    expect(manifestFiles().length).toBeGreaterThan(10);
    const check = (o: K8sObject, where: string): void => {
      const model = MODELS[`${o.apiVersion}/${o.kind}`];
      expect(model, `${where}: ${o.apiVersion} ${o.kind} has no schema here`).toBeDefined();
      // The models fill in apiVersion and kind themselves: the file's own were checked just above.
      expect(
        () => new model!(structuredClone(o) as never).validate(),
        `${where}: ${o.kind} ${o.metadata?.name}`,
      ).not.toThrow();
    };
    for (const file of manifestFiles()) for (const o of loadManifests(file)) check(o, rel(file));
    for (const dir of overlays) for (const o of build(dir)) check(o, rel(dir));
  });

  it('deploy-k8s - kustomizations name only files that exist, and every file is named by one', () => {
    const named = new Set(kustomizationDirs.flatMap((d) => [...references(d).files, ...references(d).patches]));
    for (const file of yamlFiles.filter((f) => basename(f) !== 'kustomization.yaml')) {
      expect(named.has(file), `${rel(file)} is in no kustomization`).toBe(true);
    }
    // Every directory a kustomization names is itself one, and the overlays build.
    expect(overlays.map((d) => basename(d)).sort()).toEqual(['dev', 'production']);
    for (const dir of overlays) expect(build(dir).length).toBeGreaterThan(5);
  });

  it('deploy-k8s - no HorizontalPodAutoscaler anywhere, and at most one ScaledObject in each overlay', () => {
    for (const file of manifestFiles()) {
      for (const o of loadManifests(file)) expect(o.kind, rel(file)).not.toBe('HorizontalPodAutoscaler');
    }
    for (const dir of overlays) {
      const objects = build(dir);
      const deployment = one<IDeployment>(objects, 'Deployment');
      const scalers = objects.filter((o) => o.kind === 'ScaledObject') as unknown as IScaledObject[];
      expect(scalers.length, `${rel(dir)}: two ScaledObjects are two HPAs fighting`).toBeLessThanOrEqual(1);
      for (const so of scalers) {
        expect(so.spec.scaleTargetRef.name).toBe(deployment.metadata!.name);
        expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(2);
        // The HPA owns the count: a replicas field would be reset by every apply.
        expect(deployment.spec!.replicas, `${rel(dir)}: Deployment replicas under KEDA`).toBeUndefined();
        // The supervisor's metric comes through Prometheus: its overlay must scrape the pods.
        if (so.spec.triggers.some((t) => t.type === 'prometheus')) one(objects, 'ServiceMonitor');
      }
      if (scalers.length === 0) expect(deployment.spec!.replicas, rel(dir)).toBeGreaterThanOrEqual(2);
    }
  });

  it('deploy-k8s - the pod runs locked down, spread over nodes, sized from the benchmarks, with time to stop', () => {
    for (const dir of overlays) {
      const objects = build(dir);
      const d = one<IDeployment>(objects, 'Deployment');
      const pod = d.spec!.template.spec!;
      const c = runtimeContainer(d);
      const labels = d.spec!.template.metadata!.labels;
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 1000,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
      expect(c.securityContext?.capabilities?.drop).toContain('ALL');
      expect(c.securityContext?.privileged).not.toBe(true);
      expect(pod.automountServiceAccountToken).toBe(false);
      const sa = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === pod.serviceAccountName);
      expect(sa?.['automountServiceAccountToken']).toBe(false);
      // A read-only root filesystem: /tmp is a volume.
      const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
      expect(pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
      // Spread by node, over the pods of this Deployment.
      const byNode = pod.topologySpreadConstraints?.find((t) => t.topologyKey === 'kubernetes.io/hostname');
      expect(byNode?.whenUnsatisfiable).toBe('DoNotSchedule');
      expect(subsetOf(byNode?.labelSelector?.matchLabels, labels)).toBe(true);
      // preStop, then SIGTERM and the runtime's own stop timeout, all before the kubelet's SIGKILL.
      const preStopS = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
      expect(stopTimeoutMs).toBeGreaterThan(0);
      expect(pod.terminationGracePeriodSeconds!).toBeGreaterThan(preStopS + stopTimeoutMs / 1000);
      // README "Benchmarks": 410 MB peak RSS while 100k parked executions fall due; the supervisor bounds handlers by
      // memory assuming DEFAULT_SCALING_CONFIG.memoryLimitBytes.
      const { requests, limits } = c.resources!;
      expect(quantity(requests!['memory'])).toBeGreaterThanOrEqual(410e6);
      expect(quantity(limits!['memory'])).toBeGreaterThanOrEqual(DEFAULT_SCALING_CONFIG.memoryLimitBytes);
      expect(quantity(requests!['cpu'])).toBeLessThanOrEqual(quantity(limits!['cpu']));
    }
  });

  it('deploy-k8s - probes, ports, Service, ServiceMonitor and policies point at what the runtime serves', () => {
    expect(httpPaths).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics']));
    for (const dir of overlays) {
      const objects = build(dir);
      const d = one<IDeployment>(objects, 'Deployment');
      const c = runtimeContainer(d);
      const labels = d.spec!.template.metadata!.labels;
      const port = c.ports?.find((p) => p.name === 'http');
      expect(port?.containerPort).toBe(defaultHttpPort);
      expect(containerEnv(objects, c).get('HTTP_PORT')?.value).toBe(String(port?.containerPort));
      expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
      expect(c.startupProbe?.httpGet?.path).toBe('/healthz');
      expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
      for (const probe of [c.livenessProbe, c.startupProbe, c.readinessProbe]) {
        expect(httpPaths).toContain(probe?.httpGet?.path);
        expect(probe?.httpGet?.port).toBe(port?.name);
      }
      const svc = one<IService>(objects, 'Service');
      expect(subsetOf(svc.spec!.selector, labels)).toBe(true);
      expect(svc.spec!.ports?.map((p) => p.targetPort)).toContain(port?.name);
      const pdb = one<IPodDisruptionBudget>(objects, 'PodDisruptionBudget');
      expect(subsetOf(pdb.spec!.selector?.matchLabels, labels)).toBe(true);
      const np = one<INetworkPolicy>(objects, 'NetworkPolicy');
      expect(subsetOf(np.spec!.podSelector?.matchLabels, labels)).toBe(true);
      expect(np.spec!.ingress?.flatMap((r) => r.ports?.map((p) => p.port))).toEqual([port?.containerPort]);
      // Egress: the NATS client port of deploy/nats and of NATS_URL, and DNS; nothing else.
      const egress = np.spec!.egress?.flatMap((r) => r.ports?.map((p) => p.port) ?? []) ?? [];
      expect(new Set(egress)).toEqual(new Set([natsClientPort, 53]));
      expect(new URL(containerEnv(objects, c).get('NATS_URL')!.value!).port).toBe(String(natsClientPort));
      for (const sm of objects.filter((o) => o.kind === 'ServiceMonitor') as unknown as IServiceMonitor[]) {
        expect(subsetOf(sm.spec.selector.matchLabels, svc.metadata!.labels)).toBe(true);
        for (const e of sm.spec.endpoints ?? []) {
          expect(svc.spec!.ports?.map((p) => p.name)).toContain(e.port);
          expect(httpPaths).toContain(e.path);
        }
      }
    }
  });

  it('deploy-k8s - every variable the Deployment sets is one the runtime reads, with the values deploy/nats expects', () => {
    const readByRuntime = envReadByRuntime();
    // The scan itself works: names the runtime certainly reads are found.
    expect([...readByRuntime]).toEqual(
      expect.arrayContaining(['NATS_URL', 'NATS_PASSWORD', 'HTTP_PORT', 'JRN_PREFIX']),
    );
    const secretTemplates = filesUnder(join(K8S, 'secrets'), /\.yaml$/)
      .filter((f) => basename(f) !== 'kustomization.yaml')
      .flatMap(loadManifests);
    for (const dir of overlays) {
      const objects = build(dir);
      const d = one<IDeployment>(objects, 'Deployment');
      const env = containerEnv(objects, runtimeContainer(d));
      for (const name of env.keys())
        expect(readByRuntime.has(name), `${rel(dir)}: ${name} is read nowhere in runtime/`).toBe(true);
      expect(env.get('NATS_USER')?.value).toBe(ROLE_INFO.runtime.user);
      expect(env.get('NATS_INBOX_PREFIX')?.value).toBe(ROLE_INFO.runtime.inboxPrefix);
      expect(env.get('HTTP_HOST')?.value).toBe('0.0.0.0');
      // Secrets come from the templates in deploy/k8s/secrets, in the same namespace.
      for (const [name, { secret }] of env) {
        if (!secret) continue;
        const template = secretTemplates.find((s) => s.metadata.name === secret.name);
        expect(template, `${name}: Secret ${secret.name}`).toBeDefined();
        expect(Object.keys((template!['stringData'] ?? {}) as object), `${name}: key ${secret.key}`).toContain(
          secret.key,
        );
      }
      expect(env.get('NATS_PASSWORD')?.secret).toBeDefined();
      // The actions file is mounted from a ConfigMap and passes the runtime's own checks.
      const actionsPath = env.get('JRN_ACTIONS')!.value!;
      const mount = runtimeContainer(d).volumeMounts?.find((m) => m.mountPath === dirname(actionsPath));
      const volume = d.spec!.template.spec!.volumes?.find((v) => v.name === mount?.name);
      const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === volume?.configMap?.name);
      const text = (cm?.['data'] as Record<string, string> | undefined)?.[basename(actionsPath)];
      expect(text, `${actionsPath} in ConfigMap ${volume?.configMap?.name}`).toBeDefined();
      expect(() => parseActionsFile(text!, actionsPath)).not.toThrow();
    }
    // Streams and buckets with three replicas on the chart's three servers; one on the dev overlay's single server.
    const replicasOf = (overlay: string): string | undefined =>
      containerEnv(
        build(join(K8S, 'overlays', overlay)),
        runtimeContainer(one(build(join(K8S, 'overlays', overlay)), 'Deployment')),
      ).get('JRN_REPLICAS')?.value;
    expect(replicasOf('production')).toBe(String(helmValues().config.cluster.replicas));
    expect(replicasOf('dev')).toBe('1');
  });
});

describe('deploy/k8s autoscaling', () => {
  it("deploy-k8s - the lag triggers watch the runtime's work stream and tier consumers in deploy/nats's account", () => {
    const prefix = baseEnv().get('JRN_PREFIX')!.value!;
    const n = names(prefix);
    const so = lagScaledObject();
    const natsUrl = new URL(baseEnv().get('NATS_URL')!.value!);
    // The chart's client service is `<release>.<namespace>.svc…`; its headless service `<release>-headless`.
    const [release, namespace] = natsUrl.hostname.split('.');
    expect(so.spec.triggers.map((t) => t.metadata['consumer']).sort()).toEqual(
      TIERS.map((t) => n.workConsumer(t)).sort(),
    );
    for (const t of so.spec.triggers) {
      expect(t.type).toBe('nats-jetstream');
      expect(t.metadata['stream']).toBe(n.streams.work);
      expect(t.metadata['account']).toBe(natsAccount);
      expect(t.metadata['natsServerMonitoringEndpoint']).toBe(
        `${release}-headless.${namespace}.svc.cluster.local:${natsMonitorPort}`,
      );
      // Named after its tier: the formula below refers to the names.
      expect(n.workConsumer(t.name as (typeof TIERS)[number])).toBe(t.metadata['consumer']);
    }
    // Lower thresholds for higher tiers: a critical backlog asks for pods sooner.
    const threshold = (tier: string): number =>
      Number(so.spec.triggers.find((t) => t.name === tier)!.metadata['lagThreshold']);
    for (let i = 1; i < TIERS.length; i++) expect(threshold(TIERS[i - 1]!)).toBeLessThan(threshold(TIERS[i]!));
    expect(so.spec.maxReplicaCount).toBe(DEFAULT_SCALING_CONFIG.maxReplicas);
  });

  it('deploy-k8s - the lag formula weighs each tier by target / lagThreshold, in replica units', () => {
    const so = lagScaledObject();
    // Not in @kubernetes-models/keda 0.4's schema (KEDA >= 2.13), so checked here field by field.
    const sm = (so.spec.advanced as { scalingModifiers?: Record<string, string> }).scalingModifiers!;
    expect(Object.keys(sm).sort()).toEqual(['formula', 'metricType', 'target']);
    expect(sm['metricType']).toBe('AverageValue');
    const target = Number(sm['target']);
    const terms = sm['formula']!.split('+').map((term) => {
      const m = /^\s*([a-z]+)\s*(?:\*\s*(\d+(?:\.\d+)?))?\s*$/.exec(term);
      expect(m, `formula term "${term}"`).not.toBeNull();
      return { name: m![1]!, weight: Number(m![2] ?? 1) };
    });
    expect(terms.map((t) => t.name).sort()).toEqual(so.spec.triggers.map((t) => t.name).sort());
    for (const { name, weight } of terms) {
      const threshold = Number(so.spec.triggers.find((t) => t.name === name)!.metadata['lagThreshold']);
      expect(weight * threshold, `${name}: weight ${weight} x lagThreshold ${threshold}`).toBe(target);
    }
  });

  it("deploy-k8s - the desired-replicas trigger queries the supervisor's metric, which the runtime exports", async () => {
    const so = desiredScaledObject();
    const [t] = so.spec.triggers;
    expect(so.spec.triggers).toHaveLength(1);
    expect(t!.type).toBe('prometheus');
    const query = t!.metadata['query']!;
    let syntaxError = false;
    promql.parse(query).iterate({ enter: (node) => void (node.type.isError && (syntaxError = true)) });
    expect(syntaxError, query).toBe(false);
    const exported = await metricNames();
    expect(query).toContain('journeys_desired_replicas');
    for (const name of query.match(/journeys_[a-z_]+/g) ?? []) expect(exported).toContain(name);
    // One pod per unit of the metric, up to the supervisor's own ceiling, in the namespace the overlays use.
    expect(t!.metadata['threshold']).toBe('1');
    expect(so.spec.maxReplicaCount).toBe(DEFAULT_SCALING_CONFIG.maxReplicas);
    const namespace = build(join(K8S, 'overlays/production'))[0]!.metadata.namespace;
    expect(query).toContain(`namespace="${namespace}"`);
  });
});

describe('generated deploy files', () => {
  it('deploy-k8s - the PrometheusRule and the Helm roles are current (deploy/k8s/generate.ts --check)', () => {
    for (const { file, render } of GENERATED_FILES) {
      const current = readFileSync(join(K8S, file), 'utf8');
      expect(render(current), `${file} is stale: run npx tsx deploy/k8s/generate.ts`).toBe(current);
    }
    const rule = loadManifests(join(K8S, 'monitoring/prometheusrule.yaml'))[0]!;
    expect((rule['spec'] as { groups: unknown }).groups).toEqual(
      (parse(read('deploy/prometheus/alerts.yml')) as { groups: unknown }).groups,
    );
  });

  it('deploy-k8s - the Helm values give every role of runtime/roles.ts its user, permissions and password variable', () => {
    const values = helmValues();
    const accounts = values.config.merge.accounts;
    expect(Object.keys(accounts)).toEqual([natsAccount]);
    const { users } = accounts[natsAccount!]!;
    const perms = rolePermissions(names('jrn'));
    expect(users.map((u) => u.user)).toEqual(ROLES.map((r) => ROLE_INFO[r].user));
    for (const role of ROLES) {
      const u = users.find((x) => x.user === ROLE_INFO[role].user)!;
      const want = perms[role];
      expect(u.password).toBe(`<< $${ROLE_INFO[role].passwordEnv} >>`);
      expect(u.permissions.publish.allow).toEqual(want.publish.allow);
      expect(u.permissions.publish.deny ?? []).toEqual(want.publish.deny ?? []);
      expect(u.permissions.subscribe.allow).toEqual(want.subscribe.allow);
      expect(u.permissions.subscribe.deny ?? []).toEqual(want.subscribe.deny ?? []);
      expect(u.permissions.allow_responses ?? false).toBe(want.allowResponses ?? false);
      // The server reads the password from the container's environment, filled from a Secret.
      const env = values.container.env[ROLE_INFO[role].passwordEnv];
      expect(env?.valueFrom?.secretKeyRef?.key).toBe(ROLE_INFO[role].passwordEnv);
    }
  });

  it('deploy-k8s - the Helm values ask the chart for 3 JetStream servers on file storage, >= 2.10, monitored on 8222', () => {
    const values = helmValues();
    // Top-level keys of the chart's values.yaml (nats-io/k8s, chart 1.x): a misspelt one would be ignored silently.
    const chartKeys = [
      'global',
      'nameOverride',
      'fullnameOverride',
      'namespaceOverride',
      'config',
      'container',
      'reloader',
      'promExporter',
      'service',
      'statefulSet',
      'podTemplate',
      'headlessService',
      'configMap',
      'podDisruptionBudget',
      'serviceAccount',
      'natsBox',
      'extraResources',
    ];
    for (const key of Object.keys(values)) expect(chartKeys, `top-level key ${key}`).toContain(key);
    const config = values.config;
    expect(config.cluster).toMatchObject({ enabled: true, replicas: 3 });
    expect(config.jetstream.enabled).toBe(true);
    expect(config.jetstream.fileStore.pvc.size).toMatch(/^\d+(Gi|Ti)$/);
    expect(config.monitor).toEqual({ enabled: true, port: natsMonitorPort });
    expect(values.podDisruptionBudget.enabled).toBe(true);
    expect(Object.keys(values.podTemplate.topologySpreadConstraints)).toContain('kubernetes.io/hostname');
    const tag = values.container.image.tag;
    expect(versionAtLeast(tag, [2, 10, 0]), tag).toBe(true);
    // The runtime itself accepts this server for replicated buckets.
    expect(() => assertSafeCas(tag, config.cluster.replicas)).not.toThrow();
  });
});
