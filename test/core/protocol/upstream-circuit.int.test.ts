/**
 * The per-client upstream circuit against the Identity Cloud simulator's outage faults, with several
 * containers sharing one table in moto: how many requests reach Identity Cloud during an outage, that
 * the outage does not spend the mint budget, and how soon every container is served again once it
 * returns. Counted, not timed: the only times asserted are several probe intervals wide.
 */
import { randomUUID } from 'node:crypto';
import { sleep } from '@tvs/client/contract';
import { DEFAULT_POLICY } from '@tvs/core/policy/cache-policy';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyOf, Harness, ROTATION_CALLER, tokenEvent } from '../../support/harness';

const PROBE_INTERVAL_MS = 500;
const CONTAINERS = 3;

type Container = ReturnType<Harness['container']>;

/** A request for a token nobody has yet: it needs a mint. */
function newKey() {
  return tokenEvent({ client: 'webhooks-us', scope: `*:webhooks/${randomUUID()}/**` }, ROTATION_CALLER);
}

/** Each container asks for new keys, one after another, until `until` (epoch ms). */
async function traffic(containers: readonly Container[], until: number): Promise<APIGatewayProxyResult[]> {
  const answers: APIGatewayProxyResult[] = [];
  await Promise.all(
    containers.map(async (container) => {
      while (Date.now() < until) {
        answers.push(await container.handle(newKey()));
        await sleep(20);
      }
    }),
  );
  return answers;
}

/** After Identity Cloud returns: how long until each container is served, ms. */
async function recovery(containers: readonly Container[]): Promise<number[]> {
  const back = Date.now();
  return Promise.all(
    containers.map(async (container) => {
      while (Date.now() - back < 10_000) {
        if ((await container.handle(newKey())).statusCode === 200) return Date.now() - back;
        await sleep(20);
      }
      return Number.POSITIVE_INFINITY;
    }),
  );
}

describe('an Identity Cloud outage seen by three containers', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await Harness.start({ settings: { probeIntervalMs: PROBE_INTERVAL_MS } });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('lets one probe per interval reach Identity Cloud, refuses the rest with Retry-After, and serves every container again within a few intervals of its return', async () => {
    const containers = Array.from({ length: CONTAINERS }, () => harness.container());
    await harness.upstreamHealthy();
    harness.sim.setPersistentFault({ kind: 'status', status: 503 });
    const outageMs = 4_000;

    const answers = await traffic(containers, Date.now() + outageMs);
    const duringOutage = harness.sim.tokenRequests;
    harness.sim.setPersistentFault(undefined);
    const served = await recovery(containers);

    // Before the circuit opened, each container's first request made its attempts (two here); then one
    // probe per interval, each a single attempt.
    expect(duringOutage).toBeLessThanOrEqual(CONTAINERS * 2 + outageMs / PROBE_INTERVAL_MS + 2);
    expect(answers.length).toBeGreaterThan(5 * duringOutage);
    for (const answer of answers) {
      expect(answer.statusCode).toBe(503);
      expect(bodyOf(answer).error).toBe('temporarily_unavailable');
      expect(Number(answer.headers?.['Retry-After'])).toBeGreaterThanOrEqual(1);
    }
    for (const ms of served) expect(ms).toBeLessThan(6 * PROBE_INTERVAL_MS);
    const lines = harness.capture.lines;
    expect(lines.some((l) => l.message?.toString().startsWith('upstream circuit open'))).toBe(true);
    expect(lines.some((l) => l.message?.toString().startsWith('upstream circuit closed'))).toBe(true);
  });
});

describe('the mint budget through an outage', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await Harness.start({
      settings: { ...DEFAULT_POLICY, probeIntervalMs: PROBE_INTERVAL_MS },
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('is not spent by failed attempts: a caller whose probes outnumber its share of 5 mints is served at once after the return', async () => {
    const containers = Array.from({ length: CONTAINERS }, () => harness.container());
    await harness.upstreamHealthy();
    harness.sim.setPersistentFault({ kind: 'status', status: 503 });

    await traffic(containers, Date.now() + 4_000);
    const failedAttempts = harness.sim.tokenRequests;
    harness.sim.setPersistentFault(undefined);
    const served = await recovery(containers);

    expect(failedAttempts).toBeGreaterThan(DEFAULT_POLICY.mintsPerCallerPerMinute);
    for (const ms of served) expect(ms).toBeLessThan(6 * PROBE_INTERVAL_MS);
    expect(harness.capture.lines.filter((l) => l.message === 'mint throttled')).toEqual([]);
  });
});
