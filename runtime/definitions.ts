/**
 * Versioned registry of journey definitions in KV (R4): `<id>.v<version>` holds a definition (never changed once
 * written), `<id>.latest` the newest version number. Executions pin the version they started on, so deploying a new
 * version never changes one in flight. Compiled machines are cached per (id, version), which is safe because versions
 * are immutable.
 */
import type { KV } from '@nats-io/kv';
import { journeyExecutionMachine, type JourneyExecutionMachine } from '../actors/journey-execution.ts';
import type { JourneyDefinition } from '../schemas/journey-definition.ts';
import { DefinitionInvalidError, validateJourneyConfiguration } from '../schemas/validate.ts';
import { decodeText, encodeJson } from './codec.ts';
import { RejectedError, RuntimeError } from './errors.ts';
import { FREE_JSON_LIMITS, MAX_DOCUMENT_DEPTH, jsonLimitProblem, pathSegment } from './json-limits.ts';

const LATEST_TTL_MS = 2_000;

export interface DeployResult {
  id: string;
  version: number;
  /** False when this exact version was already deployed with the same content. */
  created: boolean;
}

export class DefinitionRegistry {
  readonly #kv: KV;
  readonly #defs = new Map<string, JourneyDefinition>();
  readonly #machines = new Map<string, JourneyExecutionMachine>();
  readonly #latest = new Map<string, { version: number; at: number }>();
  readonly #knownActions: readonly string[] | undefined;

  constructor(kv: KV, knownActions?: readonly string[]) {
    this.#kv = kv;
    this.#knownActions = knownActions;
  }

  /** Validates and stores a definition; refuses to change a deployed version (deploy a new version instead). */
  async deploy(doc: unknown): Promise<DeployResult> {
    const tooBig = limitProblem(doc);
    if (tooBig) throw new RejectedError('INVALID_PAYLOAD', tooBig);
    const result = validateJourneyConfiguration(doc, this.#knownActions ? { knownActions: this.#knownActions } : {});
    if (!result.ok) throw new DefinitionInvalidError(result.errors);
    const def = result.definition;
    const key = `${def.id}.v${def.version}`;
    const body = JSON.stringify(def);
    const existing = await this.#kv.get(key);
    let created = false;
    if (existing && existing.value.length > 0) {
      if (decodeText(existing.value) !== body) {
        throw new RejectedError('VERSION_EXISTS', `${def.id} version ${def.version} is already deployed with other content: deploy version ${def.version + 1}`);
      }
    } else {
      await this.#kv.create(key, encodeJson(def));
      created = true;
    }
    const latest = await this.#kv.get(`${def.id}.latest`);
    const current = latest?.value.length ? Number(decodeText(latest.value)) : 0;
    if (def.version > current) await this.#kv.put(`${def.id}.latest`, String(def.version));
    this.#latest.delete(def.id);
    return { id: def.id, version: def.version, created };
  }

  /** A definition by id and version (the latest when absent), or undefined. */
  async get(id: string, version?: number): Promise<JourneyDefinition | undefined> {
    const v = version ?? (await this.latestVersion(id));
    if (v === undefined) return undefined;
    const cacheKey = `${id}.v${v}`;
    const cached = this.#defs.get(cacheKey);
    if (cached) return cached;
    const e = await this.#kv.get(cacheKey);
    if (!e || e.value.length === 0) return undefined;
    const def = JSON.parse(decodeText(e.value)) as JourneyDefinition;
    this.#defs.set(cacheKey, def);
    return def;
  }

  async latestVersion(id: string): Promise<number | undefined> {
    const hit = this.#latest.get(id);
    if (hit && Date.now() - hit.at < LATEST_TTL_MS) return hit.version;
    const e = await this.#kv.get(`${id}.latest`);
    if (!e || e.value.length === 0) return undefined;
    const version = Number(decodeText(e.value));
    this.#latest.set(id, { version, at: Date.now() });
    return version;
  }

  /** The compiled execution machine of a deployed version. */
  async machine(id: string, version: number): Promise<{ def: JourneyDefinition; machine: JourneyExecutionMachine }> {
    const key = `${id}.v${version}`;
    const def = await this.get(id, version);
    if (!def) throw new RuntimeError('UNKNOWN_JOURNEY', `journey ${id} version ${version} is not deployed`);
    let machine = this.#machines.get(key);
    if (!machine) {
      machine = journeyExecutionMachine(def);
      this.#machines.set(key, machine);
    }
    return { def, machine };
  }

  /** Every deployed (id, latest version). */
  async list(): Promise<{ id: string; latest: number; name: string; vendorType: string }[]> {
    const out: { id: string; latest: number; name: string; vendorType: string }[] = [];
    const keys = await this.#kv.keys('*.latest');
    for await (const k of keys) {
      const id = k.slice(0, -'.latest'.length);
      const def = await this.get(id);
      if (def) out.push({ id, latest: def.version, name: def.name, vendorType: def.vendorType });
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }
}

/**
 * Each step's `params` (the one free JSON a definition holds) within the free-JSON limits, then the whole document within
 * {@link MAX_DOCUMENT_DEPTH}: validation, and the messages quoting a bad value, recurse through all of it.
 */
function limitProblem(doc: unknown): string | undefined {
  const steps = isObject(doc) ? doc['steps'] : undefined;
  for (const [id, step] of Object.entries(isObject(steps) ? steps : {})) {
    const params = isObject(step) ? step['params'] : undefined;
    const problem = params === undefined ? undefined : jsonLimitProblem(params, FREE_JSON_LIMITS, `$.steps${pathSegment(id)}.params`);
    if (problem) return problem;
  }
  return jsonLimitProblem(doc, { maxDepth: MAX_DOCUMENT_DEPTH, maxKeys: Number.POSITIVE_INFINITY });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
