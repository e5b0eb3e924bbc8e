/**
 * Bounded upstream use (docs/contract.md): no authorized caller, however buggy or hostile, makes the service
 * mint without bound, and no caller spends a client's budget for the others. The real handler, moto and
 * the Identity Cloud simulator, with the production bounds (30 s between forced mints of a key, 30 mints
 * per client per minute, 5 of them per caller). The storms are the ones an independent review ran.
 */
import { randomUUID } from 'node:crypto';
import { sha256Hex } from '@tvs/client/contract';
import { DEFAULT_POLICY } from '@tvs/core/policy/cache-policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bodyOf,
  CONFIG_CLIENT,
  CountingMetrics,
  Harness,
  ORDERS_CALLER,
  ROTATION_CALLER,
  tokenEvent,
  WEBHOOKS_CLIENT,
} from '../../support/harness';

const PRODUCTION_BOUNDS = { ...DEFAULT_POLICY };

/** A caller matching the harness's `credential-*` grants, one per name. */
const credentialCaller = (name: string) => `arn:aws:sts::111111111111:assumed-role/credential-${name}/job`;

/** The harness's wildcard grant that `credentialCaller`s (and ROTATION_CALLER) match: one spender. */
const CREDENTIAL_GRANT = 'arn:aws:iam::111111111111:role/credential-*';

/** A caller with a grant of its own (see {@link grantTeams}). */
const teamCaller = (i: number) => `arn:aws:sts::111111111111:assumed-role/team-${i}/job`;

/** A harness configuration adding an exact grant on webhooks-us for each of `count` team callers. */
function grantTeams(count: number) {
  return (config: { grants: unknown[] }) => {
    for (let i = 0; i < count; i++) {
      config.grants.push({
        principal: `arn:aws:iam::111111111111:role/team-${i}`,
        client: 'webhooks-us',
        scopes: ['*:webhooks/**'],
      });
    }
  };
}

function throttledLines(harness: Harness) {
  return harness.capture.lines.filter((line) => line.message === 'mint throttled');
}

describe('storms from one authorized caller', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await Harness.start({ settings: PRODUCTION_BOUNDS });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('ends 50 sequential requests, each rejecting the token the previous answer carried, with at most 5 mints', async () => {
    let clock = Date.now();
    const metrics = new CountingMetrics();
    const container = harness.container({ now: () => clock, metrics });
    const scope = `*:webhooks/${randomUUID()}/**`;
    harness.sim.resetCounters();
    let token = bodyOf(await container.handle(tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER)))
      .access_token as string;

    const statuses: number[] = [];
    for (let i = 0; i < 50; i++) {
      clock += 2_000; // 100 s of storm
      const response = await container.handle(
        tokenEvent({ client: 'webhooks-us', scope, reject: sha256Hex(token) }, ROTATION_CALLER),
      );
      statuses.push(response.statusCode);
      if (response.statusCode === 200) token = bodyOf(response).access_token as string;
      else {
        expect(response.statusCode).toBe(503);
        expect(bodyOf(response).error).toBe('temporarily_unavailable');
        const retryAfter = Number(response.headers?.['Retry-After']);
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(30);
      }
    }

    // One mint, then at most one forced mint per 30 s of the 100 s storm.
    expect(harness.sim.tokenRequests).toBeLessThanOrEqual(5);
    expect(statuses.filter((status) => status === 200).length).toBe(harness.sim.tokenRequests - 1);
    expect(metrics.get('MintThrottled')).toBe(statuses.filter((status) => status === 503).length);
    expect(throttledLines(harness).at(-1)).toMatchObject({
      caller: ROTATION_CALLER,
      spender: CREDENTIAL_GRANT,
      reason: 'mint_interval',
    });
  });

  it('ends 50 requests with min_ttl equal to the lifetime with one mint, then refuses them as 400', async () => {
    const container = harness.container();
    const scope = `*:config/${randomUUID()}/**`;
    harness.sim.resetCounters();

    const responses = [];
    for (let i = 0; i < 50; i++) {
      responses.push(
        await container.handle(
          tokenEvent(
            { client: 'config-us', scope, min_ttl: CONFIG_CLIENT.accessTokenLifetime },
            ROTATION_CALLER,
          ),
        ),
      );
    }

    expect(harness.sim.tokenRequests).toBe(1);
    expect(new Set(responses.map((r) => r.statusCode))).toEqual(new Set([400]));
    expect(bodyOf(responses[0]!).error_description).toMatch(/min_ttl 1200 is above the 900 s/);
  });

  it('ends 20 distinct narrower scopes from one caller at its share of 5 mints, and another caller still gets its token', async () => {
    const metrics = new CountingMetrics();
    // A minute of its own: the storms above charged the same wildcard grant.
    const clock = Date.now() + 600_000;
    const container = harness.container({ metrics, now: () => clock });
    const caller = credentialCaller(`storm-${randomUUID().slice(0, 8)}`);
    const prefix = randomUUID();
    harness.sim.resetCounters();

    const responses = [];
    for (let i = 0; i < 20; i++) {
      responses.push(
        await container.handle(
          tokenEvent({ client: 'webhooks-us', scope: `*:webhooks/${prefix}/${i}/**` }, caller),
        ),
      );
    }
    const other = await container.handle(
      tokenEvent({ client: 'webhooks-us', scope: `.:webhooks/${prefix}/other/**` }, ORDERS_CALLER),
    );

    expect(harness.sim.tokenRequests).toBe(DEFAULT_POLICY.mintsPerCallerPerMinute + 1);
    expect(responses.filter((r) => r.statusCode === 200)).toHaveLength(5);
    const refused = responses.filter((r) => r.statusCode !== 200);
    expect(new Set(refused.map((r) => r.statusCode))).toEqual(new Set([503]));
    for (const response of refused) {
      const retryAfter = Number(response.headers?.['Retry-After']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    expect(other.statusCode).toBe(200);
    expect(metrics.get('MintThrottled')).toBe(15);
    expect(throttledLines(harness).filter((line) => line.caller === caller)).toHaveLength(15);
    expect(throttledLines(harness).at(-1)).toMatchObject({
      client: 'webhooks-us',
      reason: 'caller_budget',
      spender: CREDENTIAL_GRANT,
    });
  });
});

describe('one budget per client across containers', () => {
  let harness: Harness;

  beforeAll(async () => {
    // A long deadline: forty concurrent compare-and-swaps of one record through moto on a loaded machine
    // can outlast 8 s, and a table call past the deadline is a store failure, after which each container
    // counts a budget of its own (docs/concepts.md) — not what these tests are about.
    harness = await Harness.start({
      settings: { ...PRODUCTION_BOUNDS, functionTimeoutSeconds: 30 },
      configure: grantTeams(8),
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('mints exactly 30 of 40 new tokens asked of four containers by eight callers within a minute', async () => {
    const clock = Date.now();
    const metrics = new CountingMetrics();
    const containers = Array.from({ length: 4 }, () => harness.container({ now: () => clock, metrics }));
    const callers = Array.from({ length: 8 }, (_, i) => teamCaller(i));
    const prefix = randomUUID();
    harness.sim.resetCounters();

    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const response = await containers[i % 4]!.handle(
        tokenEvent({ client: 'webhooks-us', scope: `*:webhooks/${prefix}/${i}/**` }, callers[i % 8]),
      );
      statuses.push(response.statusCode);
    }

    expect(harness.sim.tokenRequests).toBe(DEFAULT_POLICY.mintsPerMinute);
    expect(statuses.filter((status) => status === 200)).toHaveLength(30);
    expect(statuses.slice(30)).toEqual(Array(10).fill(503));
    expect(
      throttledLines(harness)
        .slice(-10)
        .map((line) => line.reason),
    ).toEqual(Array(10).fill('client_budget'));
    expect(metrics.get('MintThrottled')).toBe(10);
  });

  it('never mints more than the budget when the same 40 requests arrive at once', async () => {
    const clock = Date.now() + 120_000; // a fresh minute of budget
    const containers = Array.from({ length: 4 }, () => harness.container({ now: () => clock }));
    const prefix = randomUUID();
    harness.sim.resetCounters();

    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        containers[i % 4]!.handle(
          tokenEvent({ client: 'webhooks-us', scope: `*:webhooks/${prefix}/${i}/**` }, teamCaller(i % 8)),
        ),
      ),
    );

    expect(harness.sim.tokenRequests).toBeLessThanOrEqual(DEFAULT_POLICY.mintsPerMinute);
    expect(responses.filter((r) => r.statusCode === 200)).toHaveLength(harness.sim.tokenRequests);
    expect(new Set(responses.filter((r) => r.statusCode !== 200).map((r) => r.statusCode))).toEqual(
      new Set([503]),
    );
  });
});

describe('ordinary refresh-ahead', () => {
  let harness: Harness;

  beforeAll(async () => {
    // Webhooks tokens live 60 s: refreshed when 15 s are left, every 45 s per key.
    harness = await Harness.start({
      settings: PRODUCTION_BOUNDS,
      simulatedClients: [{ ...WEBHOOKS_CLIENT, accessTokenLifetime: 60 }, CONFIG_CLIENT],
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('is never throttled: 6 keys of 60 s tokens used by two callers on three containers for five minutes', async () => {
    let clock = Date.now();
    const metrics = new CountingMetrics();
    const containers = Array.from({ length: 3 }, () => harness.container({ now: () => clock, metrics }));
    const prefix = randomUUID();
    const asks = [
      ...[0, 1, 2].map((i) => ({ scope: `*:webhooks/${prefix}/${i}/**`, caller: ROTATION_CALLER })),
      ...[3, 4, 5].map((i) => ({ scope: `.:webhooks/${prefix}/${i}/**`, caller: ORDERS_CALLER })),
    ];
    harness.sim.resetCounters();

    const statuses: number[] = [];
    for (let second = 0; second < 300; second += 5) {
      clock += 5_000;
      for (const [index, ask] of asks.entries()) {
        const container = containers[(index + second) % 3]!;
        statuses.push(
          (await container.handle(tokenEvent({ client: 'webhooks-us', scope: ask.scope }, ask.caller)))
            .statusCode,
        );
      }
    }

    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(metrics.get('MintThrottled')).toBe(0);
    // One mint per key at first, then one per key every 45 s or so (never more than one per 15 s).
    expect(harness.sim.tokenRequests).toBeGreaterThanOrEqual(6 * (300 / 60));
    expect(harness.sim.tokenRequests).toBeLessThanOrEqual(6 * (300 / 15));
  });
});

/**
 * The most upstream mints in any 60 s of a series of [clock, total mints, mints of the others]: of all
 * callers, and of the one caller that is not the others.
 */
function worstMinutes(series: readonly [number, number, number][]): { worstHog: number; worstAll: number } {
  let worstHog = 0;
  let worstAll = 0;
  for (const [at, total, ofOthers] of series) {
    const before = [...series].reverse().find(([earlier]) => earlier <= at - 60_000) ?? [0, 0, 0];
    worstAll = Math.max(worstAll, total - before[1]);
    worstHog = Math.max(worstHog, total - ofOthers - (before[1] - before[2]));
  }
  return { worstHog, worstAll };
}

describe('a caller that keeps many keys alive', () => {
  let harness: Harness;
  const HOG_ROLE = 'arn:aws:iam::111111111111:role/hog';
  const HOG = 'arn:aws:sts::111111111111:assumed-role/hog/batch';

  beforeAll(async () => {
    // Short tokens: 10 s, refreshed when 2.5 s are left, so every key kept in use is minted every ~8 s.
    harness = await Harness.start({
      settings: PRODUCTION_BOUNDS,
      simulatedClients: [{ ...WEBHOOKS_CLIENT, accessTokenLifetime: 10 }, CONFIG_CLIENT],
      configure: (config) => {
        grantTeams(40)(config);
        config.grants.push({ principal: HOG_ROLE, client: 'webhooks-us', scopes: ['*:webhooks/**'] });
      },
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it("cannot spend the client's budget: 5 new keys a minute kept in use leave every other caller's first key unthrottled", async () => {
    let clock = Date.now() + 3_600_000;
    const metrics = new CountingMetrics();
    const containers = Array.from({ length: 2 }, () => harness.container({ now: () => clock, metrics }));
    const prefix = randomUUID();
    const hogScopes: string[] = [];
    const others: number[] = [];
    /** Upstream mints so far, at each step: [clock, total mints, mints of the others]. */
    const series: [number, number, number][] = [];
    harness.sim.resetCounters();

    for (let second = 0; second < 180; second += 3) {
      clock += 3_000;
      // The hog makes its share of new keys each minute, and keeps asking for all of them.
      if (second % 60 === 0) {
        const first = hogScopes.length;
        hogScopes.push(...[0, 1, 2, 3, 4].map((i) => `*:webhooks/${prefix}/hog/${first + i}/**`));
      }
      for (const [index, scope] of hogScopes.entries()) {
        await containers[index % 2]!.handle(tokenEvent({ client: 'webhooks-us', scope }, HOG));
      }
      // Every 6 s another caller asks for its first key.
      if (second % 6 === 0) {
        const team = others.length;
        const response = await containers[team % 2]!.handle(
          tokenEvent(
            { client: 'webhooks-us', scope: `*:webhooks/${prefix}/team/${team}/**` },
            teamCaller(team),
          ),
        );
        others.push(response.statusCode);
      }
      series.push([clock, harness.sim.tokenRequests, others.filter((status) => status === 200).length]);
    }

    expect(others).toHaveLength(30);
    expect(others.filter((status) => status !== 200)).toEqual([]);
    // In any 60 s: the hog's mints at most its share plus the allowance of upkeep; all mints within budget.
    const hogBound = DEFAULT_POLICY.mintsPerCallerPerMinute + (DEFAULT_POLICY.upkeepAllowancePerMinute ?? 0);
    const { worstHog, worstAll } = worstMinutes(series);
    expect(worstHog).toBeLessThanOrEqual(hogBound);
    expect(worstAll).toBeLessThanOrEqual(DEFAULT_POLICY.mintsPerMinute);
    // The hog is named as the spender, in the log line and the metric's dimension.
    expect(throttledLines(harness).some((line) => line.spender === HOG_ROLE && line.caller === HOG)).toBe(
      true,
    );
    expect(throttledLines(harness).some((line) => line.spender !== HOG_ROLE)).toBe(false);
    expect(metrics.get(`MintThrottled spender=${HOG_ROLE}`)).toBe(metrics.get('MintThrottled'));
    expect(metrics.get('MintThrottled')).toBeGreaterThan(0);
  }, 180_000);
});

describe('a wildcard grant', () => {
  let harness: Harness;
  const WILDCARD = 'arn:aws:iam::111111111111:role/team-*';

  beforeAll(async () => {
    harness = await Harness.start({
      settings: PRODUCTION_BOUNDS,
      configure: (config) => {
        config.grants.push({ principal: WILDCARD, client: 'webhooks-us', scopes: ['*:webhooks/**'] });
      },
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('shares one share among all the roles it matches: 12 roles asking a new key each get 5 mints in a minute', async () => {
    const clock = Date.now();
    const metrics = new CountingMetrics();
    const container = harness.container({ now: () => clock, metrics });
    const prefix = randomUUID();
    harness.sim.resetCounters();

    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const response = await container.handle(
        tokenEvent({ client: 'webhooks-us', scope: `*:webhooks/${prefix}/${i}/**` }, teamCaller(i)),
      );
      statuses.push(response.statusCode);
    }
    const other = await container.handle(
      tokenEvent({ client: 'webhooks-us', scope: `.:webhooks/${prefix}/other/**` }, ORDERS_CALLER),
    );

    expect(statuses.slice(0, 5)).toEqual(Array(5).fill(200));
    expect(statuses.slice(5)).toEqual(Array(7).fill(503));
    expect(harness.sim.tokenRequests).toBe(DEFAULT_POLICY.mintsPerCallerPerMinute + 1);
    expect(other.statusCode).toBe(200);
    expect(
      throttledLines(harness)
        .slice(-7)
        .map((line) => [line.reason, line.spender]),
    ).toEqual(Array(7).fill(['caller_budget', WILDCARD]));
    expect(metrics.get(`MintThrottled spender=${WILDCARD}`)).toBe(7);
  });
});
