import { randomUUID } from 'node:crypto';
import { cacheKeyFor, sha256Hex } from '@tvs/client/contract';
import { timingFor } from '@tvs/core/policy/timing';
import { DynamoDbRecordStore } from '@tvs/core/stores/dynamodb-store';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bodyOf, Harness, ROTATION_CALLER, tokenEvent } from '../../support/harness';

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start({
    settings: { pollInitialMs: 10, pollMaxMs: 50 },
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

beforeEach(async () => {
  await harness.upstreamHealthy();
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
});

describe('reject', () => {
  it('replaces a rejected token once, however many callers report it, and serves the new one to late reporters', async () => {
    const scope = freshScope();
    let clock = Date.now();
    const containers = Array.from({ length: 3 }, () => harness.container({ now: () => clock }));
    const first = bodyOf(
      await containers[0]!.handle(tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER)),
    );
    const dead = sha256Hex(first.access_token as string);
    // A token may be replaced on request once the minimum mint interval (30 s) has passed since its mint.
    clock += 31_000;
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
  const store = () => new DynamoDbRecordStore(harness.dynamodb, harness.tableName);

  /** What a container killed mid-fetch leaves behind: its lease on the key, and no token. */
  async function leaveLease(cacheKey: string, until: number): Promise<void> {
    const taken = await store().replace(await store().read(cacheKey), {
      lease: { holder: 'dead-container', until },
    });
    expect(taken).toBeDefined();
  }

  it('waits for a dead holder only while its lease is live, answers 503 with Retry-After, then fetches once it has ended', async () => {
    const scope = freshScope();
    const cacheKey = cacheKeyFor('webhooks-us', scope);
    let offset = 0;
    const now = () => Date.now() + offset;
    // The lease of a holder whose request started now: its deadline plus the slack that outlives it.
    const { requestDeadlineMs, leaseSlackMs } = timingFor(10);
    const leaseEnds = now() + requestDeadlineMs + leaseSlackMs;
    await leaveLease(cacheKey, leaseEnds);
    // A waiter with a 1 s deadline, so the test need not wait 8 s for the answer.
    const container = harness.container({ now, settings: { requestDeadlineMs: 1_000, fetchReserveMs: 500 } });

    const started = Date.now();
    const during = await container.handle(tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER));
    const waited = Date.now() - started;
    offset = leaseEnds + 1 - Date.now();
    const after = await container.handle(tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER));

    // Never a second fetcher while the lease is live: the holder might still be fetching.
    expect(during.statusCode).toBe(503);
    expect(bodyOf(during)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(waited).toBeGreaterThanOrEqual(500); // it polled for the holder's token first
    expect(waited).toBeLessThan(1_000 + 500); // and answered by its deadline
    const retryAfter = Number(during.headers?.['Retry-After']);
    expect(retryAfter).toBeGreaterThanOrEqual(Math.floor((requestDeadlineMs + leaseSlackMs - waited) / 1000));
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil((requestDeadlineMs + leaseSlackMs) / 1000));
    expect(after.statusCode).toBe(200);
    expect(harness.sim.tokenRequests).toBe(1);
    const item = await harness.rawItem(cacheKey);
    expect(item?.fingerprint?.S).toBe(sha256Hex(bodyOf(after).access_token as string));
    expect(item?.lease_holder).toBeUndefined();
  });

  it('takes over an expired lease at once', async () => {
    const scope = freshScope();
    const cacheKey = cacheKeyFor('webhooks-us', scope);
    await leaveLease(cacheKey, Date.now() - 10_000);

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
    const until = Date.now() + 10_000;
    const seen = await store().read(cacheKey);
    const results = await Promise.all([
      store().replace(seen, { lease: { holder: 'a', until } }),
      store().replace(seen, { lease: { holder: 'b', until } }),
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
