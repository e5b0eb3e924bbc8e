/**
 * `tvs serve` in endpoint mode: two servers started at once against moto create (or find) one table and
 * one KMS key without tripping over each other, and share the cache as Lambda containers do.
 */

import { createTokenClient } from '@tvs/client';
import type { IdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ORDERS,
  type ServeProcess,
  type SharedTableServers,
  SIMULATED,
  startServersOnOneTable,
} from '../support/processes';
import { recordTraffic } from '../support/traffic-log';

let shared: SharedTableServers | undefined;
let sim: IdentityCloudSimulator;
let servers: readonly ServeProcess[] = [];

beforeAll(async () => {
  shared = await startServersOnOneTable(inject('motoEndpoint'), 2);
  ({ sim, servers } = shared);
});

afterAll(async () => {
  await shared?.close();
  if (shared) {
    recordTraffic({
      source: 'test/local/server.shared-table.e2e.test.ts (two tvs serve processes)',
      logs: servers.map((server) => server.stdout() + server.stderr()).join('\n'),
      bodies: [],
      tokens: sim.issuedTokens,
      secrets: [SIMULATED.webhooks.clientSecret, SIMULATED.config.clientSecret, ORDERS.secretAccessKey],
    });
  }
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
