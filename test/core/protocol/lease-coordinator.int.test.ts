/**
 * The lease protocol's property test of test/core/protocol/lease-coordinator.test.ts, once more against DynamoDB:
 * the same simulated containers, faults and clocks, but every read and write goes to moto through the
 * DynamoDB store and the sealing wrapper. Virtual time stands still while a call to moto is in flight, so
 * the scenarios play out exactly as on the in-memory store.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbRecordStore } from '@tvs/core/stores/dynamodb-store';
import { SealingStore } from '@tvs/core/stores/sealing-store';
import { LocalDataKeyProvider, TokenCipher } from '@tvs/core/stores/token-crypto';
import { ensureTokenTable } from '@tvs/local/aws-resources';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { useMoto } from '../../support/harness';
import { scenarioArbitrary, simulate } from '../../support/lease-simulation';
import { VirtualTime } from '../../support/virtual-time';

let store: SealingStore;

beforeAll(async () => {
  useMoto();
  const dynamodb = new DynamoDBClient({});
  const tableName = `tvs-protocol-${randomUUID().slice(0, 8)}`;
  await ensureTokenTable(dynamodb, tableName);
  store = new SealingStore(
    new DynamoDbRecordStore(dynamodb, tableName),
    new TokenCipher(new LocalDataKeyProvider()),
  );
});

describe('the lease protocol on DynamoDB (moto), sealed', () => {
  it('never has two live fetchers of a key, never serves an expired token, and answers every request by its deadline', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArbitrary({ maxRequests: 20 }), async (scenario) => {
        const report = await simulate(scenario, store, new VirtualTime(), { keyPrefix: randomUUID() });
        expect(report.violations).toEqual([]);
      }),
      { numRuns: 12 },
    );
  }, 120_000);

  it('lets one of 40 requests on four containers fetch a cold key', async () => {
    const report = await simulate(
      {
        lifetime: 3_600,
        skews: [0, 120, -300, 450],
        requests: Array.from({ length: 40 }, (_, i) => ({
          atMs: i * 5,
          container: i,
          key: 0,
          minTtl: 0,
          rejectLast: false,
        })),
        fetches: [{ latencyMs: 300, outcome: 'ok' }],
        crashes: [],
        clockSteps: [],
        sweeps: [],
        seed: 7,
      },
      store,
      new VirtualTime(),
      { keyPrefix: randomUUID() },
    );

    expect(report.violations).toEqual([]);
    expect([...report.fetchesByKey.values()]).toEqual([1]);
    expect(report.served).toBe(40);
  });
});
