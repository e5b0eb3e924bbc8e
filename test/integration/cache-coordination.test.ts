import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KmsDataKeyProvider, TokenCipher } from '../../lambdas/vend-token/token-crypto';
import { DynamoDbTokenStore } from '../../lambdas/vend-token/token-store';
import { cacheKeyFor, sha256Hex } from '../../src/shared/hashing';
import { bodyOf, Harness, ROTATION_CALLER, tokenEvent } from '../support/harness';

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start({
    settings: { leaseWaitMs: 1_500, pollInitialMs: 10, pollMaxMs: 50 },
    configure: (config) => {
      // More allowed scopes than one scope string may hold (32): pre-warm must still work.
      const client = config.clients['config-us'] as { allowedScopes: string[] };
      client.allowedScopes = ['*:config/**', ...Array.from({ length: 32 }, (_, i) => `.:other/${i}/**`)];
    },
  });
});

afterAll(async () => {
  await harness?.close();
});

beforeEach(() => {
  harness.sim.setPersistentFault(undefined);
  harness.sim.resetCounters();
});

/** A fresh scope per test, so each starts with a cold cache key. */
function freshScope(): string {
  return `*:webhooks/${randomUUID()}/**`;
}

function servedLines(scope: string) {
  return harness.capture.lines.filter((line) => line.message === 'token served' && line.scope === scope);
}

describe('one fetcher per cache key', () => {
  it('sends one upstream request for 200 concurrent callers spread over 4 containers on a cold cache', async () => {
    const scope = freshScope();
    // A slow upstream keeps the race open while all callers arrive.
    harness.sim.injectFaults({ kind: 'slow-headers', delayMs: 300 });
    const containers = Array.from({ length: 4 }, () => harness.container());

    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        containers[i % 4]!.handle(tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER)),
      ),
    );

    expect(responses.map((r) => r.statusCode)).toEqual(Array(200).fill(200));
    expect(new Set(responses.map((r) => bodyOf(r).access_token)).size).toBe(1);
    expect(harness.sim.tokenRequests).toBe(1);
    // Everyone but the one fetcher waited for it: on a cold cache there is nothing else to serve.
    const lines = servedLines(scope);
    expect(lines.filter((l) => l.source === 'upstream' && !l.waited)).toHaveLength(1);
    expect(lines.filter((l) => l.waited)).toHaveLength(199);
  });

  it('refreshes ahead: inside the margin one caller refreshes while the others are served the current token', async () => {
    const scope = freshScope();
    const start = Date.now();
    let clock = start;
    const containers = Array.from({ length: 3 }, () => harness.container({ now: () => clock }));
    const first = bodyOf(
      await containers[0]!.handle(tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER)),
    );
    await Promise.all(
      containers.slice(1).map((c) => c.handle(tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER))),
    );
    harness.sim.resetCounters();
    clock = start + (3600 - 200) * 1000; // 200 s left: inside the 300 s margin
    harness.sim.injectFaults({ kind: 'slow-headers', delayMs: 300 });
    const before = servedLines(scope).length;

    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        containers[i % 3]!.handle(tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER)),
      ),
    );

    expect(harness.sim.tokenRequests).toBe(1);
    const tokens = responses.map((r) => bodyOf(r).access_token);
    const refreshed = tokens.filter((t) => t !== first.access_token);
    expect(refreshed).toHaveLength(1);
    const lines = servedLines(scope).slice(before);
    expect(lines.filter((l) => l.source === 'upstream')).toHaveLength(1);
    expect(lines.filter((l) => l.waited)).toHaveLength(0);
  });

  it('does not refresh outside the margin', async () => {
    const scope = freshScope();
    const start = Date.now();
    let clock = start;
    const container = harness.container({ now: () => clock });
    await container.handle(tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER));
    clock = start + (3600 - 301) * 1000;
    harness.sim.resetCounters();

    await container.handle(tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER));

    expect(harness.sim.tokenRequests).toBe(0);
  });

  it('uses a quarter of the lifetime as margin for short-lived tokens', async () => {
    // config-us tokens live 1200 s: margin = min(300, 300) = 300; a 60 s token would get 15 s.
    const service = harness.container().service;
    const token = { accessToken: 'x', scope: 's', issuedAt: 0, expiresAt: 60, fingerprint: 'f' };
    expect(service.marginOf(token)).toBe(15);
    expect(service.marginOf({ ...token, expiresAt: 3600 })).toBe(300);
    const fixed = harness.container({ settings: { refreshMarginSeconds: 42 } }).service;
    expect(fixed.marginOf(token)).toBe(42);
  });
});

describe('reject', () => {
  it('replaces a rejected token once, however many callers report it, and serves the new one to late reporters', async () => {
    const scope = freshScope();
    const containers = Array.from({ length: 3 }, () => harness.container());
    const first = bodyOf(
      await containers[0]!.handle(tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER)),
    );
    const dead = sha256Hex(first.access_token as string);
    harness.sim.resetCounters();
    harness.sim.injectFaults({ kind: 'slow-headers', delayMs: 200 });

    const reports = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        containers[i % 3]!.handle(
          tokenEvent({ client: 'webhooks-us', scope, reject: dead }, ROTATION_CALLER),
        ),
      ),
    );
    const late = bodyOf(
      await containers[2]!.handle(
        tokenEvent({ client: 'webhooks-us', scope, reject: dead }, ROTATION_CALLER),
      ),
    );

    expect(harness.sim.tokenRequests).toBe(1);
    const tokens = new Set(reports.map((r) => bodyOf(r).access_token));
    expect(tokens.size).toBe(1);
    expect(tokens.has(first.access_token)).toBe(false);
    expect(late.access_token).toBe([...tokens][0]);
  });

  it('serves the current token when the reported fingerprint is not the cached one', async () => {
    const scope = freshScope();
    const container = harness.container();
    const first = bodyOf(
      await container.handle(tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER)),
    );
    harness.sim.resetCounters();

    const again = bodyOf(
      await container.handle(
        tokenEvent({ client: 'webhooks-us', scope, reject: sha256Hex('an older token') }, ROTATION_CALLER),
      ),
    );

    expect(again.access_token).toBe(first.access_token);
    expect(harness.sim.tokenRequests).toBe(0);
  });
});

describe('lease holder failure', () => {
  function store() {
    return new DynamoDbTokenStore(
      harness.dynamodb,
      harness.tableName,
      new TokenCipher(new KmsDataKeyProvider(harness.keyId)),
    );
  }

  it('falls back to fetching itself when the lease holder dies without storing a token', async () => {
    const scope = freshScope();
    const cacheKey = cacheKeyFor('webhooks-us', scope);
    const now = Date.now();
    // A holder that took the lease and vanished (a container killed mid-fetch).
    expect(await store().acquireLease(cacheKey, 'dead-container', now, now + 10_000)).toBe(true);

    const started = Date.now();
    const response = await harness
      .container()
      .handle(tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER));

    expect(response.statusCode).toBe(200);
    expect(harness.sim.tokenRequests).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400); // it waited for the holder first
    const item = await harness.rawItem(cacheKey);
    expect(item?.fingerprint?.S).toBe(sha256Hex(bodyOf(response).access_token as string));
  });

  it('takes over an expired lease at once', async () => {
    const scope = freshScope();
    const cacheKey = cacheKeyFor('webhooks-us', scope);
    const now = Date.now();
    expect(await store().acquireLease(cacheKey, 'dead-container', now - 20_000, now - 10_000)).toBe(true);

    const started = Date.now();
    const response = await harness
      .container()
      .handle(tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER));

    expect(response.statusCode).toBe(200);
    expect(Date.now() - started).toBeLessThan(1_400);
    expect((await harness.rawItem(cacheKey))?.lease_holder).toBeUndefined();
  });

  it('lets only one of two racing holders take the lease', async () => {
    const cacheKey = cacheKeyFor('webhooks-us', freshScope());
    const now = Date.now();
    const results = await Promise.all([
      store().acquireLease(cacheKey, 'a', now, now + 10_000),
      store().acquireLease(cacheKey, 'b', now, now + 10_000),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});

describe('scheduled pre-warm', () => {
  const prewarm = (tokens: { client: string; scope: string }[]) => ({ source: 'tvs.prewarm', tokens });

  it('fetches a cold token, leaves a fresh one alone, and refreshes one due within its look-ahead', async () => {
    const scope = `*:config/${randomUUID()}/**`;
    const start = Date.now();
    let clock = start;
    const container = harness.container({ now: () => clock });

    expect(await container.handle(prewarm([{ client: 'config-us', scope }]))).toEqual({
      refreshed: 1,
      failed: 0,
    });
    expect(harness.sim.tokenRequests).toBe(1);
    await container.handle(prewarm([{ client: 'config-us', scope }]));
    expect(harness.sim.tokenRequests).toBe(1);
    // 1200 s tokens: margin 300 s, look-ahead 600 s: due once less than 900 s are left.
    clock = start + 400_000;
    await container.handle(prewarm([{ client: 'config-us', scope }]));

    expect(harness.sim.tokenRequests).toBe(2);
    const served = bodyOf(
      await container.handle(tokenEvent({ client: 'config-us', scope }, ROTATION_CALLER)),
    );
    expect(served.expires_in).toBeGreaterThan(1_100);
  });

  it('reports an entry outside its client allowedScopes as failed and still runs the others', async () => {
    const outcome = await harness.container().handle(
      prewarm([
        { client: 'config-us', scope: '*:webhooks/**' },
        { client: 'config-us', scope: `*:config/${randomUUID()}` },
      ]),
    );
    expect(outcome).toEqual({ refreshed: 1, failed: 1 });
  });
});
