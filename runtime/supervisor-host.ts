/**
 * Hosts the supervisor machine (R16–R18) in one runtime instance: every tick it measures (consumer lag per tier, this
 * process's completion rates and latency, live instances, memory, the wedding calendar), lets the machine decide, applies
 * the per-tier concurrency to the dispatcher, and publishes every change on `<p>.supervisor.decisions` and the audit stream.
 * The snapshot is persisted, so a restarted instance resumes the policy (cooldowns, overrides) where it was.
 */
import { createActor, type Actor } from 'xstate';
import { headers, type Msg, type Subscription } from '@nats-io/transport-node';
import { TIERS, type Tier } from '../actors/priority.ts';
import { scalingConfigWith, type ScalingConfigOverrides, type TierLoad } from '../actors/scaling-policy.ts';
import { currentConcurrency, currentReplicas, supervisorMachine, supervisorSnapshotProblem, type DecisionRecord, type SupervisorContext } from '../actors/supervisor.ts';
import { addDaysToDate, localDate } from '../actors/time.ts';
import type { Clock } from './clock.ts';
import { decodeText, encodeJson } from './codec.ts';
import { RejectedError, errorMessage } from './errors.ts';
import { parseOverride } from './inbound.ts';
import type { WeddingCalendar } from './calendar.ts';
import type { RuntimeParts } from './parts.ts';

export interface SupervisorHostOptions {
  runtime: RuntimeParts;
  calendar: WeddingCalendar;
  clock: Clock;
  instanceId: string;
  config?: ScalingConfigOverrides;
  /** @default 5000 (the machine reacts within one tick; R18 asks for 30 s) */
  tickMs?: number;
  /** Live instances (from stats heartbeats); 1 when unknown. */
  instances(): number;
  /** p99 step latency per tier over the last stats window, in ms. */
  p99(tier: Tier): number;
  /** A tier's queue across the cluster: the consumer's undelivered messages and those delivered and not yet acknowledged. */
  queue(tier: Tier): { pending: number; ackPending: number };
  onDecision?(d: DecisionRecord): void;
  /** After every evaluation, with the factors it used (whether or not the allocation changed). */
  onFactors?(f: NonNullable<SupervisorContext['current']>['factors']): void;
  onError(err: unknown): void;
}

const SNAPSHOT_KEY = 'supervisor.snapshot';

export class SupervisorHost {
  readonly #o: SupervisorHostOptions;
  #actor: Actor<typeof supervisorMachine> | undefined;
  #cancel: (() => void) | undefined;
  #sub: Subscription | undefined;
  #lastHandled: Record<Tier, number> = { critical: 0, high: 0, medium: 0, low: 0 };
  #lastTickAt = 0;
  #busy = false;
  #stopped = false;

  constructor(opts: SupervisorHostOptions) {
    this.#o = opts;
  }

  get replicas(): number {
    return this.#actor ? currentReplicas(this.#actor.getSnapshot()) : 1;
  }

  get snapshot() {
    return this.#actor?.getSnapshot();
  }

  async start(): Promise<void> {
    scalingConfigWith(this.#o.config ?? {}); // a bad config throws here, instead of putting the machine in error
    const saved = await this.#o.runtime.topology.runtime.get(SNAPSHOT_KEY).catch(() => null);
    this.#actor = this.#restore(saved?.value);
    this.#apply();
    this.#lastHandled = { ...this.#o.runtime.dispatcher.handled };
    this.#lastTickAt = this.#o.clock.now();
    // Operator overrides reach every instance (no queue group); each one answers, and `journeys scale` lists them all.
    this.#sub = this.#o.runtime.nc.subscribe(`${this.#o.runtime.names.prefix}.supervisor.override`, {
      callback: (_err, msg) => this.#override(msg),
    });
    this.#arm();
  }

  /**
   * The machine as persisted, or a fresh one when what is stored does not parse, does not validate or would not run:
   * a bad snapshot is reported and replaced, never resumed into a crash on every restart.
   */
  #restore(saved: Uint8Array | undefined): Actor<typeof supervisorMachine> {
    const fresh = (): Actor<typeof supervisorMachine> => this.#started(createActor(supervisorMachine, { input: { config: this.#o.config ?? {} } }));
    if (!saved || saved.length === 0) return fresh();
    try {
      const snapshot = JSON.parse(decodeText(saved)) as unknown;
      const problem = supervisorSnapshotProblem(snapshot);
      if (problem) throw new Error(problem);
      const actor = this.#started(createActor(supervisorMachine, { snapshot: snapshot as never, input: {} }));
      if (actor.getSnapshot().status !== 'active') throw new Error(`resumed in status ${actor.getSnapshot().status}`);
      return actor;
    } catch (err) {
      this.#o.onError(new Error(`supervisor snapshot in KV is unusable, starting from the configuration: ${errorMessage(err)}`));
      return fresh();
    }
  }

  /** Starts `actor` with an error observer: a machine error is reported, never thrown at the process. */
  #started(actor: Actor<typeof supervisorMachine>): Actor<typeof supervisorMachine> {
    actor.subscribe({ error: (err) => this.#o.onError(err) });
    actor.start();
    return actor;
  }

  #override(msg: Msg): void {
    const now = this.#o.clock.now();
    try {
      const req = parseOverride(msg.data, now);
      if (req.clear) this.#actor!.send({ type: 'CLEAR_OVERRIDE', now, by: req.by });
      else this.#actor!.send({ type: 'OVERRIDE', now, until: req.until, by: req.by, ...(req.concurrency ? { concurrency: req.concurrency } : {}), ...(req.replicas !== undefined ? { replicas: req.replicas } : {}) });
      void this.#afterTransition().catch((err: unknown) => this.#o.onError(err));
      msg.respond(encodeJson({ ok: true, instance: this.#o.instanceId, concurrency: currentConcurrency(this.#actor!.getSnapshot()), replicas: this.replicas }));
    } catch (err) {
      if (!(err instanceof RejectedError)) {
        this.#o.onError(err);
        msg.respond(encodeJson({ ok: false, error: { code: 'INTERNAL', message: 'the override could not be applied; see the runtime log' } }));
        return;
      }
      msg.respond(encodeJson({ ok: false, error: { code: err.code, message: err.message } }));
      // Recorded like every other refused input (R30).
      const rt = this.#o.runtime;
      const record = { code: err.code, reason: err.message, subject: msg.subject, bytes: msg.data.byteLength, sample: decodeText(msg.data.subarray(0, 1024)), at: now };
      rt.js.publish(rt.names.rejects('override'), encodeJson(record)).catch((e: unknown) => this.#o.onError(e));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancel?.();
    this.#sub?.unsubscribe();
    this.#actor?.stop();
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#cancel = this.#o.clock.setTimer(() => {
      void this.tick().finally(() => this.#arm());
    }, this.#o.tickMs ?? 5_000);
  }

  /** Measures, decides, applies and publishes once. */
  async tick(): Promise<void> {
    if (this.#busy || this.#stopped || !this.#actor) return;
    this.#busy = true;
    try {
      const rt = this.#o.runtime;
      const now = this.#o.clock.now();
      const elapsedS = Math.max(0.001, (now - this.#lastTickAt) / 1000);
      const tiers = {} as Record<Tier, TierLoad>;
      for (const tier of TIERS) {
        const handled = rt.dispatcher.handled[tier];
        tiers[tier] = {
          ...this.#o.queue(tier),
          ratePerSec: (handled - this.#lastHandled[tier]) / elapsedS,
          p99Ms: this.#o.p99(tier),
        };
      }
      this.#lastHandled = { ...rt.dispatcher.handled };
      this.#lastTickAt = now;
      const calendar = await this.#o.calendar.upcoming(now, 7);
      // The weddings being served are those whose local day is today or tomorrow.
      const servedZones = calendar
        .filter((e) => {
          const today = localDate(now, e.timeZone);
          return e.date >= today && e.date <= addDaysToDate(today, 1);
        })
        .map((e) => ({ timeZone: e.timeZone, weddings: e.weddings }));
      this.#actor.send({
        type: 'TICK',
        now,
        inputs: { servedZones, tiers, instances: Math.max(1, this.#o.instances()), calendar, memoryUsedBytes: process.memoryUsage().rss },
      });
      await this.#afterTransition();
      const factors = this.#actor?.getSnapshot().context.current?.factors;
      if (factors) this.#o.onFactors?.(factors);
    } catch (err) {
      this.#o.onError(err);
    } finally {
      this.#busy = false;
    }
  }

  async #afterTransition(): Promise<void> {
    if (this.#stopped) return;
    const snap = this.#actor!.getSnapshot();
    if (snap.status !== 'active') {
      // Never persisted: a restart would resume the error. The policy starts again from its configuration.
      this.#o.onError(new Error(`supervisor machine stopped in status ${snap.status}: starting it again from the configuration`));
      this.#actor = this.#restore(undefined);
      this.#apply();
      return;
    }
    this.#apply();
    const d = snap.context.pendingDecision;
    if (!d) return;
    const rt = this.#o.runtime;
    const h = headers();
    h.set('Nats-Msg-Id', `scale:${this.#o.instanceId}:${d.seq}`);
    const body = encodeJson({ instance: this.#o.instanceId, ...d });
    rt.nc.publish(rt.names.decisions, body);
    await rt.js.publish(`${rt.names.prefix}.audit.scale`, body, { headers: h });
    await rt.topology.runtime.put(SNAPSHOT_KEY, JSON.stringify(this.#actor!.getPersistedSnapshot()));
    this.#o.onDecision?.(d);
  }

  #apply(): void {
    this.#o.runtime.dispatcher.setConcurrency(currentConcurrency(this.#actor!.getSnapshot()));
  }
}
