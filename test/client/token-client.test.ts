/**
 * The TypeScript client against the real local server (in-process) and the Identity Cloud simulator:
 * memory cache, refresh margin, single flight, reject, 503 retries, error mapping.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalScope, createTokenClient, defaultRegion, TokenServiceError } from '../../src/client/index';
import { type LocalServer, startLocalServer } from '../../src/local/server';
import type { IdentityCloudSimulator } from '../../src/simulator/identity-cloud';
import {
  closedPort,
  ORDERS,
  startTestSimulator,
  TEST_SECRETS,
  tempDir,
  testDocument,
  writeJson,
} from '../e2e/support';
import { UNBOUNDED_MINTS } from '../support/mint-bounds';

/** Counts what the server handled, from its structured log. */
class LogCounter {
  readonly lines: { message: string; attributes: Record<string, unknown> }[] = [];
  info = (message: string, attributes: Record<string, unknown>) => this.lines.push({ message, attributes });
  warn = this.info;
  error = this.info;
  served(client: string): number {
    return this.lines.filter((line) => line.message === 'token served' && line.attributes.client === client)
      .length;
  }
}

let sim: IdentityCloudSimulator;
let server: LocalServer;
let config: ReturnType<typeof testDocument>;
let configDir: string;
let removeDir: () => Promise<void>;
const log = new LogCounter();

const credentials = { accessKeyId: ORDERS.accessKeyId, secretAccessKey: ORDERS.secretAccessKey };
const clientFor = (options: Partial<Parameters<typeof createTokenClient>[0]> = {}) =>
  createTokenClient({ endpoint: server.url, region: 'us-east-1', credentials, ...options });

beforeAll(async () => {
  sim = await startTestSimulator();
  const dir = await tempDir();
  removeDir = dir.remove;
  configDir = dir.path;
  await writeJson(dir.path, 'secrets.json', TEST_SECRETS);
  config = testDocument({
    tokenEndpoint: sim.tokenEndpoint,
    downEndpoint: `http://127.0.0.1:${await closedPort()}/x/login/token`,
    secretsFile: 'secrets.json',
  });
  server = await startLocalServer({ config, configDir, port: 0, env: {}, log, settings: UNBOUNDED_MINTS });
});

afterAll(async () => {
  await server?.close();
  await sim?.close();
  await removeDir?.();
});

describe('createTokenClient', () => {
  it('keeps one token per client and canonical scope in memory', async () => {
    const client = clientFor();
    const before = log.served('config-us');

    const first = await client.getToken({ client: 'config-us', scope: '.:config/a  .:config/b' });
    const same = await client.getToken({ client: 'config-us', scope: ' .:config/b .:config/a .:config/a' });

    expect(same).toBe(first);
    expect(log.served('config-us') - before).toBe(1);
    expect(first.scope).toBe('.:config/a .:config/b');
  });

  it('sends one request for many concurrent callers of the same token', async () => {
    const client = clientFor();
    const before = log.served('config-us');

    const tokens = await Promise.all(
      Array.from({ length: 20 }, () =>
        client.getToken({ client: 'config-us', scope: '.:config/flights/**' }),
      ),
    );

    expect(new Set(tokens.map((token) => token.accessToken)).size).toBe(1);
    expect(log.served('config-us') - before).toBe(1);
  });

  it('refreshes a token once less than the refresh margin remains, and for a longer min_ttl', async () => {
    let now = Date.now();
    const client = clientFor({ now: () => now });
    const request = { client: 'config-us', scope: '.:config/margin/**' };
    const first = await client.getToken(request);
    // config-us tokens live 1200 s: the margin is min(300 s, 1200 s / 4) = 300 s.
    const lifetime = first.expiresAt.getTime() - now;
    const before = log.served('config-us');

    now += lifetime - 301_000;
    await client.getToken(request);
    const outside = log.served('config-us') - before;
    now += 2_000;
    const refreshed = await client.getToken(request);
    const inside = log.served('config-us') - before;
    now = refreshed.expiresAt.getTime() - 310_000;
    await client.getToken(request);
    const stillFresh = log.served('config-us') - before;
    await client.getToken({ ...request, minTtl: 320 });
    const longer = log.served('config-us') - before;

    expect([outside, inside, stillFresh, longer]).toEqual([0, 1, 1, 2]);
  });

  it('reject() drops the cached token and sends its fingerprint once; unknown tokens are ignored', async () => {
    const client = clientFor();
    const request = { client: 'webhooks-us', scope: '.:webhooks/**' };
    const first = await client.getToken(request);

    expect(client.reject('not-a-token-we-handed-out')).toBe(false);
    expect(client.reject(first.accessToken)).toBe(true);
    const second = await client.getToken(request);
    const third = await client.getToken(request);

    expect(second.accessToken).not.toBe(first.accessToken);
    expect(third).toBe(second);
  });

  it('retries a 503 after its Retry-After, at most maxAttempts times in all', async () => {
    const waits: number[] = [];
    const client = clientFor({
      sleep: async (ms) => {
        waits.push(ms);
      },
    });

    const error = await client
      .getToken({ client: 'down-us', scope: '*:webhooks/**' })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TokenServiceError);
    expect(error).toMatchObject({ status: 503, error: 'temporarily_unavailable', retryAfter: 1 });
    expect(waits).toEqual([1000, 1000]);
  });

  it('throws the service error fields for a refusal, and never retries it', async () => {
    const waits: number[] = [];
    const client = clientFor({ sleep: async (ms) => void waits.push(ms) });

    const error = (await client
      .getToken({ client: 'config-us', scope: '*:**' })
      .catch((e: unknown) => e)) as TokenServiceError;

    expect(error).toBeInstanceOf(TokenServiceError);
    expect({ status: error.status, error: error.error }).toEqual({ status: 403, error: 'access_denied' });
    expect(error.error_description).toMatch(/no grant/);
    expect(error.message).toContain('(access_denied, HTTP 403)');
    expect(waits).toEqual([]);
  });

  it('keeps serving a still-valid token when the refresh cannot reach the service', async () => {
    const own = await startLocalServer({ config, configDir, port: 0, env: {}, log });
    let now = Date.now();
    const client = createTokenClient({ endpoint: own.url, region: 'us-east-1', credentials, now: () => now });
    const request = { client: 'config-us', scope: '.:config/fallback/**' };
    const first = await client.getToken(request);
    await own.close();

    now = first.expiresAt.getTime() - 100_000;
    const during = await client.getToken(request);
    const afterExpiry = await client.getToken({ ...request, minTtl: 200 }).catch((e: unknown) => e);

    expect(during).toBe(first);
    expect(afterExpiry).toMatchObject({ status: 0, error: 'unreachable' });
  });

  it('lists the clients the caller may ask for', async () => {
    const clients = await clientFor().listClients();

    expect(clients.map((entry) => entry.client)).toEqual(
      expect.arrayContaining(['webhooks-us', 'config-us', 'broken-us', 'down-us', 'missing-us']),
    );
  });
});

describe('canonicalScope and defaultRegion', () => {
  it('de-duplicates, sorts and joins scopes by one space, by the service rule', () => {
    expect(canonicalScope('  *:b/** .:a/**  *:b/** ')).toBe('*:b/** .:a/**');
  });

  it('has no canonical form for a string the service refuses: a tab is not a separator', () => {
    expect(canonicalScope('.:a/**\t.:b/**')).toBeUndefined();
    expect(canonicalScope('b:x a:y')).toBeUndefined();
  });

  it('takes the region from an execute-api host, then AWS_REGION, then us-east-1', () => {
    expect(
      defaultRegion('https://abc123.execute-api.eu-west-1.amazonaws.com/prod', { AWS_REGION: 'us-west-2' }),
    ).toBe('eu-west-1');
    expect(defaultRegion('http://127.0.0.1:8787', { AWS_REGION: 'us-west-2' })).toBe('us-west-2');
    expect(defaultRegion('http://127.0.0.1:8787', {})).toBe('us-east-1');
  });
});
