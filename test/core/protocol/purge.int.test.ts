/**
 * A purge (docs/cli.md "tvs purge") against containers that remember the token: after the purge's write,
 * no container serves the purged token once `MEMORY_RECHECK_MS` has passed, and the next requests mint
 * exactly one new token among them.
 */
import { randomUUID } from 'node:crypto';
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { cacheKeyFor, canonicalScopeText } from '@tvs/client/contract';
import { MEMORY_RECHECK_MS } from '@tvs/core/stores/memory-cache';
import { purgeTokens } from '@tvs/local/purge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyOf, Harness, ROTATION_CALLER, tokenEvent } from '../../support/harness';

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness?.close();
});

function request(scope: string) {
  return tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER);
}

/** Three containers on one virtual clock, each having served `scope`'s token once. */
async function warmContainers(scope: string) {
  const clock = { now: Date.now() };
  const containers = Array.from({ length: 3 }, () => harness.container({ now: () => clock.now }));
  const first = bodyOf(await containers[0]!.handle(request(scope))).access_token as string;
  for (const container of containers.slice(1)) {
    expect(bodyOf(await container.handle(request(scope))).access_token).toBe(first);
  }
  const serve = async () =>
    Promise.all(containers.map(async (c) => bodyOf(await c.handle(request(scope))).access_token as string));
  return { clock, first, serve };
}

/** The harness points the AWS SDK at moto through `AWS_ENDPOINT_URL`, as an operator would. */
const purgeEnv = () => process.env;

describe('purge', () => {
  it('stops every container serving the purged token within the recheck interval, and mints one new token', async () => {
    const scope = `*:webhooks/${randomUUID()}/**`;
    const { clock, first, serve } = await warmContainers(scope);
    harness.sim.resetCounters();

    const report = await purgeTokens({
      client: 'webhooks-us',
      scope,
      table: harness.tableName,
      env: purgeEnv(),
    });
    expect(report.purged.map((token) => token.key)).toEqual([
      cacheKeyFor('webhooks-us', canonicalScopeText(scope)),
    ]);
    expect(report.boundSeconds * 1000).toBe(MEMORY_RECHECK_MS);

    clock.now += MEMORY_RECHECK_MS;
    const after = await serve();

    expect(after.filter((token) => token === first)).toEqual([]);
    expect(new Set(after).size).toBe(1);
    expect(harness.sim.tokenRequests).toBe(1);
  });

  it('purges every cached token of a client with --all, and no other client', async () => {
    const scopes = [`*:webhooks/${randomUUID()}/**`, `*:webhooks/${randomUUID()}/**`];
    const tokens = [];
    for (const scope of scopes) tokens.push((await warmContainers(scope)).first);

    const report = await purgeTokens({
      client: 'webhooks-us',
      all: true,
      table: harness.tableName,
      env: purgeEnv(),
    });

    const purged = new Set(report.purged.map((token) => token.key));
    for (const scope of scopes)
      expect(purged).toContain(cacheKeyFor('webhooks-us', canonicalScopeText(scope)));
    expect([...purged].every((key) => key.startsWith('webhooks-us#'))).toBe(true);
    expect(report.purged.every((token) => token.expiresAt > Date.now() / 1000)).toBe(true);
  });

  it('reports nothing purged for a key with no cached token', async () => {
    const report = await purgeTokens({
      client: 'webhooks-us',
      scope: `*:webhooks/${randomUUID()}/**`,
      table: harness.tableName,
      env: purgeEnv(),
    });
    expect(report.purged).toEqual([]);
  });

  it('also stops a container serving a token whose item was deleted by hand', async () => {
    const scope = `*:webhooks/${randomUUID()}/**`;
    const { clock, first, serve } = await warmContainers(scope);
    await harness.dynamodb.send(
      new DeleteItemCommand({
        TableName: harness.tableName,
        Key: { pk: { S: cacheKeyFor('webhooks-us', canonicalScopeText(scope)) } },
      }),
    );

    clock.now += MEMORY_RECHECK_MS;

    expect((await serve()).filter((token) => token === first)).toEqual([]);
  });
});
