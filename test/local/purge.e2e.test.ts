/**
 * `tvs purge` through the real CLI against three `tvs serve` processes sharing one moto table (as Lambda
 * containers share the deployed one), under steady traffic: after the purge, no server answers the old
 * token to a request that starts more than the stated bound (5 s) after it, all of them then serve one
 * new token, and it was minted once. The figures of the run are printed (docs/cli.md quotes one).
 */

import { processTokenAnswer, sendSigned } from '@tvs/client';
import { MEMORY_RECHECK_MS } from '@tvs/core/stores/memory-cache';
import type { IdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ORDERS,
  runCli,
  type ServeProcess,
  type SharedTableServers,
  startServersOnOneTable,
} from '../support/processes';

let shared: SharedTableServers | undefined;
let sim: IdentityCloudSimulator;
let servers: readonly ServeProcess[] = [];
let tableName: string;

beforeAll(async () => {
  shared = await startServersOnOneTable(inject('motoEndpoint'), 3);
  ({ sim, servers, tableName } = shared);
});

afterAll(async () => {
  await shared?.close();
});

interface Answer {
  readonly server: number;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly token: string;
}

async function tokenFrom(server: ServeProcess, scope: string): Promise<string> {
  const answer = await sendSigned(
    { endpoint: server.url, region: 'us-east-1', credentials: ORDERS },
    { method: 'POST', path: '/v1/token', body: JSON.stringify({ client: 'webhooks-us', scope }) },
  );
  return processTokenAnswer(answer).access_token;
}

describe('tvs purge against three tvs serve processes on one table', () => {
  it('stops every server serving the purged token within 5 s, and they share one new token', async () => {
    const scope = '.:webhooks/**';
    const old = await tokenFrom(servers[0] as ServeProcess, scope);
    for (const server of servers) expect(await tokenFrom(server, scope)).toBe(old);
    const mintsBefore = sim.tokenRequests;

    // Steady traffic: each server answers one request after another until told to stop.
    const answers: Answer[] = [];
    let running = true;
    const traffic = servers.map(async (server, index) => {
      while (running) {
        const startedAt = Date.now();
        const token = await tokenFrom(server, scope);
        answers.push({ server: index, startedAt, endedAt: Date.now(), token });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    const purge = await runCli(
      ['purge', '--client', 'webhooks-us', '--scope', scope, '--table', tableName],
      undefined,
      {
        AWS_ENDPOINT_URL: inject('motoEndpoint'),
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
      },
    );
    // The write landed before the command exited: the bound is measured from no earlier than it.
    const purgedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, MEMORY_RECHECK_MS + 2_000));
    running = false;
    await Promise.all(traffic);

    expect(purge.code).toBe(0);
    expect(purge.stdout).toMatch(new RegExp(`^tvs: purged 1 token of webhooks-us from table ${tableName}:`));
    expect(purge.stdout).toContain('stays valid at Identity Cloud until it expires');
    const late = answers.filter((answer) => answer.startedAt >= purgedAt + MEMORY_RECHECK_MS);
    expect(late.length).toBeGreaterThan(0);
    expect(late.filter((answer) => answer.token === old)).toEqual([]);
    const replacements = new Set(answers.filter((answer) => answer.token !== old).map((a) => a.token));
    expect(replacements.size).toBe(1);
    for (const index of [0, 1, 2]) {
      expect(late.some((answer) => answer.server === index)).toBe(true);
    }
    expect(sim.tokenRequests - mintsBefore).toBe(1);

    const lastOld = Math.max(...answers.filter((a) => a.token === old).map((a) => a.endedAt)) - purgedAt;
    const perServer = [0, 1, 2].map((index) => {
      const served = answers.filter((a) => a.server === index && a.token === old);
      return Math.max(...served.map((a) => a.endedAt)) - purgedAt;
    });
    console.log(
      `purge measurement: ${answers.length} answers from 3 servers; the old token was last answered ${lastOld} ms after tvs purge exited (per server: ${perServer.join(', ')} ms); bound ${MEMORY_RECHECK_MS} ms; ${late.length} answers started after the bound, none with the old token; 1 new mint`,
    );
  }, 60_000);
});
