import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import {
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { cacheKeyFor, sha256Hex } from '@tvs/client/contract';
import { budgetKey } from '@tvs/core/protocol/mint-budget';
import { circuitKey } from '@tvs/core/protocol/upstream-circuit';
import { tokenEncryptionContext } from '@tvs/core/stores/token-crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  bodyOf,
  CountingMetrics,
  Harness,
  ROTATION_CALLER,
  tokenEvent,
  WEBHOOKS_CLIENT,
} from '../../support/harness';
import { freePort } from '../../support/moto';

let harness: Harness;

beforeAll(async () => {
  // A probe interval of 1 s: an upstream Retry-After below it is then passed on as its clamp of 1 s.
  harness = await Harness.start({ settings: { probeIntervalMs: 1_000 } });
});

afterAll(async () => {
  await harness?.close();
});

beforeEach(async () => {
  await harness.upstreamHealthy();
});

function freshScope(): string {
  return `*:webhooks/${randomUUID()}/**`;
}

function request(scope: string, extra: Record<string, unknown> = {}) {
  return tokenEvent({ client: 'webhooks-us', scope, ...extra }, ROTATION_CALLER);
}

describe('Identity Cloud outage', () => {
  it('serves a still-valid token from the table to a cold container, and 503 with Retry-After for a key with none', async () => {
    const cached = freshScope();
    const first = bodyOf(await harness.container().handle(request(cached)));
    harness.sim.setPersistentFault({ kind: 'status', status: 503 });

    const cold = harness.container();
    const served = await cold.handle(request(cached));
    const missing = await cold.handle(request(freshScope()));

    expect(served.statusCode).toBe(200);
    expect(bodyOf(served).access_token).toBe(first.access_token);
    expect(missing.statusCode).toBe(503);
    expect(bodyOf(missing)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(missing.headers?.['Retry-After']).toMatch(/^\d+$/);
  });

  it('serves the current token when the refresh inside the margin fails', async () => {
    const scope = freshScope();
    const start = Date.now();
    let clock = start;
    const container = harness.container({ now: () => clock });
    const first = bodyOf(await container.handle(request(scope)));
    clock = start + (3600 - 100) * 1000;
    harness.sim.setPersistentFault({ kind: 'close-without-answer' });

    const response = await container.handle(request(scope));

    expect(response.statusCode).toBe(200);
    expect(bodyOf(response).access_token).toBe(first.access_token);
    expect(bodyOf(response).expires_in).toBeLessThanOrEqual(100);
    expect(harness.sim.tokenRequests).toBeGreaterThan(0);
  });

  it('never serves an expired token, even while Identity Cloud is down', async () => {
    const scope = freshScope();
    const start = Date.now();
    let clock = start;
    const container = harness.container({ now: () => clock });
    await container.handle(request(scope));
    clock = start + 3601 * 1000;
    harness.sim.setPersistentFault({ kind: 'status', status: 500 });

    const response = await container.handle(request(scope));

    expect(response.statusCode).toBe(503);
  });

  it('does not serve a token that would not last min_ttl while Identity Cloud is down', async () => {
    const scope = freshScope();
    const start = Date.now();
    let clock = start;
    const container = harness.container({ now: () => clock });
    await container.handle(request(scope));
    clock = start + 3000 * 1000; // 600 s left
    harness.sim.setPersistentFault({ kind: 'status', status: 502 });

    expect((await container.handle(request(scope, { min_ttl: 500 }))).statusCode).toBe(200);
    expect((await container.handle(request(scope, { min_ttl: 900 }))).statusCode).toBe(503);
  });
});

describe('a refresh that fails for any reason', () => {
  it.each([
    [
      'the secret cannot be read',
      async () => harness.putSecret('webhooks-us', WEBHOOKS_CLIENT.clientId, 'not json'),
    ],
    [
      'Identity Cloud refuses the credentials',
      async () => harness.sim.setClientSecret(WEBHOOKS_CLIENT.clientId, 'changed-upstream-only'),
    ],
  ])('serves the still-valid token when %s', async (_name, breakIt) => {
    const scope = freshScope();
    const start = Date.now();
    const first = bodyOf(await harness.container().handle(request(scope)));
    // A cold container inside the refresh margin: it must read the secret and ask Identity Cloud.
    const container = harness.container({ now: () => start + (3600 - 100) * 1000 });
    await breakIt();
    try {
      const before = harness.capture.lines.length;
      const response = await container.handle(request(scope));
      expect(response.statusCode).toBe(200);
      expect(bodyOf(response).access_token).toBe(first.access_token);
      const lines = harness.capture.lines.slice(before);
      expect(lines.some((l) => l.message === 'refresh failed; serving the still-valid token')).toBe(true);
      expect((await harness.rawItem(cacheKeyFor('webhooks-us', scope)))?.lease_holder).toBeUndefined();
    } finally {
      await harness.putSecret('webhooks-us', WEBHOOKS_CLIENT.clientId, WEBHOOKS_CLIENT.clientSecret);
      harness.sim.setClientSecret(WEBHOOKS_CLIENT.clientId, WEBHOOKS_CLIENT.clientSecret);
    }
  });

  it('answers 503 within the request deadline when Identity Cloud is slower than it', async () => {
    harness.sim.setPersistentFault({ kind: 'slow-headers', delayMs: 5_000 });
    const container = harness.container({ settings: { requestDeadlineMs: 1_000, fetchReserveMs: 500 } });
    const started = Date.now();

    const response = await container.handle(request(freshScope()));

    expect(response.statusCode).toBe(503);
    expect(response.headers?.['Retry-After']).toMatch(/^\d+$/);
    // The token client's own deadline is 3 s here: the request's 1 s deadline is what ended it.
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('still opens the circuit, refunds the mint and releases the lease when Identity Cloud took the whole deadline', async () => {
    harness.sim.setPersistentFault({ kind: 'slow-headers', delayMs: 5_000 });
    await harness.deleteItem(budgetKey('webhooks-us'));
    const container = harness.container({ settings: { requestDeadlineMs: 1_000, fetchReserveMs: 500 } });
    const scope = freshScope();

    const response = await container.handle(request(scope));

    expect(response.statusCode).toBe(503);
    const circuit = await harness.rawItem(circuitKey('webhooks-us'));
    expect(Number(circuit?.circuit_probe_at?.N)).toBeGreaterThan(Date.now());
    expect((await harness.rawItem(budgetKey('webhooks-us')))?.mints?.L ?? []).toEqual([]);
    expect((await harness.rawItem(cacheKeyFor('webhooks-us', scope)))?.lease_holder).toBeUndefined();
  });
});

describe('429 from Identity Cloud', () => {
  it('is not treated as a bad credential: no secret re-read, one request, 503 with its Retry-After', async () => {
    harness.sim.setPersistentFault({ kind: 'status', status: 429, headers: { 'Retry-After': '120' } });
    const metrics = new CountingMetrics();
    const before = harness.capture.lines.length;

    const response = await harness.container({ metrics }).handle(request(freshScope()));

    expect(response.statusCode).toBe(503);
    expect(response.headers?.['Retry-After']).toBe('120');
    expect(harness.sim.tokenRequests).toBe(1);
    const lines = harness.capture.lines.slice(before);
    expect(lines.some((l) => String(l.message).includes('re-reading the secret'))).toBe(false);
    expect(metrics.get('UpstreamFailure')).toBe(1);
  });

  it.each([
    ['99999999999999999999999', '3600'],
    ['0', '1'],
    ['Fri, 31 Dec 9999 23:59:59 GMT', '3600'],
  ])(
    'passes an upstream Retry-After of %s on as %s: a whole number of seconds from 1 to 3600',
    async (sent, passed) => {
      harness.sim.setPersistentFault({ kind: 'status', status: 429, headers: { 'Retry-After': sent } });

      const response = await harness.container().handle(request(freshScope()));

      expect(response.statusCode).toBe(503);
      expect(response.headers?.['Retry-After']).toBe(passed);
    },
  );
});

describe('secret rotation', () => {
  it('loses no request while the secret is rotated under running traffic', async () => {
    const containers = Array.from({ length: 3 }, () => harness.container());
    // Warm every container's secret cache with the old secret.
    await Promise.all(containers.map((c) => c.handle(request(freshScope()))));
    const statuses: number[] = [];
    let rotated = false;
    let before = 0;
    // Each container keeps asking until it has made five requests after the rotation (at most 20 s).
    const traffic = async (container: (typeof containers)[number]) => {
      const giveUp = Date.now() + 20_000;
      let afterRotation = 0;
      while (afterRotation < 5 && Date.now() < giveUp) {
        if (rotated) afterRotation += 1;
        else before += 1;
        // A fresh scope each time forces a real upstream request with the cached credentials.
        statuses.push((await container.handle(request(freshScope()))).statusCode);
      }
    };
    const rotation = (async () => {
      // Once traffic is running (nine requests begun with the old secret)…
      while (before < 9) await new Promise((resolve) => setTimeout(resolve, 10));
      // …rotate as Secrets Manager and Identity Cloud do it: the new version becomes AWSCURRENT, then the
      // old secret stops working upstream.
      await harness.putSecret('webhooks-us', WEBHOOKS_CLIENT.clientId, 'rotated-secret-value-2');
      harness.sim.setClientSecret(WEBHOOKS_CLIENT.clientId, 'rotated-secret-value-2');
      rotated = true;
    })();

    try {
      await Promise.all([...containers.map(traffic), rotation]);
      expect(rotated).toBe(true);
      expect(statuses.length).toBeGreaterThan(20); // nine before, some during, fifteen after the rotation
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      const rereads = harness.capture.lines.filter((l) =>
        String(l.message).includes('re-reading the secret'),
      );
      expect(rereads.length).toBeGreaterThanOrEqual(1);
    } finally {
      await harness.putSecret('webhooks-us', WEBHOOKS_CLIENT.clientId, WEBHOOKS_CLIENT.clientSecret);
      harness.sim.setClientSecret(WEBHOOKS_CLIENT.clientId, WEBHOOKS_CLIENT.clientSecret);
    }
  });
});

describe('DynamoDB faults', () => {
  async function unreachableTable(): Promise<DynamoDBClient> {
    // A real connection refusal: nothing listens on this port.
    return new DynamoDBClient({ endpoint: `http://127.0.0.1:${await freePort()}`, maxAttempts: 1 });
  }

  /** Throttling cannot be produced by moto: a client whose every call fails as DynamoDB throttling does. */
  function throttledTable(): DynamoDBClient {
    const client = new DynamoDBClient({ maxAttempts: 1 });
    client.middlewareStack.add(
      () => async () => {
        throw new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} });
      },
      { step: 'initialize', name: 'throttle-everything' },
    );
    return client;
  }

  it.each([
    ['unreachable', unreachableTable],
    ['throttling', async () => throttledTable()],
  ])('degrades to memory plus one upstream fetch per key when the table is %s', async (_name, makeClient) => {
    const metrics = new CountingMetrics();
    const container = harness.container({ dynamodb: await makeClient(), metrics });
    const scope = freshScope();

    const responses = await Promise.all(Array.from({ length: 40 }, () => container.handle(request(scope))));
    const again = await container.handle(request(scope));

    expect(responses.map((r) => r.statusCode)).toEqual(Array(40).fill(200));
    expect(new Set(responses.map((r) => bodyOf(r).access_token)).size).toBe(1);
    expect(bodyOf(again).access_token).toBe(bodyOf(responses[0]!).access_token);
    expect(harness.sim.tokenRequests).toBe(1);
    expect(metrics.get('StoreFailure')).toBeGreaterThanOrEqual(1);
  });

  it('replaces a cached item that does not decrypt (tampered, or sealed under another key)', async () => {
    const scope = freshScope();
    const first = bodyOf(await harness.container().handle(request(scope)));
    const cacheKey = cacheKeyFor('webhooks-us', scope);
    const sealed = Buffer.from((await harness.rawItem(cacheKey))?.tok?.B ?? []);
    sealed[20] = (sealed[20] ?? 0) ^ 0xff;
    await harness.dynamodb.send(
      new UpdateItemCommand({
        TableName: harness.tableName,
        Key: { pk: { S: cacheKey } },
        UpdateExpression: 'SET tok = :tok',
        ExpressionAttributeValues: { ':tok': { B: sealed } },
      }),
    );
    const before = harness.capture.lines.length;

    const response = await harness.container().handle(request(scope));

    expect(response.statusCode).toBe(200);
    expect(bodyOf(response).access_token).not.toBe(first.access_token);
    const lines = harness.capture.lines.slice(before);
    expect(lines.some((l) => l.message === 'cached token did not decrypt; replacing it')).toBe(true);
    expect((await harness.rawItem(cacheKey))?.fingerprint?.S).toBe(
      sha256Hex(bodyOf(response).access_token as string),
    );
  });

  it('serves a minted token and releases the lease when sealing it fails (KMS unusable)', async () => {
    const scope = freshScope();
    const metrics = new CountingMetrics();
    const container = harness.container({ keyId: 'alias/does-not-exist', metrics });

    const response = await container.handle(request(scope));

    expect(response.statusCode).toBe(200);
    expect(harness.sim.tokenRequests).toBe(1);
    expect(metrics.get('StoreFailure')).toBe(1);
    const item = await harness.rawItem(cacheKeyFor('webhooks-us', scope));
    expect(item?.lease_holder).toBeUndefined();
    expect(item?.tok).toBeUndefined();
  });

  it('goes back to the table once it recovers', async () => {
    let clock = Date.now();
    const broken = harness.container({ dynamodb: throttledTable(), now: () => clock });
    const scope = freshScope();
    expect((await broken.handle(request(scope))).statusCode).toBe(200);
    expect(await harness.rawItem(cacheKeyFor('webhooks-us', scope))).toBeUndefined();

    const healthy = harness.container({ now: () => clock, settings: { storeBackoffMs: 1_000 } });
    clock += 2_000;
    const response = await healthy.handle(request(scope));
    expect(response.statusCode).toBe(200);
    expect(await harness.rawItem(cacheKeyFor('webhooks-us', scope))).toBeDefined();
  });
});

describe('the upgrade to sealing format 3', () => {
  /**
   * An item as an older version wrote it. Format 1: a data key made without an encryption context, the
   * `pk` alone as AAD, no `seal` attribute. Format 2: the service's encryption context, AAD binding `pk`,
   * `expires_at` and the fingerprint but not `issued_at`.
   */
  async function writeOldItem(
    format: 1 | 2,
    cacheKey: string,
    scope: string,
    accessToken: string,
    expiresAt: number,
  ) {
    const kms = new KMSClient({});
    const dataKey = await kms.send(
      new GenerateDataKeyCommand({
        KeyId: harness.keyId,
        KeySpec: 'AES_256',
        ...(format === 2 ? { EncryptionContext: { ...tokenEncryptionContext(harness.tableName) } } : {}),
      }),
    );
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(dataKey.Plaintext ?? []), iv);
    const fingerprint = sha256Hex(accessToken);
    cipher.setAAD(
      Buffer.from(format === 1 ? cacheKey : JSON.stringify([2, cacheKey, expiresAt, fingerprint]), 'utf8'),
    );
    const body = Buffer.concat([cipher.update(accessToken, 'utf8'), cipher.final()]);
    await harness.dynamodb.send(
      new PutItemCommand({
        TableName: harness.tableName,
        Item: {
          pk: { S: cacheKey },
          tok: { B: Buffer.concat([iv, body, cipher.getAuthTag()]) },
          dk: { B: Buffer.from(dataKey.CiphertextBlob ?? []) },
          ...(format === 2 ? { seal: { N: '2' } } : {}),
          scope: { S: scope },
          issued_at: { N: String(expiresAt - 3_600) },
          expires_at: { N: String(expiresAt) },
          ttl: { N: String(expiresAt) },
          fingerprint: { S: fingerprint },
        },
      }),
    );
  }

  it.each([1, 2] as const)(
    'treats an item sealed in format %i as a miss and replaces it, failing no request',
    async (format) => {
      const scope = freshScope();
      const cacheKey = cacheKeyFor('webhooks-us', scope);
      const old = `old-format-token-${randomUUID()}`;
      await writeOldItem(format, cacheKey, scope, old, Math.floor(Date.now() / 1000) + 3_000);
      const before = harness.capture.lines.length;

      const responses = await Promise.all(
        Array.from({ length: 5 }, () => harness.container().handle(request(scope))),
      );

      expect(responses.map((r) => r.statusCode)).toEqual(Array(5).fill(200));
      expect(new Set(responses.map((r) => bodyOf(r).access_token))).toEqual(
        new Set([bodyOf(responses[0]!).access_token]),
      );
      expect(bodyOf(responses[0]!).access_token).not.toBe(old);
      expect(harness.sim.tokenRequests).toBe(1);
      const item = await harness.rawItem(cacheKey);
      expect(item?.seal?.N).toBe('3');
      expect(item?.fingerprint?.S).toBe(sha256Hex(bodyOf(responses[0]!).access_token as string));
      const lines = harness.capture.lines.slice(before);
      expect(lines.some((l) => l.message === 'cached token did not decrypt; replacing it')).toBe(true);
    },
  );
});
