/**
 * What the minter does when Identity Cloud refuses a secret that reading again does not change: with
 * Secrets Manager (moto) it looks for a rotation's pending version for 1.5 s; with a source that has no
 * rotation stages (the local secrets file) it gives up at once. Against the simulator; never a resend of
 * the refused secret.
 */
import { randomUUID } from 'node:crypto';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { canonicalScope, parseScopes, UpstreamRejectedError } from '@tvs/client/contract';
import {
  CredentialsCache,
  type SecretSource,
  SecretsManagerSource,
  StaticSecretSource,
} from '@tvs/core/upstream/credentials';
import { IdentityCloudClient } from '@tvs/core/upstream/identity-cloud';
import { Minter } from '@tvs/core/upstream/minter';
import type { IdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { useMoto } from '../../support/harness';
import { SIMULATED, startTestSimulator } from '../../support/processes';

const STALE = JSON.stringify({ client_id: SIMULATED.webhooks.clientId, client_secret: 'a-stale-secret' });

let sim: IdentityCloudSimulator;
let identityCloud: IdentityCloudClient;

beforeAll(async () => {
  useMoto();
  sim = await startTestSimulator();
  identityCloud = new IdentityCloudClient();
});

afterAll(async () => {
  await identityCloud?.close();
  await sim?.close();
});

beforeEach(() => {
  sim.resetCounters();
});

/** Mint once through `source`, recording every pause the minter takes; answers what it threw. */
async function mintRefused(source: SecretSource, secretId: string) {
  const pauses: number[] = [];
  const rereads: string[] = [];
  const minter = new Minter({
    credentials: new CredentialsCache(source),
    identityCloud,
    sleep: async (ms) => {
      pauses.push(ms);
    },
    events: { secretReread: (client) => rereads.push(client) },
  });
  const scopes = parseScopes('.:webhooks/**');
  const error = await minter
    .mint({
      client: 'webhooks-us',
      tokenEndpoint: sim.tokenEndpoint,
      secretId,
      scopes,
      canonical: canonicalScope(scopes),
      deadline: Date.now() + 8_000,
    })
    .then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
  return { error, pauses, rereads };
}

describe('a refused secret that reading again does not change', () => {
  it('is not sent again, and a source without rotation stages is not polled for a pending one', async () => {
    const { error, pauses, rereads } = await mintRefused(
      new StaticSecretSource(new Map([['tvs/webhooks-us', STALE]])),
      'tvs/webhooks-us',
    );

    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect((error as UpstreamRejectedError).reason).toBe('invalid_client');
    expect(rereads).toEqual(['webhooks-us']);
    expect(sim.tokenRequests).toBe(1);
    expect(pauses).toEqual([]);
  });

  it('makes the minter look for a pending version in Secrets Manager for 1.5 s before giving up', async () => {
    const secretId = `tvs/refused-${randomUUID()}`;
    const secretsManager = new SecretsManagerClient({});
    await secretsManager.send(new CreateSecretCommand({ Name: secretId, SecretString: STALE }));

    const { error, pauses } = await mintRefused(new SecretsManagerSource(secretsManager), secretId);

    expect((error as UpstreamRejectedError).reason).toBe('invalid_client');
    expect(sim.tokenRequests).toBe(1);
    expect(pauses).toEqual([100, 200, 400, 800]);
  });
});
