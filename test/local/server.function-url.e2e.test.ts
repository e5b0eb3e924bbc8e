/**
 * `tvs serve --endpoint-kind function-url` as a child process: the function URL's front door, where
 * requests are signed for `lambda` (not `execute-api`), every path reaches the function, and the front
 * door's own refusals are `{"Message"}` bodies — called through the TypeScript client and the `tvs`
 * command with real SigV4 signatures.
 */

import { createTokenClient, sendSigned, TokenServiceError } from '@tvs/client';
import { LocalConfigError } from '@tvs/client/contract';
import { FUNCTION_URL_FORBIDDEN } from '@tvs/local/front-door';
import { startLocalServer } from '@tvs/local/server';
import type { IdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNBOUNDED_MINTS_ENV } from '../support/mint-bounds';
import {
  childEnv,
  ORDERS,
  runCli,
  type ServeProcess,
  SIMULATED,
  serveFixture,
  startServe,
  type testDocument,
  writeJson,
} from '../support/processes';
import { recordTraffic } from '../support/traffic-log';

let sim: IdentityCloudSimulator;
let serve: ServeProcess;
let dir: { path: string; remove: () => Promise<void> };
let document: ReturnType<typeof testDocument>;

const credentials = { accessKeyId: ORDERS.accessKeyId, secretAccessKey: ORDERS.secretAccessKey };
const WEBHOOKS_READ = { client: 'webhooks-us', scope: '.:webhooks/**' };

beforeAll(async () => {
  ({ sim, dir, document } = await serveFixture());
  const configPath = await writeJson(dir.path, 'tvs.config.json', document);
  serve = await startServe(configPath, childEnv(UNBOUNDED_MINTS_ENV), ['--endpoint-kind', 'function-url']);
});

afterAll(async () => {
  await serve?.stop();
  await sim?.close();
  await dir?.remove();
  if (serve && sim) {
    recordTraffic({
      source: 'test/local/server.function-url.e2e.test.ts (tvs serve --endpoint-kind function-url)',
      logs: serve.stdout() + serve.stderr(),
      bodies: [],
      tokens: sim.issuedTokens,
      secrets: [...Object.values(SIMULATED).map((client) => client.clientSecret), ORDERS.secretAccessKey],
    });
  }
});

describe('tvs serve --endpoint-kind function-url', () => {
  it('vends a token to a caller that signs for lambda', async () => {
    const tokens = createTokenClient({
      endpoint: serve.url,
      region: 'us-east-1',
      service: 'lambda',
      credentials,
    });

    const token = await tokens.getToken(WEBHOOKS_READ);

    expect(sim.issuedTokens).toContain(token.accessToken);
    const [served] = await serve.waitForLogLines((line) => line.message === 'token served');
    expect(served?.caller).toBe(ORDERS.arn);
  });

  it('refuses a request signed for execute-api, naming the service it wants', async () => {
    const answer = await sendSigned(
      { endpoint: serve.url, region: 'us-east-1', service: 'execute-api', credentials },
      { method: 'GET', path: '/v1/clients' },
    );

    expect(answer.status).toBe(403);
    expect(answer.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');
    expect(JSON.parse(answer.text)).toEqual({
      Message: "Credential should be scoped to correct service: 'lambda'.",
    });
  });

  it('answers an unsigned request with 403 Forbidden in the function URL shape, read by the client', async () => {
    const answer = await fetch(`${serve.url}/v1/clients`);
    const body = (await answer.json()) as unknown;
    const error = await createTokenClient({
      endpoint: serve.url,
      region: 'us-east-1',
      service: 'lambda',
      credentials: { accessKeyId: 'AKIDNOBODYKNOWSTHIS1', secretAccessKey: 'whatever-secret' },
    })
      .listClients()
      .catch((e: unknown) => e);

    expect(answer.status).toBe(403);
    expect(answer.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
    expect(body).toEqual({ Message: FUNCTION_URL_FORBIDDEN });
    expect(error).toBeInstanceOf(TokenServiceError);
    expect(error).toMatchObject({
      status: 403,
      error: 'UnrecognizedClientException',
      error_description: 'The security token included in the request is invalid.',
    });
  });

  it('passes a route the REST API would not have to the function, which answers 404 and 405 itself', async () => {
    const target = { endpoint: serve.url, region: 'us-east-1', service: 'lambda' as const, credentials };

    const unknown = await sendSigned(target, { method: 'GET', path: '/v2/token' });
    const wrongMethod = await sendSigned(target, { method: 'GET', path: '/v1/token' });

    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text)).toMatchObject({ error: 'invalid_request' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
  });
});

describe('tvs token against a function URL', () => {
  it('signs for lambda with --service lambda, and with TVS_SIGNING_SERVICE=lambda', async () => {
    const args = ['token', '--endpoint', serve.url, '--client', 'webhooks-us', '--scope', '.:webhooks/**'];

    const flagged = await runCli([...args, '--service', 'lambda'], ORDERS);
    const fromEnvironment = await runCli(args, ORDERS, { TVS_SIGNING_SERVICE: 'lambda' });
    const unsaid = await runCli(args, ORDERS);

    expect(flagged).toMatchObject({ code: 0, stderr: '' });
    expect(sim.issuedTokens).toContain(flagged.stdout.trim());
    expect(fromEnvironment).toMatchObject({ code: 0, stdout: flagged.stdout });
    // A 127.0.0.1 host does not say it is a function URL: execute-api is signed for, and refused.
    expect(unsaid.code).toBe(1);
    expect(unsaid.stderr).toContain("Credential should be scoped to correct service: 'lambda'.");
  });

  it('exits 2 for a service name that is neither execute-api nor lambda', async () => {
    const run = await runCli(['clients', '--endpoint', serve.url, '--service', 'lambda-url'], ORDERS);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--service must be one of execute-api, lambda');
  });
});

describe('the local section of the configuration', () => {
  it('chooses the front door with local.endpoint, and refuses a kind that does not exist', async () => {
    const quiet = { info: () => {}, warn: () => {}, error: () => {} };
    const start = (endpoint: unknown) =>
      startLocalServer({
        config: { ...document, local: { ...document.local, endpoint } },
        configDir: dir.path,
        port: 0,
        env: {},
        log: quiet,
      });

    const server = await start('function-url');
    await server.close();
    const refusal = await start('http-api').catch((error: unknown) => error);

    expect(server.endpointKind).toBe('function-url');
    expect(refusal).toBeInstanceOf(LocalConfigError);
    expect((refusal as Error).message).toContain('local.endpoint: must be one of "rest-api", "function-url"');
  });
});
