import { type ChildProcess, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { UpstreamRejectedError, UpstreamUnavailableError } from '@tvs/client/contract';
import { IdentityCloudClient, type TokenEndpointPolicy } from '@tvs/core/upstream/identity-cloud';
import { type IdentityCloudSimulator, startIdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../support/moto';

const CREDENTIALS = { clientId: 'fault-client', clientSecret: 'fault+secret: %20' };
const SCOPE = '*:webhooks/**';

let sim: IdentityCloudSimulator;
const clients: IdentityCloudClient[] = [];

/** A token client with short timeouts, so each fault resolves in well under a second or two. */
function tokenClient(policy: Partial<TokenEndpointPolicy> = {}): IdentityCloudClient {
  const client = new IdentityCloudClient({
    policy: {
      connectTimeoutMs: 300,
      headersTimeoutMs: 300,
      bodyTimeoutMs: 300,
      maxAttempts: 3,
      baseBackoffMs: 10,
      maxBackoffMs: 40,
      deadlineMs: 3_000,
      ...policy,
    },
  });
  clients.push(client);
  return client;
}

beforeAll(async () => {
  sim = await startIdentityCloudSimulator({
    clients: [{ ...CREDENTIALS, allowedScopes: ['*:webhooks/**'], accessTokenLifetime: 3600 }],
  });
});

afterAll(async () => {
  for (const client of clients) await client.close();
  await sim?.close();
});

beforeEach(() => {
  sim.setPersistentFault(undefined);
  sim.resetCounters();
});

async function outcome(client: IdentityCloudClient, endpoint = sim.tokenEndpoint) {
  try {
    return await client.requestToken(endpoint, CREDENTIALS, SCOPE);
  } catch (error) {
    return error;
  }
}

describe('Identity Cloud faults the token client retries (network, 5xx, 429)', () => {
  it('answers 503 network when the connection is refused', async () => {
    const closedPort = await freePort();
    const error = await outcome(
      tokenClient({ maxAttempts: 2 }),
      `http://127.0.0.1:${closedPort}/x/login/token`,
    );
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect(error).toMatchObject({ reason: 'network', status: 503 });
  });

  describe('with a listener that never accepts', () => {
    let blackhole: ChildProcess;
    let port: number;
    const fillers: Socket[] = [];

    beforeAll(async () => {
      // A real server that never accepts: its backlog fills, and the kernel drops further SYNs, which is
      // what a connect timeout looks like from the client. Python, because Node accepts every connection.
      blackhole = spawn('python3', [
        '-c',
        'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)',
      ]);
      port = await new Promise<number>((resolve) =>
        blackhole.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
      );
      for (let i = 0; i < 4; i++) {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => {});
        fillers.push(socket);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    });

    afterAll(() => {
      for (const socket of fillers) socket.destroy();
      if (blackhole?.pid) process.kill(blackhole.pid, 'SIGKILL');
    });

    it('answers 503 when connecting times out, within the deadline', async () => {
      const started = Date.now();
      const error = await outcome(
        tokenClient({ maxAttempts: 2, deadlineMs: 2_000 }),
        `http://127.0.0.1:${port}/x/login/token`,
      );
      expect(error).toBeInstanceOf(UpstreamUnavailableError);
      expect(['timeout', 'network']).toContain((error as UpstreamUnavailableError).reason);
      expect(Date.now() - started).toBeLessThan(2_500);
    });
  });

  it('answers 503 timeout when the headers are slow on every attempt', async () => {
    sim.setPersistentFault({ kind: 'slow-headers', delayMs: 2_000 });
    const error = await outcome(tokenClient({ maxAttempts: 2 }));
    expect(error).toMatchObject({ reason: 'timeout', status: 503 });
    expect(sim.tokenRequests).toBe(2);
  });

  it('answers 503 timeout when the body stalls', async () => {
    sim.setPersistentFault({ kind: 'slow-body', delayMs: 2_000 });
    const error = await outcome(tokenClient({ maxAttempts: 2 }));
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect(sim.tokenRequests).toBe(2);
  });

  it('answers 503 network when the connection is reset mid-body', async () => {
    sim.setPersistentFault({ kind: 'reset-mid-body' });
    const error = await outcome(tokenClient({ maxAttempts: 2 }));
    expect(error).toMatchObject({ reason: 'network', status: 503 });
  });

  it('answers 503 network when the server closes without answering', async () => {
    sim.setPersistentFault({ kind: 'close-without-answer' });
    const error = await outcome(tokenClient({ maxAttempts: 2 }));
    expect(error).toMatchObject({ reason: 'network', status: 503 });
  });

  it.each([500, 502, 503])('retries HTTP %i and succeeds when the next attempt works', async (status) => {
    sim.injectFaults({ kind: 'status', status });
    const token = await outcome(tokenClient());
    expect(token).toMatchObject({ expiresIn: 3600, grantedScope: SCOPE });
    expect(sim.tokenRequests).toBe(2);
  });

  it('answers 503 http_5xx after the last attempt fails', async () => {
    sim.setPersistentFault({ kind: 'status', status: 502 });
    const error = await outcome(tokenClient({ maxAttempts: 3 }));
    expect(error).toMatchObject({ reason: 'http_5xx', status: 503 });
    expect(sim.tokenRequests).toBe(3);
  });

  it('retries a 429 without Retry-After after a jittered backoff', async () => {
    sim.injectFaults({ kind: 'status', status: 429 });
    const token = await outcome(tokenClient());
    expect(token).toMatchObject({ grantedScope: SCOPE });
    expect(sim.tokenRequests).toBe(2);
  });

  it('waits the Retry-After of a 429 when it fits in the deadline', async () => {
    sim.injectFaults({ kind: 'status', status: 429, headers: { 'Retry-After': '1' } });
    const started = Date.now();
    const token = await outcome(tokenClient());
    expect(token).toMatchObject({ grantedScope: SCOPE });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('gives up at once on a 429 whose Retry-After is past the deadline, passing it on', async () => {
    sim.setPersistentFault({ kind: 'status', status: 429, headers: { 'Retry-After': '30' } });
    const error = await outcome(tokenClient());
    expect(error).toMatchObject({ reason: 'http_429', status: 503, retryAfterSeconds: 30 });
    expect(sim.tokenRequests).toBe(1);
  });

  it('keeps every attempt inside the deadline', async () => {
    sim.setPersistentFault({ kind: 'slow-headers', delayMs: 5_000 });
    const started = Date.now();
    const error = await outcome(tokenClient({ headersTimeoutMs: 5_000, maxAttempts: 5, deadlineMs: 700 }));
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect(Date.now() - started).toBeLessThan(1_200);
  });
});

describe('Identity Cloud answers the token client refuses without retrying (502)', () => {
  const cases: [string, Parameters<IdentityCloudSimulator['injectFaults']>[0], string][] = [
    ['an empty 200', { kind: 'empty-200' }, 'invalid_response'],
    ['a 200 that is not JSON', { kind: 'non-json-200' }, 'invalid_response'],
    [
      'a 200 without access_token',
      { kind: 'json-200', body: { token_type: 'Bearer', expires_in: 3600, scope: SCOPE } },
      'invalid_response',
    ],
    [
      'a 200 with an empty access_token',
      { kind: 'json-200', body: { access_token: '', token_type: 'Bearer', expires_in: 3600, scope: SCOPE } },
      'invalid_response',
    ],
    [
      'a 200 without expires_in',
      { kind: 'json-200', body: { access_token: 'tok-a-1', token_type: 'Bearer', scope: SCOPE } },
      'invalid_response',
    ],
    [
      'a 200 with expires_in 0',
      {
        kind: 'json-200',
        body: { access_token: 'tok-a-2', token_type: 'Bearer', expires_in: 0, scope: SCOPE },
      },
      'invalid_response',
    ],
    [
      'a 200 with a negative expires_in',
      {
        kind: 'json-200',
        body: { access_token: 'tok-a-3', token_type: 'Bearer', expires_in: -5, scope: SCOPE },
      },
      'invalid_response',
    ],
    [
      'a 200 with an absurd expires_in',
      {
        kind: 'json-200',
        body: { access_token: 'tok-a-4', token_type: 'Bearer', expires_in: 1e12, scope: SCOPE },
      },
      'invalid_response',
    ],
    [
      'a 200 with expires_in as a string',
      {
        kind: 'json-200',
        body: { access_token: 'tok-a-5', token_type: 'Bearer', expires_in: '3600', scope: SCOPE },
      },
      'invalid_response',
    ],
    [
      'a 200 with token_type MAC',
      {
        kind: 'json-200',
        body: { access_token: 'tok-a-6', token_type: 'MAC', expires_in: 3600, scope: SCOPE },
      },
      'invalid_response',
    ],
    [
      'a 200 with no scope',
      { kind: 'json-200', body: { access_token: 'tok-a-7', token_type: 'Bearer', expires_in: 3600 } },
      'insufficient_scope',
    ],
    ['a 401 invalid_client', { kind: 'status', status: 401 }, 'invalid_client'],
    [
      'a 400 invalid_scope',
      { kind: 'status', status: 400, body: '{"error":"invalid_scope"}' },
      'invalid_scope',
    ],
    ['a 403', { kind: 'status', status: 403, body: '{"error":"Forbidden"}' }, 'bad_request'],
  ];

  it.each(cases)('refuses %s as %s after one request', async (_name, fault, reason) => {
    sim.injectFaults(fault);
    const error = await outcome(tokenClient());
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error).toMatchObject({ reason, status: 502 });
    expect(sim.tokenRequests).toBe(1);
  });

  it('accepts token_type in any case', async () => {
    sim.injectFaults({
      kind: 'json-200',
      body: { access_token: 'tok-b-1', token_type: 'bearer', expires_in: 60, scope: SCOPE },
    });
    expect(await outcome(tokenClient())).toMatchObject({ accessToken: 'tok-b-1', expiresIn: 60 });
  });
});

describe('an upstream answer too large to be a token answer', () => {
  it.each([
    ['without Content-Length (chunked)', false],
    ['with a Content-Length of 1 GiB', true],
  ])('is abandoned at once past 64 KiB and refused as 502, %s', async (_name, contentLength) => {
    sim.setPersistentFault({ kind: 'endless-200', contentLength });

    const error = await outcome(tokenClient({ bodyTimeoutMs: 2_000, deadlineMs: 7_000 }));

    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error).toMatchObject({ reason: 'invalid_response', status: 502 });
    expect((error as Error).message).toMatch(/larger than 65536 bytes/);
    // The reader let go after 64 KiB: the simulator could write little more than that plus what the
    // sockets buffer, where a reader that keeps reading would take the endless body until the deadline.
    expect(sim.endlessBodyBytes).toBeLessThan(4 * 1024 * 1024);
    expect(sim.tokenRequests).toBe(1);
  });
});
