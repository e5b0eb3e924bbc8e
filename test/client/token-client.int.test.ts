/**
 * The TypeScript client against the real local server (in-process) and the Identity Cloud simulator:
 * memory cache, refresh margin, single flight, reject, 503 retries, error mapping, and `authorizedFetch`
 * against a real HTTP server standing in for the API being called.
 */
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { canonicalScope, createTokenClient, defaultRegion, TokenServiceError } from '@tvs/client';
import { fingerprintOf } from '@tvs/client/contract';
import { type LocalServer, startLocalServer } from '@tvs/local/server';
import type { IdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UNBOUNDED_MINTS } from '../support/mint-bounds';
import {
  closedPort,
  ORDERS,
  readBody,
  startTestSimulator,
  TEST_SECRETS,
  tempDir,
  testDocument,
  writeJson,
} from '../support/processes';

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

  it('hands out the held token at once inside its margin and replaces it in the background; never waiting', async () => {
    let now = Date.now();
    const client = clientFor({ now: () => now });
    const request = { client: 'config-us', scope: '.:config/margin/**' };
    const first = await client.getToken(request);
    // config-us tokens live 1200 s: the margin is min(300 s, 1200 s / 4) = 300 s, counted from the
    // token's whole lifetime (expires_at − issued_at).
    expect(first.expiresAt.getTime() - first.issuedAt.getTime()).toBeLessThanOrEqual(1_200_000);
    const before = log.served('config-us');

    now = first.expiresAt.getTime() - 301_000;
    const outside = await client.getToken(request);
    const servedOutside = log.served('config-us') - before;
    now += 2_000;
    const inside = await client.getToken(request);
    // The caller got the held token without waiting; the refresh is on its way.
    expect(inside).toBe(first);
    await expect.poll(() => log.served('config-us') - before).toBe(1);
    // The answer reaches the client a moment after the service logged serving it.
    await expect.poll(async () => (await client.getToken(request)) !== first).toBe(true);
    const replaced = await client.getToken(request);

    expect(outside).toBe(first);
    expect(servedOutside).toBe(0);
    expect(replaced).not.toBe(first);
    // One refresh in all: asking while it was on its way started no other.
    expect(log.served('config-us') - before).toBe(1);
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

  it('ends a getToken after one exchange when the service answers 503, with its Retry-After', async () => {
    const waits: number[] = [];
    const client = clientFor({ sleep: async (ms) => void waits.push(ms) });

    const error = await client
      .getToken({ client: 'down-us', scope: '*:webhooks/**' })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TokenServiceError);
    // Retry-After: when the client's upstream circuit, opened by this failure, may next probe (2 s).
    expect(error).toMatchObject({ status: 503, error: 'temporarily_unavailable', retryAfter: 2 });
    expect(waits).toEqual([]);
  });

  it('retries a 503 after its Retry-After when asked to, at most maxAttempts times in all', async () => {
    const waits: number[] = [];
    const client = clientFor({ maxAttempts: 3, sleep: async (ms) => void waits.push(ms) });

    const error = await client.getToken({ client: 'down-us', scope: '*:webhooks/**' }).catch((e) => e);

    // The first failure opens the client's upstream circuit: every answer says to come back when the
    // next probe may start, 2 s on.
    expect(error).toMatchObject({ status: 503, error: 'temporarily_unavailable', retryAfter: 2 });
    expect(waits).toEqual([2000, 2000]);
  });

  it('acts on a Retry-After of at most an hour, whatever the answer says (the rule the service writes by)', async () => {
    const absurd = createServer((req, res) => {
      req.resume();
      res
        .writeHead(503, { 'content-type': 'application/json', 'retry-after': '99999999999999999999999' })
        .end(JSON.stringify({ error: 'temporarily_unavailable', error_description: 'later' }));
    });
    const api = await listen(absurd);
    const waits: number[] = [];
    try {
      const client = createTokenClient({
        endpoint: api.url,
        credentials: { accessKeyId: ORDERS.accessKeyId, secretAccessKey: ORDERS.secretAccessKey },
        maxAttempts: 2,
        maxRetryWaitMs: 24 * 3_600_000,
        sleep: async (ms) => void waits.push(ms),
      });

      const error = await client.getToken({ client: 'webhooks-us', scope: '.:webhooks/**' }).catch((e) => e);

      expect(error).toMatchObject({ status: 503, retryAfter: 3_600 });
      expect(waits).toEqual([3_600_000]);
    } finally {
      await api.close();
    }
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

/** A server on 127.0.0.1 and the function that stops it. */
async function listen(
  server: ReturnType<typeof createServer>,
): Promise<{ url: string; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One request the API saw: the bearer token it carried and its body. */
interface ApiRequest {
  readonly token: string | undefined;
  readonly method: string;
  readonly body: string;
}

/**
 * The API being called: answers each request with the status `policy` gives for its token (and the
 * tokens seen before it), with a body naming the request's number.
 */
async function startApi() {
  const requests: ApiRequest[] = [];
  let policy: (token: string | undefined, earlier: readonly ApiRequest[]) => number = () => 200;
  const server = createServer(async (req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const body = await readBody(req);
    const status = policy(token, [...requests]);
    requests.push({ token, method: req.method ?? '', body });
    res.writeHead(status, { 'content-type': 'text/plain' }).end(`answer ${requests.length}`);
  });
  return {
    ...(await listen(server)),
    requests,
    /** Forget the requests seen and answer by `next` from now on. */
    answer(next: typeof policy) {
      requests.length = 0;
      policy = next;
    },
  };
}

/**
 * A pass-through proxy in front of the token service that records each request body. Headers go on
 * unchanged, `Host` included, so the SigV4 signature made for the proxy's address still verifies.
 */
async function startRecordingProxy(target: string) {
  const upstream = new URL(target);
  const bodies: string[] = [];
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    bodies.push(body);
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.once('error', () => res.writeHead(502).end());
    forward.end(body);
  });
  return { ...(await listen(server)), bodies };
}

describe('authorizedFetch', () => {
  let api: Awaited<ReturnType<typeof startApi>>;
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  let scopeNumber = 0;
  /** A scope no other test asked for, so each test starts from a token nobody has rejected. */
  const freshRequest = () => ({ client: 'webhooks-us', scope: `.:webhooks/fetch-${++scopeNumber}/**` });
  const tokensThroughProxy = () =>
    createTokenClient({ endpoint: proxy.url, region: 'us-east-1', credentials, maxAttempts: 1 });
  const rejectsSent = () =>
    proxy.bodies.map((body) => JSON.parse(body) as { reject?: string }).filter((body) => body.reject);
  const refuseFirstToken =
    (status: number) =>
    (token: string | undefined, earlier: readonly ApiRequest[]): number =>
      token === (earlier[0]?.token ?? token) ? status : 200;

  beforeAll(async () => {
    api = await startApi();
    proxy = await startRecordingProxy(server.url);
  });

  afterAll(async () => {
    await api?.close();
    await proxy?.close();
  });

  beforeEach(() => {
    proxy.bodies.length = 0;
  });

  it('sends the request again with a new token after a 401, having reported the refused one once', async () => {
    api.answer(refuseFirstToken(401));
    const request = freshRequest();
    const call = tokensThroughProxy().authorizedFetch(request);

    const answer = await call(`${api.url}/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer overridden' },
      body: '{"name":"orders"}',
    });

    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe('answer 2');
    const [first, second] = api.requests;
    expect(api.requests).toHaveLength(2);
    expect(sim.issuedTokens).toContain(first?.token);
    expect(sim.issuedTokens).toContain(second?.token);
    expect(second?.token).not.toBe(first?.token);
    expect(api.requests.map(({ method, body }) => ({ method, body }))).toEqual([
      { method: 'POST', body: '{"name":"orders"}' },
      { method: 'POST', body: '{"name":"orders"}' },
    ]);
    expect(rejectsSent()).toEqual([{ ...request, reject: fingerprintOf(first?.token as string) }]);
    expect(proxy.bodies).toHaveLength(2);
  });

  it('buffers a stream body, so the retry sends the same bytes', async () => {
    api.answer(refuseFirstToken(401));
    const call = tokensThroughProxy().authorizedFetch(freshRequest());
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of ['{"part":1,', '"part":2}']) controller.enqueue(new TextEncoder().encode(part));
        controller.close();
      },
    });

    const answer = await call(`${api.url}/upload`, {
      method: 'PUT',
      body: stream,
      duplex: 'half',
    } as RequestInit);

    expect(answer.status).toBe(200);
    expect(api.requests.map((seen) => seen.body)).toEqual(['{"part":1,"part":2}', '{"part":1,"part":2}']);
  });

  it('returns 200, 404 and 500 answers as they are, without a retry or a reject', async () => {
    const call = tokensThroughProxy().authorizedFetch(freshRequest());
    const statuses: number[] = [];

    for (const status of [200, 404, 500]) {
      api.answer(() => status);
      const answer = await call(`${api.url}/status/${status}`);
      statuses.push(answer.status);
      expect(await answer.text()).toBe('answer 1');
      expect(api.requests).toHaveLength(1);
    }

    expect(statuses).toEqual([200, 404, 500]);
    expect(rejectsSent()).toEqual([]);
    expect(proxy.bodies).toHaveLength(1);
  });

  it('treats a 403 like a 401', async () => {
    api.answer(refuseFirstToken(403));
    const call = tokensThroughProxy().authorizedFetch(freshRequest());

    const answer = await call(`${api.url}/forbidden-once`);

    expect(answer.status).toBe(200);
    expect(api.requests).toHaveLength(2);
    expect(api.requests[1]?.token).not.toBe(api.requests[0]?.token);
    expect(rejectsSent()).toEqual([
      expect.objectContaining({ reject: fingerprintOf(api.requests[0]?.token ?? '') }),
    ]);
  });

  it('returns a second 401 as it is, without a third request or a second reject', async () => {
    api.answer(() => 401);
    const call = tokensThroughProxy().authorizedFetch(freshRequest());

    const answer = await call(`${api.url}/always-401`);

    expect(answer.status).toBe(401);
    expect(await answer.text()).toBe('answer 2');
    expect(api.requests).toHaveLength(2);
    expect(new Set(api.requests.map((seen) => seen.token)).size).toBe(2);
    expect(rejectsSent()).toHaveLength(1);
  });

  it('returns the refusal as it is when the service hands out the refused token again', async () => {
    const tokens = tokensThroughProxy();
    // The cache is emptied while the request is out, so reject() has nothing to report: the service
    // answers with the token it still holds, and sending that again would only be refused again.
    api.answer(() => {
      tokens.clear();
      return 401;
    });

    const answer = await tokens.authorizedFetch(freshRequest())(`${api.url}/cleared`);

    expect(answer.status).toBe(401);
    expect(await answer.text()).toBe('answer 1');
    expect(api.requests).toHaveLength(1);
    expect(rejectsSent()).toEqual([]);
    expect(proxy.bodies).toHaveLength(2);
  });

  it('throws the service refusal and never calls the API without a token', async () => {
    api.answer(() => 200);
    const call = tokensThroughProxy().authorizedFetch({ client: 'webhooks-us', scope: '*:webhooks/**' });

    const error = await call(`${api.url}/never`).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TokenServiceError);
    expect(error).toMatchObject({ status: 403, error: 'access_denied' });
    expect(api.requests).toEqual([]);
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

  it('takes the region from an execute-api or lambda-url host, then AWS_REGION, then us-east-1', () => {
    expect(
      defaultRegion('https://abc123.execute-api.eu-west-1.amazonaws.com/prod', { AWS_REGION: 'us-west-2' }),
    ).toBe('eu-west-1');
    expect(
      defaultRegion('https://abc123.lambda-url.ap-southeast-2.on.aws', { AWS_REGION: 'us-west-2' }),
    ).toBe('ap-southeast-2');
    expect(defaultRegion('http://127.0.0.1:8787', { AWS_REGION: 'us-west-2' })).toBe('us-west-2');
    expect(defaultRegion('http://127.0.0.1:8787', {})).toBe('us-east-1');
  });
});

describe('the client against a function URL', () => {
  let functionUrl: LocalServer;
  const previous = getGlobalDispatcher();

  beforeAll(async () => {
    functionUrl = await startLocalServer({
      config: { ...config, local: { ...config.local, region: 'eu-west-1' } },
      configDir,
      port: 0,
      env: {},
      log,
      settings: UNBOUNDED_MINTS,
      endpointKind: 'function-url',
    });
    // Every host name resolves to 127.0.0.1, so a function URL's own host name reaches the local server.
    setGlobalDispatcher(
      new Agent({
        connect: { lookup: (_host, _options, done) => done(null, [{ address: '127.0.0.1', family: 4 }]) },
      }),
    );
  });

  afterAll(async () => {
    setGlobalDispatcher(previous);
    await functionUrl?.close();
  });

  it('signs for lambda in the region of a lambda-url host name, with neither given', async () => {
    const tokens = createTokenClient({
      endpoint: `http://abc123.lambda-url.eu-west-1.on.aws:${functionUrl.port}`,
      credentials,
    });

    const token = await tokens.getToken({ client: 'webhooks-us', scope: '.:webhooks/**' });

    expect(sim.issuedTokens).toContain(token.accessToken);
  });

  it('signs for the service given, whatever the host name says', async () => {
    const tokens = createTokenClient({
      endpoint: `http://abc123.lambda-url.eu-west-1.on.aws:${functionUrl.port}`,
      service: 'execute-api',
      credentials,
    });

    const error = await tokens.listClients().catch((e: unknown) => e);

    expect(error).toMatchObject({ status: 403, error: 'InvalidSignatureException' });
  });
});
