/**
 * `tvs serve` in endpoint mode: two servers started at once against moto create (or find) one table and
 * one KMS key without tripping over each other, and share the cache as Lambda containers do.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTokenClient } from '../../src/client/index';
import { type IdentityCloudSimulator, startIdentityCloudSimulator } from '../../src/simulator/identity-cloud';
import { recordTraffic } from '../support/traffic-log';
import {
  childEnv,
  closedPort,
  ORDERS,
  type ServeProcess,
  SIMULATED,
  startServe,
  TEST_SECRETS,
  tempDir,
  testDocument,
  writeJson,
} from './support';

let sim: IdentityCloudSimulator;
let servers: ServeProcess[] = [];
let removeDir: () => Promise<void>;

beforeAll(async () => {
  sim = await startIdentityCloudSimulator({
    clients: [{ ...SIMULATED.webhooks, allowedScopes: ['*:webhooks/**'] }],
  });
  const dir = await tempDir();
  removeDir = dir.remove;
  const secretsFile = await writeJson(dir.path, 'secrets.json', TEST_SECRETS);
  const configPath = await writeJson(
    dir.path,
    'tvs.config.json',
    testDocument({
      tokenEndpoint: sim.tokenEndpoint,
      downEndpoint: `http://127.0.0.1:${await closedPort()}/x/login/token`,
      secretsFile,
    }),
  );
  const env = childEnv({
    AWS_ENDPOINT_URL: inject('motoEndpoint'),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    TVS_TABLE_NAME: `tvs-e2e-${randomUUID().slice(0, 8)}`,
  });
  servers = await Promise.all([startServe(configPath, env), startServe(configPath, env)]);
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  await sim?.close();
  if (sim) {
    recordTraffic({
      source: 'test/e2e/shared-table.test.ts (two tvs serve processes)',
      logs: servers.map((server) => server.stdout() + server.stderr()).join('\n'),
      bodies: [],
      tokens: sim.issuedTokens,
      secrets: [SIMULATED.webhooks.clientSecret, SIMULATED.config.clientSecret, ORDERS.secretAccessKey],
    });
  }
  await removeDir?.();
});

describe('two tvs serve processes on one moto table', () => {
  it('serves the second request from the table the first one filled', async () => {
    const [first, second] = servers as [ServeProcess, ServeProcess];
    const as = (server: ServeProcess) =>
      createTokenClient({
        endpoint: server.url,
        region: 'us-east-1',
        credentials: { accessKeyId: ORDERS.accessKeyId, secretAccessKey: ORDERS.secretAccessKey },
      });

    const fromFirst = await as(first).getToken({ client: 'webhooks-us', scope: '.:webhooks/**' });
    const fromSecond = await as(second).getToken({ client: 'webhooks-us', scope: '.:webhooks/**' });

    expect(fromSecond.accessToken).toBe(fromFirst.accessToken);
    expect(sim.tokenRequests).toBe(1);
    const [served] = await second.waitForLogLines((line) => line.message === 'token served');
    expect(served?.source).toBe('table');
  });
});
