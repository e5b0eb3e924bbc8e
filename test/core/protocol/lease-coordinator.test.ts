import { fingerprintOf, MintThrottledError, UpstreamUnavailableError } from '@tvs/client/contract';
import { DEFAULT_POLICY, type Need } from '@tvs/core/policy/cache-policy';
import { timingFor } from '@tvs/core/policy/timing';
import { type FetchToken, LeaseCoordinator, type Obtained } from '@tvs/core/protocol/lease-coordinator';
import type { CachedToken } from '@tvs/core/record/cache-record';
import { MemoryRecordStore } from '@tvs/core/stores/memory-store';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Scenario, scenarioArbitrary, simulate } from '../../support/lease-simulation';
import { VirtualTime } from '../../support/virtual-time';

const timing = timingFor(10);
const KEY = 'client#key';
const NEED: Need = { scope: '*:things/**', minTtl: 0, lookAhead: 0 };

/** One world: a shared in-memory store, virtual time, and containers (coordinators) over them. */
function world() {
  const time = new VirtualTime();
  const store = new MemoryRecordStore({ now: time.now });
  let minted = 0;
  const container = (holder: string) =>
    new LeaseCoordinator({ store, holder, timing, policy: DEFAULT_POLICY, now: time.now, sleep: time.sleep });
  /** An upstream that answers after `latencyMs` with a token of `lifetime` seconds, or fails. */
  const upstream =
    (latencyMs = 100, outcome: 'ok' | 'fail' = 'ok', lifetime = 3_600): FetchToken =>
    async () => {
      minted += 1;
      const issuedAt = Math.floor(time.now() / 1000);
      await time.sleep(latencyMs);
      if (outcome === 'fail') throw new UpstreamUnavailableError('simulated 503', 'http_5xx', 1);
      const accessToken = `token-${minted}`;
      return {
        accessToken,
        scope: NEED.scope,
        issuedAt,
        expiresAt: issuedAt + lifetime,
        fingerprint: fingerprintOf(accessToken),
      } satisfies CachedToken;
    };
  /** Start `obtain` calls now and settle them once virtual time has run out. */
  const all = async <T>(calls: Promise<T>[]) => {
    const settled = Promise.allSettled(calls);
    await time.run();
    return settled;
  };
  /** Let `ms` of virtual time pass with nothing happening. */
  const advance = async (ms: number) => {
    const idle = time.sleep(ms);
    await time.run();
    await idle;
  };
  const ask = (coordinator: LeaseCoordinator, fetch: FetchToken, need: Need = NEED) =>
    coordinator.obtain({ key: KEY, need, deadline: time.now() + timing.requestDeadlineMs }, fetch);
  return { time, store, container, upstream, all, ask, advance, minted: () => minted };
}

function values<T>(results: PromiseSettledResult<T>[]): T[] {
  return results.map((result) => {
    if (result.status === 'rejected') throw result.reason;
    return result.value;
  });
}

describe('LeaseCoordinator', () => {
  it('lets one of 60 concurrent requests on four containers fetch a cold key; the others wait for its token', async () => {
    const w = world();
    const containers = ['a', 'b', 'c', 'd'].map(w.container);

    const answers = values<Obtained>(
      await w.all(Array.from({ length: 60 }, (_, i) => w.ask(containers[i % 4]!, w.upstream(300)))),
    );

    expect(w.minted()).toBe(1);
    expect(new Set(answers.map((a) => a.token.accessToken))).toEqual(new Set(['token-1']));
    expect(answers.filter((a) => a.source === 'upstream')).toHaveLength(1);
    expect(answers.filter((a) => a.waited)).toHaveLength(59);
  });

  it('serves the current token to everyone but the one refreshing inside the margin', async () => {
    const w = world();
    const [a, b] = [w.container('a'), w.container('b')];
    values(await w.all([w.ask(a, w.upstream())]));
    await w.advance(3_400_000); // 200 s left: inside the 300 s margin

    const answers = values<Obtained>(
      await w.all(Array.from({ length: 10 }, (_, i) => w.ask(i % 2 ? a : b, w.upstream(500)))),
    );

    expect(w.minted()).toBe(2);
    expect(answers.filter((x) => x.token.accessToken === 'token-2')).toHaveLength(1);
    expect(answers.filter((x) => x.token.accessToken === 'token-1')).toHaveLength(9);
    expect(answers.some((x) => x.waited)).toBe(false);
  });

  it('replaces a rejected token once however many report it, and serves late reporters the new one', async () => {
    const w = world();
    const containers = ['a', 'b', 'c'].map(w.container);
    const [first] = values<Obtained>(await w.all([w.ask(containers[0]!, w.upstream())]));
    const reject = { ...NEED, reject: first!.token.fingerprint };
    await w.advance(31_000);

    const reports = values<Obtained>(
      await w.all(Array.from({ length: 30 }, (_, i) => w.ask(containers[i % 3]!, w.upstream(200), reject))),
    );
    const [late] = values<Obtained>(await w.all([w.ask(containers[1]!, w.upstream(), reject)]));

    expect(w.minted()).toBe(2);
    expect(new Set(reports.map((r) => r.token.accessToken))).toEqual(new Set(['token-2']));
    expect(late!.token.accessToken).toBe('token-2');
  });

  it('refuses a forced refresh within the minimum mint interval, with the seconds left as Retry-After', async () => {
    const w = world();
    const a = w.container('a');
    const [first] = values<Obtained>(await w.all([w.ask(a, w.upstream())]));
    await w.advance(10_000);

    const [refused] = await w.all([w.ask(a, w.upstream(), { ...NEED, reject: first!.token.fingerprint })]);

    expect(refused?.status).toBe('rejected');
    const error = (refused as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(MintThrottledError);
    expect(error.retryAfterSeconds).toBe(20);
    expect(w.minted()).toBe(1);
  });

  it('never takes a live lease from a holder that died: 503 until the lease ends, then one request takes over', async () => {
    const w = world();
    const [a, b] = [w.container('a'), w.container('b')];
    // A holder that takes the lease and never comes back (a crashed container).
    void w.ask(a, () => new Promise<never>(() => {}));
    const takenAt = w.time.now();

    const [during] = await w.all([w.ask(b, w.upstream())]);
    const leaseEnds = takenAt + timing.requestDeadlineMs + timing.leaseSlackMs;
    await w.advance(leaseEnds - w.time.now() + 1);
    const [after] = values<Obtained>(await w.all([w.ask(b, w.upstream())]));

    expect(during?.status).toBe('rejected');
    const error = (during as PromiseRejectedResult).reason as UpstreamUnavailableError;
    expect(error.reason).toBe('lease_wait');
    expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(error.retryAfterSeconds).toBeLessThanOrEqual(Math.ceil(timing.leaseSlackMs / 1000) + 1);
    expect(after!.source).toBe('upstream');
    expect(w.minted()).toBe(1); // the dead holder's fetch never counted as a mint here
  });

  it('serves the still-valid token when the refresh fails, and reports the failure', async () => {
    const w = world();
    const a = w.container('a');
    values(await w.all([w.ask(a, w.upstream())]));
    await w.advance(3_500_000);

    const [answer] = values<Obtained>(await w.all([w.ask(a, w.upstream(100, 'fail'))]));

    expect(answer!.token.accessToken).toBe('token-1');
    expect(answer!.refreshError).toBeInstanceOf(UpstreamUnavailableError);
    expect((await w.store.read(KEY)).lease).toBeUndefined(); // released for the next try
  });

  it('answers 503 rather than serve an expired token when the refresh fails', async () => {
    const w = world();
    const a = w.container('a');
    values(await w.all([w.ask(a, w.upstream(100, 'ok', 60))]));
    await w.advance(61_000);

    const [answer] = await w.all([w.ask(a, w.upstream(100, 'fail'))]);

    expect(answer?.status).toBe('rejected');
    expect((answer as PromiseRejectedResult).reason).toBeInstanceOf(UpstreamUnavailableError);
  });
});

describe('the lease protocol under simulated containers, faults and clocks', () => {
  it('never has two live fetchers of a key, never serves an expired token, and answers every request by its deadline (in-memory store)', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArbitrary(), async (scenario: Scenario) => {
        const time = new VirtualTime();
        const report = await simulate(scenario, new MemoryRecordStore({ now: time.now }), time);
        expect(report.violations).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('notices two live fetchers when leases end before their holders stop (the check is not vacuous)', async () => {
    // A lease slack below what timing.ts demands: holders that hang until the function timeout outlive it.
    const broken = { ...timingFor(10), leaseSlackMs: 100 };
    const scenario: Scenario = {
      lifetime: 3_600,
      skews: [0, 0],
      requests: [
        { atMs: 0, container: 0, key: 0, minTtl: 0, rejectLast: false },
        { atMs: 8_500, container: 1, key: 0, minTtl: 0, rejectLast: false },
      ],
      fetches: [
        { latencyMs: 100, outcome: 'hang' },
        { latencyMs: 100, outcome: 'ok' },
      ],
      crashes: [],
      clockSteps: [],
      sweeps: [],
      seed: 1,
    };
    const time = new VirtualTime();

    const report = await simulate(scenario, new MemoryRecordStore({ now: time.now }), time, {
      timing: broken,
    });

    expect(report.violations.some((v) => v.startsWith('two live fetchers'))).toBe(true);
  });
});
