/**
 * A simulation of Lambda containers running the lease protocol against one shared store, in virtual
 * time: random store and upstream latencies, failing and hanging upstream calls (a hung holder is stopped
 * by Lambda at the function timeout), crashed containers, per-container clocks that differ and step by
 * up to the skew bound, long idle gaps in which tokens and leases expire, and DynamoDB-like TTL sweeps.
 * It records every upstream fetch and every answer, and reports each broken invariant as a sentence:
 *
 * - never two live fetchers of one key (no two fetch intervals of a key overlap, in global time);
 * - never an expired token served (every token served is servable by the serving container's clock);
 * - every request answered by its deadline (plus one store round trip), with an expected error if not 200.
 */

import { fingerprintOf, InvalidRequestError, UpstreamUnavailableError } from '@tvs/client/contract';
import { DEFAULT_POLICY, type Need, type PolicySettings } from '@tvs/core/policy/cache-policy';
import { MAX_CLOCK_SKEW_MS, type Timing, timingFor } from '@tvs/core/policy/timing';
import { LeaseCoordinator } from '@tvs/core/protocol/lease-coordinator';
import type { CachedToken, CacheRecord, RecordContent, RecordStore } from '@tvs/core/record/cache-record';
import fc from 'fast-check';
import { seededRandom } from './seeded-random';
import type { VirtualTime } from './virtual-time';

/** One upstream fetch's behaviour, taken in order by the fetches of a run. */
export interface FetchPlan {
  readonly latencyMs: number;
  /** `hang`: ignores the deadline and is stopped by Lambda at the function timeout. */
  readonly outcome: 'ok' | 'fail' | 'hang';
}

export interface ScenarioRequest {
  /** Virtual ms after the start. */
  readonly atMs: number;
  readonly container: number;
  readonly key: number;
  readonly minTtl: number;
  /** Send `reject` with the fingerprint of the last token served for this key. */
  readonly rejectLast: boolean;
}

export interface Scenario {
  /** Lifetime of the tokens Identity Cloud mints, seconds. */
  readonly lifetime: number;
  /** Initial clock skew of each container, ms (a request to a container that is gone starts a new one). */
  readonly skews: readonly number[];
  readonly requests: readonly ScenarioRequest[];
  readonly fetches: readonly FetchPlan[];
  readonly crashes: readonly { readonly atMs: number; readonly container: number }[];
  readonly clockSteps: readonly {
    readonly atMs: number;
    readonly container: number;
    readonly skewMs: number;
  }[];
  readonly sweeps: readonly number[];
  /** Seed of the store latencies. */
  readonly seed: number;
}

/** What a run saw. */
export interface SimulationReport {
  readonly violations: string[];
  /** Upstream fetches per key. */
  readonly fetchesByKey: Map<string, number>;
  readonly served: number;
  readonly errors: Map<string, number>;
}

/** Largest virtual latency of one store call (each way), ms. */
export const MAX_STORE_LATENCY_MS = 20;

/** How late an answer may come: one store round trip after a fetch that ended at the deadline. */
const ANSWER_SLACK_MS = 2 * MAX_STORE_LATENCY_MS;

const NEVER = new Promise<never>(() => {});

interface Interval {
  readonly key: string;
  readonly container: number;
  readonly start: number;
  end?: number;
}

class SimulatedContainer {
  alive = true;
  readonly coordinator: LeaseCoordinator;
  readonly openFetches = new Set<Interval>();
  /** Global times at which this container's clock stepped. */
  readonly steppedAt: number[] = [];

  constructor(
    readonly index: number,
    public skew: number,
    private readonly time: VirtualTime,
    store: RecordStore,
    timing: Timing,
    policy: PolicySettings,
    latency: () => number,
  ) {
    const call = async <T>(work: () => Promise<T>): Promise<T> => {
      await time.sleep(latency());
      if (!this.alive) return NEVER;
      const result = await time.track(work);
      await time.sleep(latency());
      if (!this.alive) return NEVER;
      return result;
    };
    const reachable: RecordStore = {
      read: (key) => call(() => store.read(key)),
      replace: (current: CacheRecord, next: RecordContent) => call(() => store.replace(current, next)),
    };
    this.coordinator = new LeaseCoordinator({
      store: reachable,
      holder: `container-${index}`,
      timing,
      policy,
      now: () => this.now(),
      sleep: (ms) => (this.alive ? time.sleep(ms) : NEVER),
    });
  }

  now(): number {
    return this.time.now() + this.skew;
  }

  crash(): void {
    if (!this.alive) return;
    this.alive = false;
    for (const interval of this.openFetches) interval.end = this.time.now();
    this.openFetches.clear();
  }
}

/** The store a run uses, which may sweep expired records as DynamoDB's TTL does. */
type SimulatedStore = RecordStore & { sweep?(nowMs: number): void };

/** What a run may change from the defaults. */
interface SimulationOptions {
  timing?: Timing;
  policy?: PolicySettings;
  /** Prefix of the run's keys, so runs sharing a table do not meet. @default 'client' */
  keyPrefix?: string;
}

/** Run `scenario` against `store`; see the module comment for what is checked. */
export async function simulate(
  scenario: Scenario,
  store: SimulatedStore,
  time: VirtualTime,
  options: SimulationOptions = {},
): Promise<SimulationReport> {
  const run = new SimulationRun(scenario, store, time, options);
  run.schedule();
  await time.run();
  // Requests of crashed containers never answer; the others have, once the queue is empty.
  await Promise.race([Promise.all(run.pending), Promise.resolve()]);
  run.checkFetchersOverlap();
  return run.report();
}

/** One request while it runs. */
interface RunningRequest {
  readonly number: number;
  readonly container: SimulatedContainer;
  readonly key: string;
  readonly need: Need;
  /** Global time it started. */
  readonly startedAt: number;
  /** By the container's clock. */
  readonly deadline: number;
  answered: boolean;
  /** Its fetch is stuck in something no deadline bounds; only Lambda's timeout stops it. */
  hung: boolean;
}

/** One run of a scenario: its containers, what it recorded, and the invariants it checks. */
class SimulationRun {
  readonly violations: string[] = [];
  readonly pending: Promise<void>[] = [];
  private readonly intervals: Interval[] = [];
  private readonly fetchesByKey = new Map<string, number>();
  private readonly errors = new Map<string, number>();
  private readonly lastServed = new Map<string, string>();
  private served = 0;
  private fetchCount = 0;
  private tokenCount = 0;
  private readonly timing: Timing;
  private readonly policy: PolicySettings;
  private readonly start: number;
  private readonly latency: () => number;
  private readonly containers: SimulatedContainer[];

  constructor(
    private readonly scenario: Scenario,
    private readonly store: SimulatedStore,
    private readonly time: VirtualTime,
    private readonly options: SimulationOptions,
  ) {
    this.timing = options.timing ?? timingFor(10);
    this.policy = options.policy ?? DEFAULT_POLICY;
    this.start = time.now();
    const next = seededRandom(scenario.seed);
    this.latency = () => Math.floor(next() * (MAX_STORE_LATENCY_MS + 1));
    this.containers = scenario.skews.map((skew, index) => this.newContainer(index, skew));
  }

  /** Puts the scenario's requests, crashes, clock steps and sweeps on the virtual clock. */
  schedule(): void {
    const { scenario, time, start, containers } = this;
    scenario.requests.forEach((request, number) => {
      time.at(start + request.atMs, () => {
        this.pending.push(this.runRequest(request, number));
      });
    });
    for (const crash of scenario.crashes) {
      time.at(start + crash.atMs, () => containers[crash.container % containers.length]?.crash());
    }
    for (const step of scenario.clockSteps) {
      time.at(start + step.atMs, () => {
        const container = containers[step.container % containers.length];
        if (container) {
          container.skew = step.skewMs;
          container.steppedAt.push(time.now());
        }
      });
    }
    for (const at of scenario.sweeps) time.at(start + at, () => this.store.sweep?.(time.now()));
  }

  report(): SimulationReport {
    const { violations, fetchesByKey, served, errors } = this;
    return { violations, fetchesByKey, served, errors };
  }

  /** Never two live fetchers of one key: no two fetch intervals of a key overlap, in global time. */
  checkFetchersOverlap(): void {
    const byKey = new Map<string, Interval[]>();
    for (const interval of this.intervals) {
      byKey.set(interval.key, [...(byKey.get(interval.key) ?? []), interval]);
    }
    for (const [key, list] of byKey) {
      list.forEach((a, i) => {
        for (const b of list.slice(i + 1)) this.checkOverlap(key, a, b);
      });
    }
  }

  private checkOverlap(key: string, a: Interval, b: Interval): void {
    const start = this.start;
    const aEnd = a.end ?? Number.POSITIVE_INFINITY;
    const bEnd = b.end ?? Number.POSITIVE_INFINITY;
    if (a.start < bEnd && b.start < aEnd) {
      this.violations.push(
        `two live fetchers of ${key}: container ${a.container} [${a.start - start}, ${aEnd - start}] and container ${b.container} [${b.start - start}, ${bEnd - start}]`,
      );
    }
  }

  private newContainer(index: number, skew: number): SimulatedContainer {
    const { time, store, timing, policy, latency } = this;
    return new SimulatedContainer(index, skew, time, store, timing, policy, latency);
  }

  /** The live container a request names, or a new one when none is alive. */
  private containerFor(wanted: number): SimulatedContainer {
    const alive = this.containers.filter((container) => container.alive);
    if (alive.length > 0) return alive[wanted % alive.length] as SimulatedContainer;
    const fresh = this.newContainer(this.containers.length, 0);
    this.containers.push(fresh);
    return fresh;
  }

  private async runRequest(request: ScenarioRequest, number: number): Promise<void> {
    const running = this.begin(request, number);
    this.stopAtFunctionTimeout(running);
    const { container, key, need, deadline } = running;
    try {
      const obtained = await container.coordinator.obtain({ key, need, deadline }, () => this.fetch(running));
      running.answered = true;
      this.checkServable(running, obtained.token);
      this.served += 1;
      this.lastServed.set(key, obtained.token.fingerprint);
    } catch (error) {
      running.answered = true;
      this.recordError(number, error);
    }
    this.checkAnsweredByDeadline(running);
  }

  private begin(request: ScenarioRequest, number: number): RunningRequest {
    const container = this.containerFor(request.container);
    const key = `${this.options.keyPrefix ?? 'client'}#key-${request.key}`;
    const reject = request.rejectLast ? this.lastServed.get(key) : undefined;
    const need: Need = {
      scope: `*:things/${request.key}`,
      minTtl: request.minTtl,
      lookAhead: 0,
      ...(reject ? { reject } : {}),
    };
    const startedAt = this.time.now();
    const deadline = container.now() + this.timing.requestDeadlineMs;
    return { number, container, key, need, startedAt, deadline, answered: false, hung: false };
  }

  /**
   * Lambda stops an invocation at the function timeout, whatever it is doing. Only a request whose
   * fetch hung (stuck in something no deadline bounds) may still be running then.
   */
  private stopAtFunctionTimeout(running: RunningRequest): void {
    const { container } = running;
    this.time.at(running.startedAt + this.timing.functionTimeoutMs, () => {
      if (!running.answered && container.alive) {
        if (!running.hung) {
          this.violations.push(`request ${running.number} was still running at the function timeout`);
        }
        container.crash();
      }
    });
  }

  /** The upstream fetch of a request, as the scenario's next fetch plan has it behave. */
  private async fetch(running: RunningRequest): Promise<CachedToken> {
    const { container, key, deadline } = running;
    if (!container.alive) return NEVER;
    const plan = this.nextFetchPlan();
    this.fetchesByKey.set(key, (this.fetchesByKey.get(key) ?? 0) + 1);
    const interval: Interval = { key, container: container.index, start: this.time.now() };
    this.intervals.push(interval);
    container.openFetches.add(interval);
    const issuedAt = Math.floor(container.now() / 1000);
    if (plan.outcome === 'hang') {
      // Stuck in something the deadline does not bound: only Lambda's timeout stops it.
      running.hung = true;
      return NEVER;
    }
    const untilDeadline = Math.max(0, deadline - container.now());
    await this.time.sleep(Math.min(plan.latencyMs, untilDeadline));
    if (!container.alive) return NEVER;
    interval.end = this.time.now();
    container.openFetches.delete(interval);
    if (plan.latencyMs > untilDeadline) throw new UpstreamUnavailableError('deadline passed', 'timeout', 1);
    if (plan.outcome === 'fail') throw new UpstreamUnavailableError('simulated 503', 'http_5xx', 1);
    return this.mint(running.need, issuedAt);
  }

  private nextFetchPlan(): FetchPlan {
    const fetches = this.scenario.fetches;
    const plan = fetches[this.fetchCount % Math.max(1, fetches.length)] ?? {
      latencyMs: 100,
      outcome: 'ok' as const,
    };
    this.fetchCount += 1;
    return plan;
  }

  private mint(need: Need, issuedAt: number): CachedToken {
    this.tokenCount += 1;
    const accessToken = `token-${this.tokenCount}`;
    return {
      accessToken,
      scope: need.scope,
      issuedAt,
      expiresAt: issuedAt + this.scenario.lifetime,
      fingerprint: fingerprintOf(accessToken),
    };
  }

  /** Never an expired token served: every token served is servable by the serving container's clock. */
  private checkServable(running: RunningRequest, token: CachedToken): void {
    const { container, need } = running;
    // An oracle of its own, not the policy's `servable`: a broken policy must not blind the check.
    const left = token.expiresAt - Math.floor(container.now() / 1000);
    const mayServe =
      left > 0 && left >= need.minTtl && token.fingerprint !== need.reject && token.scope === need.scope;
    if (!mayServe) {
      this.violations.push(
        `request ${running.number} was served a token it may not have (expires ${token.expiresAt}, now ${Math.floor(container.now() / 1000)}, min_ttl ${need.minTtl}, rejected ${token.fingerprint === need.reject})`,
      );
    }
  }

  /** An answer other than 200 is an expected error, or a violation. */
  private recordError(number: number, error: unknown): void {
    const expected = error instanceof UpstreamUnavailableError || error instanceof InvalidRequestError;
    const name = expected
      ? `${(error as Error).name}:${(error as UpstreamUnavailableError).reason ?? ''}`
      : String(error);
    this.errors.set(name, (this.errors.get(name) ?? 0) + 1);
    if (!expected) this.violations.push(`request ${number} failed unexpectedly: ${name}`);
  }

  /**
   * By the container's own clock, the answer comes by the deadline plus the store write that follows a
   * fetch ending at it. A step of that clock during the request moves its reading by up to the step.
   */
  private checkAnsweredByDeadline(running: RunningRequest): void {
    const { container, startedAt, deadline } = running;
    const stepped = container.steppedAt.some((at) => at >= startedAt);
    const late = container.now() - deadline;
    if (late > ANSWER_SLACK_MS + (stepped ? 2 * MAX_CLOCK_SKEW_MS : 0)) {
      this.violations.push(`request ${running.number} was answered ${late} ms after its deadline`);
    }
  }
}

/** Scenarios: bursts and idle gaps, every kind of fault, skews within the bound. */
export function scenarioArbitrary(options: { maxRequests?: number } = {}): fc.Arbitrary<Scenario> {
  const skew = fc.integer({ min: -MAX_CLOCK_SKEW_MS, max: MAX_CLOCK_SKEW_MS });
  // Most requests arrive in bursts; some after gaps of minutes to hours (tokens and leases expire meanwhile).
  const atMs = fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 20_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 * 3_600_000 }) },
  );
  return fc.record({
    lifetime: fc.constantFrom(60, 300, 3_600),
    skews: fc.array(skew, { minLength: 1, maxLength: 6 }),
    requests: fc.array(
      fc.record({
        atMs,
        container: fc.nat({ max: 20 }),
        key: fc.nat({ max: 2 }),
        minTtl: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3_600 })),
        rejectLast: fc.boolean(),
      }),
      { minLength: 1, maxLength: options.maxRequests ?? 40 },
    ),
    fetches: fc.array(
      fc.record({
        latencyMs: fc.oneof(fc.integer({ min: 5, max: 400 }), fc.integer({ min: 400, max: 12_000 })),
        outcome: fc.constantFrom<'ok' | 'fail' | 'hang'>('ok', 'ok', 'ok', 'fail', 'hang'),
      }),
      { maxLength: 20 },
    ),
    crashes: fc.array(fc.record({ atMs, container: fc.nat({ max: 5 }) }), { maxLength: 2 }),
    clockSteps: fc.array(fc.record({ atMs, container: fc.nat({ max: 5 }), skewMs: skew }), { maxLength: 3 }),
    sweeps: fc.array(atMs, { maxLength: 3 }),
    seed: fc.integer(),
  });
}
