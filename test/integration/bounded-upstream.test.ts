/**
 * Bounded upstream use (docs/contract.md): no authorized caller, however buggy or hostile, makes the service
 * mint without bound, and no caller spends a client's budget for the others. The real handler, moto and
 * the Identity Cloud simulator, with the production bounds (30 s between forced mints of a key, 30 mints
 * per client per minute, 5 of them per caller). The storms are the ones an independent review ran.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../lambdas/vend-token/cache-policy';
import { sha256Hex } from '../../src/shared/hashing';
import {
  bodyOf,
  CONFIG_CLIENT,
  CountingMetrics,
  Harness,
  ORDERS_CALLER,
  ROTATION_CALLER,
  tokenEvent,
  WEBHOOKS_CLIENT,
} from '../support/harness';

const PRODUCTION_BOUNDS = { ...DEFAULT_POLICY };

/** A caller matching the harness's `credential-*` grants, one per name. */
const credentialCaller = (name: string) => `arn:aws:sts::111111111111:assumed-role/credential-${name}/job`;

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
    const container = harness.container({ metrics });
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
    expect(throttledLines(harness).at(-1)).toMatchObject({ client: 'webhooks-us', reason: 'caller_budget' });
  });
});

describe('one budget per client across containers', () => {
  let harness: Harness;

  beforeAll(async () => {
    // A long deadline: forty concurrent compare-and-swaps of one record through moto on a loaded machine
    // can outlast 8 s, and a table call past the deadline is a store failure, after which each container
    // counts a budget of its own (docs/concepts.md) — not what these tests are about.
    harness = await Harness.start({ settings: { ...PRODUCTION_BOUNDS, functionTimeoutSeconds: 30 } });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('mints exactly 30 of 40 new tokens asked of four containers by eight callers within a minute', async () => {
    const clock = Date.now();
    const metrics = new CountingMetrics();
    const containers = Array.from({ length: 4 }, () => harness.container({ now: () => clock, metrics }));
    const callers = Array.from({ length: 8 }, (_, i) => credentialCaller(`team-${i}`));
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
          tokenEvent(
            { client: 'webhooks-us', scope: `*:webhooks/${prefix}/${i}/**` },
            credentialCaller(`team-${i % 8}`),
          ),
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
