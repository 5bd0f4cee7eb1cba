/**
 * What `kubectl apply -k <dir>` would apply, for the subset of kustomize the files here use, so CI can check the
 * objects of each overlay without kustomize (not installed here): `resources` (manifest files and directories with a
 * kustomization), `namespace`, `patches` (strategic-merge patches of maps, where `null` deletes a field), `images`
 * (`newName`, `newTag`). Anything else is refused rather than ignored, and so is a patch holding a list: kustomize
 * merges some lists by key (containers by name), which this does not model.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
} & Record<string, unknown>;

export interface Kustomization {
  namespace?: string;
  resources?: string[];
  patches?: { path: string }[];
  images?: { name: string; newName?: string; newTag?: string }[];
}

const KUSTOMIZATION_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'patches', 'images']);

/** Every YAML document of a file, refusing files that do not parse. */
export function loadManifests(file: string): K8sObject[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: K8sObject[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const obj = doc.toJS() as K8sObject | null;
    if (obj !== null) out.push(obj);
  }
  return out;
}

/** `dir/kustomization.yaml`, checked against the subset above. */
export function readKustomization(dir: string): Kustomization {
  const [k] = loadManifests(join(dir, 'kustomization.yaml'));
  if (k?.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || k.kind !== 'Kustomization') {
    throw new Error(`${dir}/kustomization.yaml: not a kustomize.config.k8s.io/v1beta1 Kustomization`);
  }
  const unknown = Object.keys(k).filter((key) => !KUSTOMIZATION_KEYS.has(key));
  if (unknown.length > 0)
    throw new Error(`${dir}/kustomization.yaml: ${unknown.join(', ')} not modelled by deploy/k8s/build.ts`);
  return k as Kustomization;
}

/** The files a kustomization names, resolved: directories (with their own kustomization), manifests, patches. */
export function references(dir: string): { dirs: string[]; files: string[]; patches: string[] } {
  const k = readKustomization(dir);
  const dirs: string[] = [];
  const files: string[] = [];
  for (const r of k.resources ?? []) {
    const path = resolve(dir, r);
    if (!existsSync(path)) throw new Error(`${dir}/kustomization.yaml: ${r} does not exist`);
    if (!statSync(path).isDirectory()) files.push(path);
    else if (existsSync(join(path, 'kustomization.yaml'))) dirs.push(path);
    else throw new Error(`${dir}/kustomization.yaml: ${r} is a directory without a kustomization.yaml`);
  }
  const patches = (k.patches ?? []).map((p) => {
    const path = resolve(dir, p.path);
    if (!existsSync(path)) throw new Error(`${dir}/kustomization.yaml: patch ${p.path} does not exist`);
    return path;
  });
  return { dirs, files, patches };
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A strategic-merge patch of maps: `null` deletes, maps merge, anything else replaces. */
function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>, at: string): void {
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete target[key];
    else if (Array.isArray(value)) throw new Error(`patch ${at}.${key}: lists are not modelled by deploy/k8s/build.ts`);
    else if (isMap(value) && isMap(target[key])) mergePatch(target[key], value, `${at}.${key}`);
    else target[key] = structuredClone(value);
  }
}

/** Container and init-container lists of a workload's pod template. */
function containersOf(obj: K8sObject): { image?: string }[] {
  const spec = (obj['spec'] as { template?: { spec?: Record<string, unknown> } } | undefined)?.template?.spec;
  return [...((spec?.['containers'] as []) ?? []), ...((spec?.['initContainers'] as []) ?? [])];
}

function setImage(obj: K8sObject, images: NonNullable<Kustomization['images']>): void {
  for (const c of containersOf(obj)) {
    if (!c.image) continue;
    // `registry:5000/name:tag`: the tag is after the last colon that follows the last slash.
    const colon = c.image.lastIndexOf(':');
    const [name, tag] =
      colon > c.image.lastIndexOf('/') ? [c.image.slice(0, colon), c.image.slice(colon + 1)] : [c.image, undefined];
    const rule = images.find((i) => i.name === name);
    if (rule) c.image = `${rule.newName ?? name}:${rule.newTag ?? tag ?? 'latest'}`;
  }
}

/** The objects `kubectl apply -k dir` would apply (within the subset above). */
export function build(dir: string): K8sObject[] {
  const k = readKustomization(dir);
  const refs = references(dir);
  const objects = [...refs.dirs.flatMap(build), ...refs.files.flatMap(loadManifests)].map((o) => structuredClone(o));
  for (const file of refs.patches) {
    for (const patch of loadManifests(file)) {
      const target = objects.find((o) => o.kind === patch.kind && o.metadata.name === patch.metadata.name);
      if (!target) throw new Error(`${file}: no ${patch.kind} ${patch.metadata.name} to patch`);
      // apiVersion, kind and metadata say what to patch; the rest is the patch.
      const body = Object.fromEntries(
        Object.entries(patch).filter(([key]) => !['apiVersion', 'kind', 'metadata'].includes(key)),
      );
      mergePatch(target, body, `${patch.kind}/${patch.metadata.name}`);
    }
  }
  for (const o of objects) {
    if (k.namespace) o.metadata.namespace = k.namespace;
    if (k.images) setImage(o, k.images);
  }
  return objects;
}
