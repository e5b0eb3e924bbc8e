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

/** Run `scenario` against `store`; see the module comment for what is checked. */
export async function simulate(
  scenario: Scenario,
  store: RecordStore & { sweep?(nowMs: number): void },
  time: VirtualTime,
  options: {
    timing?: Timing;
    policy?: PolicySettings;
    /** Prefix of the run's keys, so runs sharing a table do not meet. @default 'client' */
    keyPrefix?: string;
  } = {},
): Promise<SimulationReport> {
  const timing = options.timing ?? timingFor(10);
  const policy = options.policy ?? DEFAULT_POLICY;
  const start = time.now();
  const latency = (() => {
    const next = seededRandom(scenario.seed);
    return () => Math.floor(next() * (MAX_STORE_LATENCY_MS + 1));
  })();
  const violations: string[] = [];
  const intervals: Interval[] = [];
  const fetchesByKey = new Map<string, number>();
  const errors = new Map<string, number>();
  const lastServed = new Map<string, string>();
  let served = 0;
  let fetchCount = 0;
  let tokenCount = 0;

  const containers = scenario.skews.map(
    (skew, index) => new SimulatedContainer(index, skew, time, store, timing, policy, latency),
  );
  const containerFor = (wanted: number): SimulatedContainer => {
    const alive = containers.filter((container) => container.alive);
    if (alive.length > 0) return alive[wanted % alive.length] as SimulatedContainer;
    const fresh = new SimulatedContainer(containers.length, 0, time, store, timing, policy, latency);
    containers.push(fresh);
    return fresh;
  };

  const runRequest = async (request: ScenarioRequest, number: number) => {
    const container = containerFor(request.container);
    const key = `${options.keyPrefix ?? 'client'}#key-${request.key}`;
    const reject = request.rejectLast ? lastServed.get(key) : undefined;
    const need: Need = {
      scope: `*:things/${request.key}`,
      minTtl: request.minTtl,
      lookAhead: 0,
      ...(reject ? { reject } : {}),
    };
    const startedAt = time.now();
    const deadline = container.now() + timing.requestDeadlineMs;
    let answered = false;
    let hung = false;
    // Lambda stops an invocation at the function timeout, whatever it is doing. Only a request whose
    // fetch hung (stuck in something no deadline bounds) may still be running then.
    time.at(startedAt + timing.functionTimeoutMs, () => {
      if (!answered && container.alive) {
        if (!hung) violations.push(`request ${number} was still running at the function timeout`);
        container.crash();
      }
    });
    const fetch = async (): Promise<CachedToken> => {
      if (!container.alive) return NEVER;
      const plan = scenario.fetches[fetchCount % Math.max(1, scenario.fetches.length)] ?? {
        latencyMs: 100,
        outcome: 'ok' as const,
      };
      fetchCount += 1;
      fetchesByKey.set(key, (fetchesByKey.get(key) ?? 0) + 1);
      const interval: Interval = { key, container: container.index, start: time.now() };
      intervals.push(interval);
      container.openFetches.add(interval);
      const issuedAt = Math.floor(container.now() / 1000);
      if (plan.outcome === 'hang') {
        // Stuck in something the deadline does not bound: only Lambda's timeout stops it.
        hung = true;
        return NEVER;
      }
      const untilDeadline = Math.max(0, deadline - container.now());
      await time.sleep(Math.min(plan.latencyMs, untilDeadline));
      if (!container.alive) return NEVER;
      interval.end = time.now();
      container.openFetches.delete(interval);
      if (plan.latencyMs > untilDeadline) throw new UpstreamUnavailableError('deadline passed', 'timeout', 1);
      if (plan.outcome === 'fail') throw new UpstreamUnavailableError('simulated 503', 'http_5xx', 1);
      tokenCount += 1;
      const accessToken = `token-${tokenCount}`;
      return {
        accessToken,
        scope: need.scope,
        issuedAt,
        expiresAt: issuedAt + scenario.lifetime,
        fingerprint: fingerprintOf(accessToken),
      };
    };
    try {
      const obtained = await container.coordinator.obtain({ key, need, deadline }, fetch);
      answered = true;
      // An oracle of its own, not the policy's `servable`: a broken policy must not blind the check.
      const token: CachedToken = obtained.token;
      const left = token.expiresAt - Math.floor(container.now() / 1000);
      const mayServe =
        left > 0 && left >= need.minTtl && token.fingerprint !== need.reject && token.scope === need.scope;
      if (!mayServe) {
        violations.push(
          `request ${number} was served a token it may not have (expires ${token.expiresAt}, now ${Math.floor(container.now() / 1000)}, min_ttl ${need.minTtl}, rejected ${token.fingerprint === need.reject})`,
        );
      }
      served += 1;
      lastServed.set(key, obtained.token.fingerprint);
    } catch (error) {
      answered = true;
      const expected = error instanceof UpstreamUnavailableError || error instanceof InvalidRequestError;
      const name = expected
        ? `${(error as Error).name}:${(error as UpstreamUnavailableError).reason ?? ''}`
        : String(error);
      errors.set(name, (errors.get(name) ?? 0) + 1);
      if (!expected) violations.push(`request ${number} failed unexpectedly: ${name}`);
    }
    // By the container's own clock, the answer comes by the deadline plus the store write that follows a
    // fetch ending at it. A step of that clock during the request moves its reading by up to the step.
    const stepped = container.steppedAt.some((at) => at >= startedAt);
    const late = container.now() - deadline;
    if (late > ANSWER_SLACK_MS + (stepped ? 2 * MAX_CLOCK_SKEW_MS : 0)) {
      violations.push(`request ${number} was answered ${late} ms after its deadline`);
    }
  };

  const pending: Promise<void>[] = [];
  scenario.requests.forEach((request, number) => {
    time.at(start + request.atMs, () => {
      pending.push(runRequest(request, number));
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
  for (const at of scenario.sweeps) time.at(start + at, () => store.sweep?.(time.now()));
  await time.run();
  // Requests of crashed containers never answer; the others have, once the queue is empty.
  await Promise.race([Promise.all(pending), Promise.resolve()]);

  const byKey = new Map<string, Interval[]>();
  for (const interval of intervals) byKey.set(interval.key, [...(byKey.get(interval.key) ?? []), interval]);
  for (const [key, list] of byKey) {
    list.forEach((a, i) => {
      for (const b of list.slice(i + 1)) {
        const aEnd = a.end ?? Number.POSITIVE_INFINITY;
        const bEnd = b.end ?? Number.POSITIVE_INFINITY;
        if (a.start < bEnd && b.start < aEnd) {
          violations.push(
            `two live fetchers of ${key}: container ${a.container} [${a.start - start}, ${aEnd - start}] and container ${b.container} [${b.start - start}, ${bEnd - start}]`,
          );
        }
      }
    });
  }
  return { violations, fetchesByKey, served, errors };
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
