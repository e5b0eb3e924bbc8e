/**
 * A full rotation under steady traffic: three `tvs serve` processes in endpoint mode (three containers:
 * one table, one token key, secrets in Secrets Manager, all in moto) serve callers that keep asking for
 * new tokens — each one a real mint with the secret the process holds — while the rotation function runs
 * Secrets Manager's four steps, pausing between them so traffic meets every state: the old secret alive,
 * reset (dead) with the new one only pending, and finished. No request may fail, and afterwards every
 * process mints with the new secret.
 */
import { randomUUID } from 'node:crypto';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseServiceConfig } from '@tvs/core/config/service-config';
import { createRotationHandler, createRotationRuntime } from '@tvs/core/entry/rotation-runtime';
import { ROTATION_STEPS } from '@tvs/core/flow/rotation';
import { KmsDataKeyProvider, resetTokenEncryptionContext } from '@tvs/core/stores/token-crypto';
import { IdentityCloudClient } from '@tvs/core/upstream/identity-cloud';
import { SecretsManagerVersions } from '@tvs/core/upstream/secret-versions';
import { type IdentityCloudSimulator, startIdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { UNBOUNDED_MINTS, UNBOUNDED_MINTS_ENV } from '../../support/mint-bounds';
import {
  childEnv,
  mintFresh,
  ORDERS,
  ORDERS_ARN,
  type ServeProcess,
  SIMULATED,
  startServe,
  tempDir,
  writeJson,
} from '../../support/processes';
import { startRotation } from '../../support/secret-rotation';
import { recordTraffic } from '../../support/traffic-log';

const ROTATION_ROLE = 'arn:aws:iam::111111111111:role/tvs-rotation';
const run = randomUUID().slice(0, 8);
const SECRET_ID = `tvs/${run}/webhooks-us`;
const CONFIG_SECRET_ID = `tvs/${run}/config-us`;

let sim: IdentityCloudSimulator;
let servers: ServeProcess[] = [];
let removeDir: () => Promise<void>;
let document: Record<string, unknown>;
let tableName: string;
let keyId: string;
const secretsManager = () => new SecretsManagerClient({});

beforeAll(async () => {
  process.env.AWS_ENDPOINT_URL = inject('motoEndpoint');
  sim = await startIdentityCloudSimulator({
    clients: [
      { ...SIMULATED.webhooks, allowedScopes: ['*:webhooks/**'] },
      { ...SIMULATED.config, allowedScopes: ['*:config/**'] },
    ],
  });
  const secrets = secretsManager();
  for (const [name, client] of [
    [SECRET_ID, SIMULATED.webhooks],
    [CONFIG_SECRET_ID, SIMULATED.config],
  ] as const) {
    await secrets.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: JSON.stringify({ client_id: client.clientId, client_secret: client.clientSecret }),
      }),
    );
  }
  keyId = (await new KMSClient({}).send(new CreateKeyCommand({}))).KeyMetadata?.KeyId as string;
  tableName = `tvs-rotation-${run}`;
  document = {
    clients: {
      'webhooks-us': {
        tokenEndpoint: sim.tokenEndpoint,
        secretId: SECRET_ID,
        allowedScopes: ['*:webhooks/**'],
        rotation: { every: '30 days', via: 'config-us' },
        clientId: SIMULATED.webhooks.clientId,
      },
      'config-us': {
        tokenEndpoint: sim.tokenEndpoint,
        secretId: CONFIG_SECRET_ID,
        allowedScopes: ['*:config/**'],
      },
    },
    grants: [{ principal: ORDERS_ARN, client: 'webhooks-us', scopes: ['*:webhooks/**'] }],
    local: {
      region: 'us-east-1',
      callers: { [ORDERS.accessKeyId]: { secretAccessKey: ORDERS.secretAccessKey, arn: ORDERS.arn } },
    },
  };
  const dir = await tempDir();
  removeDir = dir.remove;
  const configPath = await writeJson(dir.path, 'tvs.config.json', document);
  // Endpoint mode with no secrets file: secrets from Secrets Manager (moto), as in Lambda.
  const env = childEnv({
    AWS_ENDPOINT_URL: inject('motoEndpoint'),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    TVS_TABLE_NAME: tableName,
    TVS_KMS_KEY_ID: keyId,
    ...UNBOUNDED_MINTS_ENV,
  });
  servers = await Promise.all([1, 2, 3].map(() => startServe(configPath, env)));
}, 120_000);

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  await sim?.close();
  await removeDir?.();
  if (sim) {
    recordTraffic({
      source: 'test/core/flow/rotation.under-traffic.e2e.test.ts (three tvs serve processes and a rotation)',
      logs: servers.map((server) => server.stdout() + server.stderr()).join('\n'),
      bodies: [],
      tokens: [...sim.issuedTokens],
      secrets: [SIMULATED.webhooks.clientSecret, SIMULATED.config.clientSecret, ...sim.issuedSecrets],
    });
  }
});

describe('a rotation under steady traffic from three processes', () => {
  it('fails no request, and leaves every process minting with the new secret', async () => {
    const statuses: number[] = [];
    let rotating = true;
    const traffic = servers.map(async (server) => {
      while (rotating) statuses.push(await mintFresh(server));
    });
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const identityCloud = new IdentityCloudClient();
    const handler = createRotationHandler(
      createRotationRuntime({
        config: parseServiceConfig(document, { rotationPrincipal: ROTATION_ROLE }),
        tableName,
        dataKeys: new KmsDataKeyProvider(keyId, resetTokenEncryptionContext(tableName)),
        identityCloud,
        rotationPrincipal: ROTATION_ROLE,
        versions: new SecretsManagerVersions(secretsManager()),
        settings: UNBOUNDED_MINTS,
        log: { info: () => {}, warn: () => {}, error: () => {} },
      }),
    );

    try {
      await pause(1_000); // traffic with the old secret
      // Secrets Manager starts the rotation (a new, empty AWSPENDING version), then the four steps.
      const { token, arn } = await startRotation(secretsManager(), SECRET_ID);
      for (const Step of ROTATION_STEPS) {
        await handler({ SecretId: arn, ClientRequestToken: token, Step });
        await pause(1_500); // traffic meets each state: reset and pending, tested, finished
      }
    } finally {
      rotating = false;
      await Promise.all(traffic);
      await identityCloud.close();
    }

    expect(sim.secretResets).toBe(1);
    expect(statuses.length).toBeGreaterThan(30);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    // Every process went through the pending secret (its cached one was dead), then mints with the new one.
    for (const server of servers) {
      expect(
        server.logLines().some((line) => String(line.message).includes('using the pending secret')),
      ).toBe(true);
      expect(await mintFresh(server)).toBe(200);
    }
    const current = await new SecretsManagerVersions(secretsManager()).value(SECRET_ID, {
      stage: 'AWSCURRENT',
    });
    expect(JSON.parse(current ?? '{}').client_secret).toBe(sim.issuedSecrets.at(-1));
  }, 60_000);
});
