/**
 * A runtime built with a clock (`createRuntime({ now })`) runs every rule of time by it: the age of the
 * data key a container seals with, and the age of a cached secret, as well as token expiry. The bench
 * drives hours of traffic through runtimes on such a clock and counts the KMS and Secrets Manager calls.
 */

import { createHandler } from '@tvs/core/entry/vend-handler';
import { createRuntime } from '@tvs/core/entry/vend-runtime';
import { type DataKey, LocalDataKeyProvider } from '@tvs/core/stores/token-crypto';
import type { SecretSource } from '@tvs/core/upstream/credentials';
import { IdentityCloudClient } from '@tvs/core/upstream/identity-cloud';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Harness, ROTATION_CALLER, tokenEvent, WEBHOOKS_CLIENT } from '../../support/harness';
import { UNBOUNDED_MINTS } from '../../support/mint-bounds';

/** Data keys made in memory, counted. */
class CountingDataKeys extends LocalDataKeyProvider {
  generated = 0;
  override async generate(): Promise<DataKey> {
    this.generated += 1;
    return super.generate();
  }
}

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness?.close();
});

describe('createRuntime with a clock', () => {
  it('makes a new data key and reads the secret again once an hour has passed by that clock', async () => {
    let clock = Date.now();
    const dataKeys = new CountingDataKeys();
    let secretReads = 0;
    const secrets: SecretSource = {
      readSecret: async () => {
        secretReads += 1;
        return JSON.stringify({
          client_id: WEBHOOKS_CLIENT.clientId,
          client_secret: WEBHOOKS_CLIENT.clientSecret,
        });
      },
    };
    const identityCloud = new IdentityCloudClient();
    const handler = createHandler(
      createRuntime({
        config: harness.config,
        tableName: harness.tableName,
        dataKeys,
        secrets,
        identityCloud,
        dynamodb: harness.dynamodb,
        settings: UNBOUNDED_MINTS,
        log: { info: () => {}, warn: () => {}, error: () => {} },
        now: () => clock,
      }),
    );
    const mint = async (path: string) => {
      const answer = (await handler(
        tokenEvent({ client: 'webhooks-us', scope: `*:webhooks/${path}/**` }, ROTATION_CALLER),
      )) as { statusCode: number };
      expect(answer.statusCode).toBe(200);
    };

    try {
      await mint(`a-${clock}`);
      await mint(`b-${clock}`);
      const withinTheHour = { dataKeys: dataKeys.generated, secretReads };
      clock += 3_601_000;
      await mint(`c-${clock}`);

      expect(withinTheHour).toEqual({ dataKeys: 1, secretReads: 1 });
      expect({ dataKeys: dataKeys.generated, secretReads }).toEqual({ dataKeys: 2, secretReads: 2 });
    } finally {
      await identityCloud.close();
    }
  });
});
