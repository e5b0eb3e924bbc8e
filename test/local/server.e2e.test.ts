/**
 * `tvs serve` as a child process, called through the TypeScript client and the `tvs` command with real
 * SigV4 signatures: success, the API Gateway refusals, and every error row of docs/contract.md.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { createTokenClient, sendSigned, TokenServiceError } from '@tvs/client';
import type { ErrorCode } from '@tvs/client/contract';
import type { IdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNBOUNDED_MINTS_ENV } from '../support/mint-bounds';
import {
  childEnv,
  closedPort,
  ORDERS,
  recordServeTraffic,
  runCli,
  type ServeProcess,
  STRANGER,
  startServe,
  startTestSimulator,
  TEST_SECRETS,
  tempDir,
  testDocument,
  writeJson,
} from '../support/processes';

let sim: IdentityCloudSimulator;
let serve: ServeProcess;
let removeDir: () => Promise<void>;

const target = (caller = ORDERS) => ({
  endpoint: serve.url,
  region: 'us-east-1',
  credentials: { accessKeyId: caller.accessKeyId, secretAccessKey: caller.secretAccessKey },
});

const post = (body: string, contentType = 'application/json', caller = ORDERS) =>
  sendSigned(target(caller), { method: 'POST', path: '/v1/token', body, contentType });

const tokenBody = (fields: Record<string, unknown>) => JSON.stringify(fields);

beforeAll(async () => {
  sim = await startTestSimulator();
  const dir = await tempDir();
  removeDir = dir.remove;
  const secretsFile = await writeJson(dir.path, 'secrets.json', TEST_SECRETS);
  const document = testDocument({
    tokenEndpoint: sim.tokenEndpoint,
    downEndpoint: `http://127.0.0.1:${await closedPort()}/x/login/token`,
    // Relative to the configuration file's folder.
    secretsFile: 'secrets.json',
  });
  expect(secretsFile.endsWith('secrets.json')).toBe(true);
  const configPath = await writeJson(dir.path, 'tvs.config.json', document);
  // Set as a deployment would set them, in the environment.
  serve = await startServe(configPath, childEnv(UNBOUNDED_MINTS_ENV));
});

afterAll(async () => {
  await serve?.stop();
  await sim?.close();
  await removeDir?.();
  if (serve && sim) {
    recordServeTraffic('test/local/server.e2e.test.ts (tvs serve)', serve, sim);
  }
});

describe('tvs serve through the client', () => {
  it('vends a token to a granted caller, then serves it from memory', async () => {
    const tokens = createTokenClient(target());
    const requestsBefore = sim.tokenRequests;

    const token = await tokens.getToken({ client: 'webhooks-us', scope: '.:webhooks/**' });
    const again = await createTokenClient(target()).getToken({
      client: 'webhooks-us',
      scope: '.:webhooks/**',
    });

    expect(sim.issuedTokens).toContain(token.accessToken);
    expect(token).toMatchObject({ tokenType: 'Bearer', client: 'webhooks-us', scope: '.:webhooks/**' });
    expect(token.expiresAt.getTime()).toBeGreaterThan(Date.now() + 3_500_000);
    expect(again.accessToken).toBe(token.accessToken);
    expect(sim.tokenRequests - requestsBefore).toBe(1);
    const served = await serve.waitForLogLines((line) => line.message === 'token served', 2);
    expect(served.map((line) => line.source)).toEqual(expect.arrayContaining(['upstream', 'memory']));
    expect(served[0]?.caller).toBe(ORDERS.arn);
  });

  it('lists what the caller may ask for', async () => {
    const clients = await createTokenClient(target()).listClients();
    const stranger = await createTokenClient(target(STRANGER)).listClients();

    expect(clients).toEqual(expect.arrayContaining([{ client: 'webhooks-us', scopes: ['.:webhooks/**'] }]));
    expect(stranger).toEqual([]);
  });

  it('answers a wrong signature with 403 as API Gateway does', async () => {
    const wrong = createTokenClient({
      ...target(),
      credentials: { accessKeyId: ORDERS.accessKeyId, secretAccessKey: 'not-the-secret-key-000000000000' },
    });

    const error = await wrong
      .getToken({ client: 'webhooks-us', scope: '.:webhooks/**' })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TokenServiceError);
    expect(error).toMatchObject({ status: 403, error: 'InvalidSignatureException' });
    expect((error as TokenServiceError).error_description).toMatch(
      /^The request signature we calculated does not match/,
    );
  });

  it('answers an unknown access key with 403 "The security token included in the request is invalid."', async () => {
    const answer = await sendSigned(
      {
        ...target(),
        credentials: { accessKeyId: 'AKIDNOBODYKNOWSTHIS1', secretAccessKey: 'whatever-secret' },
      },
      { method: 'GET', path: '/v1/clients' },
    );

    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text)).toEqual({
      message: 'The security token included in the request is invalid.',
    });
    expect(answer.headers.get('x-amzn-errortype')).toBe('UnrecognizedClientException');
  });

  it('answers an unsigned request with 403 "Missing Authentication Token"', async () => {
    const answer = await fetch(`${serve.url}/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: tokenBody({ client: 'webhooks-us', scope: '.:webhooks/**' }),
    });

    expect(answer.status).toBe(403);
    expect(await answer.json()).toEqual({ message: 'Missing Authentication Token' });
  });

  it('refuses a body swapped under a valid signature', async () => {
    const signer = new SignatureV4({
      service: 'execute-api',
      region: 'us-east-1',
      sha256: Sha256,
      credentials: target().credentials,
    });
    const url = new URL(`${serve.url}/v1/token`);
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      headers: { host: url.host, 'content-type': 'application/json' },
      body: tokenBody({ client: 'webhooks-us', scope: '.:webhooks/**' }),
    });
    const { host: _host, ...headers } = signed.headers;

    const answer = await fetch(url, {
      method: 'POST',
      headers,
      body: tokenBody({ client: 'config-us', scope: '*:config/**' }),
    });

    expect(answer.status).toBe(403);
    expect(answer.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');
  });
});

describe('tvs serve answers each error row of docs/contract.md', () => {
  const expectRfc6749 = async (
    answer: Awaited<ReturnType<typeof post>>,
    status: number,
    error: string,
    code: ErrorCode,
  ): Promise<Record<string, unknown>> => {
    const body = JSON.parse(answer.text) as Record<string, unknown>;
    expect({
      status: answer.status,
      keys: Object.keys(body).sort(),
      error: body.error,
      code: body.code,
    }).toEqual({
      status,
      keys: ['code', 'error', 'error_description'],
      error,
      code,
    });
    expect(answer.headers.get('cache-control')).toBe('no-store');
    return body;
  };

  it('400 invalid_request for an unknown field', async () => {
    const answer = await post(tokenBody({ client: 'webhooks-us', scope: '.:webhooks/**', extra: 1 }));
    const body = await expectRfc6749(answer, 400, 'invalid_request', 'TVS_ERR_INVALID_REQUEST');
    expect(body.error_description).toMatch(/unknown field/);
  });

  it('400 invalid_request for malformed JSON and for a body over 8 KiB', async () => {
    await expectRfc6749(await post('{"client":'), 400, 'invalid_request', 'TVS_ERR_INVALID_REQUEST');
    const big = tokenBody({ client: 'webhooks-us', scope: '.:webhooks/**', reject: 'x'.repeat(9000) });
    await expectRfc6749(await post(big), 400, 'invalid_request', 'TVS_ERR_INVALID_REQUEST');
  });

  it('400 invalid_scope for a scope that does not parse', async () => {
    await expectRfc6749(
      await post(tokenBody({ client: 'webhooks-us', scope: 'webhooks' })),
      400,
      'invalid_scope',
      'TVS_ERR_INVALID_SCOPE',
    );
  });

  it('403 access_denied for a scope outside the grant, an unknown client, and a caller without grants', async () => {
    await expectRfc6749(
      await post(tokenBody({ client: 'webhooks-us', scope: '*:webhooks/**' })),
      403,
      'access_denied',
      'TVS_ERR_ACCESS_DENIED',
    );
    await expectRfc6749(
      await post(tokenBody({ client: 'no-such-client', scope: '.:webhooks/**' })),
      403,
      'access_denied',
      'TVS_ERR_ACCESS_DENIED',
    );
    await expectRfc6749(
      await post(tokenBody({ client: 'webhooks-us', scope: '.:webhooks/**' }), 'application/json', STRANGER),
      403,
      'access_denied',
      'TVS_ERR_ACCESS_DENIED',
    );
  });

  it('415 invalid_request for a body that is not application/json', async () => {
    const answer = await post('client=webhooks-us', 'application/x-www-form-urlencoded');
    await expectRfc6749(answer, 415, 'invalid_request', 'TVS_ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  it('502 server_error when Identity Cloud refuses the credentials', async () => {
    await expectRfc6749(
      await post(tokenBody({ client: 'broken-us', scope: '*:webhooks/**' })),
      502,
      'server_error',
      'TVS_ERR_UPSTREAM_INVALID_CLIENT',
    );
  });

  it('503 temporarily_unavailable with Retry-After when Identity Cloud is unreachable', async () => {
    const client = createTokenClient({ ...target(), maxAttempts: 1 });

    const error = await client
      .getToken({ client: 'down-us', scope: '*:webhooks/**' })
      .catch((e: unknown) => e);

    // Retry-After: when the client's upstream circuit, opened by this failure, may next probe (2 s).
    expect(error).toMatchObject({
      status: 503,
      error: 'temporarily_unavailable',
      code: 'TVS_ERR_UPSTREAM_UNREACHABLE',
      retryAfter: 2,
    });
  });

  it('500 server_error, with nothing about the cause in the body, when the secret is missing', async () => {
    const body = await expectRfc6749(
      await post(tokenBody({ client: 'missing-us', scope: '*:webhooks/**' })),
      500,
      'server_error',
      'TVS_ERR_INTERNAL',
    );
    expect(body.error_description).toBe('internal error');
  });

  it('413 from the local gateway for a body over 64 KiB, without reading it all', async () => {
    const answer = await post(
      tokenBody({ client: 'webhooks-us', scope: '.:webhooks/**', reject: 'x'.repeat(70_000) }),
    );

    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.text)).toEqual({ message: 'Request Too Long' });
  });

  it('403 Missing Authentication Token for a route API Gateway does not have', async () => {
    const answer = await sendSigned(target(), { method: 'GET', path: '/v1/token' });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text)).toEqual({ message: 'Missing Authentication Token' });
  });
});

describe('the client against tvs serve', () => {
  it('retries a 503 after the Retry-After it was given, when asked to, then gets the token', async () => {
    const waits: number[] = [];
    const client = createTokenClient({
      ...target(),
      maxAttempts: 2,
      sleep: (ms) => {
        waits.push(ms);
        return new Promise((resolve) => setTimeout(resolve, ms));
      },
    });
    // Three upstream failures exhaust the service's own attempts for one request: it answers 503, with
    // Retry-After the probe interval of the client's upstream circuit (2 s), which that failure opened.
    sim.injectFaults(...Array.from({ length: 3 }, () => ({ kind: 'status' as const, status: 503 })));

    const token = await client.getToken({ client: 'config-us', scope: '.:config/tokenPolicies/**' });

    expect(sim.issuedTokens).toContain(token.accessToken);
    expect(waits).toEqual([2000]);
  });

  it('sends reject for a token Identity Cloud refused and gets a new one', async () => {
    const client = createTokenClient(target());
    const request = { client: 'config-us', scope: '*:config/**' };
    const first = await client.getToken(request);

    expect(client.reject(first.accessToken)).toBe(true);
    const second = await client.getToken(request);
    const third = await createTokenClient(target()).getToken(request);

    expect(second.accessToken).not.toBe(first.accessToken);
    expect(third.accessToken).toBe(second.accessToken);
  });
});

describe('tvs token and tvs clients against tvs serve', () => {
  it('prints the bare token and exits 0', async () => {
    const run = await runCli(
      ['token', '--endpoint', serve.url, '--client', 'webhooks-us', '--scope', '.:webhooks/**'],
      ORDERS,
    );

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^[A-Za-z0-9_-]+\n$/);
    expect(sim.issuedTokens).toContain(run.stdout.trim());
  });

  it('prints the whole answer with --json', async () => {
    const run = await runCli(
      [
        'token',
        '--endpoint',
        serve.url,
        '--client',
        'config-us',
        '--scope',
        '*:config/**',
        '--min-ttl',
        '60',
        '--json',
      ],
      ORDERS,
    );

    expect(run.code).toBe(0);
    expect(Object.keys(JSON.parse(run.stdout)).sort()).toEqual(
      ['access_token', 'client', 'expires_at', 'expires_in', 'issued_at', 'scope', 'token_type'].sort(),
    );
  });

  it('prints the error_description on stderr and exits 1 when refused', async () => {
    const denied = await runCli(
      ['token', '--endpoint', serve.url, '--client', 'webhooks-us', '--scope', '*:**'],
      ORDERS,
    );
    const unsigned = await runCli(['clients', '--endpoint', serve.url], {
      ...ORDERS,
      secretAccessKey: 'wrong-secret-key-00000000000000000000000',
    });

    expect(denied).toMatchObject({ code: 1, stdout: '' });
    expect(denied.stderr).toMatch(/^tvs: .+ \(access_denied, HTTP 403\)\n$/);
    expect(unsigned).toMatchObject({ code: 1, stdout: '' });
    expect(unsigned.stderr).toContain('The request signature we calculated does not match');
  });

  it('prints the clients this caller may ask for', async () => {
    const run = await runCli(['clients', '--endpoint', serve.url], ORDERS);

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^webhooks-us +\.:webhooks\/\*\*$/m);
  });

  it('exits 2 on a usage mistake', async () => {
    const run = await runCli(['token', '--endpoint', serve.url, '--client', 'webhooks-us'], ORDERS);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--scope is required');
  });
});

describe('tvs serve itself', () => {
  it('never prints a token it handed out', () => {
    const output = serve.stdout() + serve.stderr();
    for (const token of sim.issuedTokens) expect(output).not.toContain(token);
  });

  it('stops cleanly on SIGTERM', async () => {
    const code = await serve.stop();
    const after = await fetch(`${serve.url}/v1/clients`).catch((error: unknown) => error);

    expect(code).toBe(0);
    expect(after).toBeInstanceOf(Error);
  });
});
