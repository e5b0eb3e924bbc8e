/**
 * docs/deploy.md's commands that create a client's secret, run as written (the AWS CLI against moto), and
 * a token minted with the secret they created: the documented shape is the one the service reads.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createTokenClient } from '@tvs/client';
import { type IdentityCloudSimulator, startIdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  childEnv,
  ORDERS,
  ROOT,
  type ServeProcess,
  SIMULATED,
  startServe,
  tempDir,
  writeJson,
} from '../support/processes';
import { recordTraffic } from '../support/traffic-log';

/** The fenced block between `<!-- create-secret:start -->` and `…:end -->` in docs/deploy.md. */
function documentedCommands(): string {
  const text = readFileSync(join(ROOT, 'docs', 'deploy.md'), 'utf8');
  const block = /<!-- create-secret:start -->\s*```sh\n([\s\S]*?)```\s*<!-- create-secret:end -->/.exec(
    text,
  )?.[1];
  if (block === undefined) throw new Error('docs/deploy.md has no create-secret block');
  return block;
}

const SECRET_ID = `tvs/webhooks-us-${randomUUID().slice(0, 8)}`;
const awsEnv = () =>
  childEnv({
    AWS_ENDPOINT_URL: inject('motoEndpoint'),
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  });

let sim: IdentityCloudSimulator;
let serve: ServeProcess | undefined;
let dir: { path: string; remove: () => Promise<void> };
let run: ReturnType<typeof spawnSync>;

beforeAll(async () => {
  sim = await startIdentityCloudSimulator({
    clients: [{ ...SIMULATED.webhooks, allowedScopes: ['*:webhooks/**'] }],
  });
  const aws = spawnSync('aws', ['--version'], { encoding: 'utf8' });
  if (aws.error) throw new Error('the AWS CLI is not on PATH: install it with `pip install awscli`.');
  dir = await tempDir();
  // The only changes to the text: the placeholders, and a secret name of this run's own (moto is shared).
  const script = documentedCommands()
    .replace("<the configuration client's id>", SIMULATED.webhooks.clientId)
    .replace('<its secret>', SIMULATED.webhooks.clientSecret)
    .replaceAll('--name tvs/webhooks-us ', `--name ${SECRET_ID} `);
  run = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
    cwd: dir.path,
    env: awsEnv(),
    encoding: 'utf8',
  });
  if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT')
    throw new Error('bash is not installed');
}, 60_000);

afterAll(async () => {
  await serve?.stop();
  await sim?.close();
  if (sim) {
    recordTraffic({
      source: 'test/docs/deploy.secrets.e2e.test.ts (the documented commands and tvs serve)',
      logs: [run?.stdout, run?.stderr, serve?.stdout(), serve?.stderr()].map(String).join('\n'),
      bodies: [],
      tokens: sim.issuedTokens,
      secrets: [SIMULATED.webhooks.clientSecret, ORDERS.secretAccessKey],
    });
  }
  await dir?.remove();
});

describe('creating a client secret as docs/deploy.md shows', () => {
  it('creates the secret and leaves no copy of it on disk', async () => {
    expect(run.stderr, String(run.stderr)).not.toMatch(/error/i);
    expect(run.status).toBe(0);
    expect(existsSync(join(dir.path, 'webhooks-us.json'))).toBe(false);

    const secrets = new SecretsManagerClient({
      endpoint: inject('motoEndpoint'),
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    const stored = await secrets.send(new GetSecretValueCommand({ SecretId: SECRET_ID }));
    expect(JSON.parse(stored.SecretString ?? '')).toEqual({
      client_id: SIMULATED.webhooks.clientId,
      client_secret: SIMULATED.webhooks.clientSecret,
    });
  });

  it('is a secret the service mints with', async () => {
    const configPath = await writeJson(dir.path, 'tvs.config.json', {
      clients: {
        'webhooks-us': {
          tokenEndpoint: sim.tokenEndpoint,
          secretId: SECRET_ID,
          allowedScopes: ['*:webhooks/**'],
        },
      },
      grants: [{ principal: ORDERS.arn, client: 'webhooks-us', scopes: ['.:webhooks/**'] }],
      // No secretsFile: the secrets come from Secrets Manager at AWS_ENDPOINT_URL, as in Lambda.
      local: {
        region: 'us-east-1',
        callers: { [ORDERS.accessKeyId]: { secretAccessKey: ORDERS.secretAccessKey, arn: ORDERS.arn } },
      },
    });
    serve = await startServe(configPath, {
      ...awsEnv(),
      TVS_TABLE_NAME: `tvs-e2e-${randomUUID().slice(0, 8)}`,
    });
    const tokens = createTokenClient({
      endpoint: serve.url,
      region: 'us-east-1',
      credentials: { accessKeyId: ORDERS.accessKeyId, secretAccessKey: ORDERS.secretAccessKey },
    });

    const { accessToken } = await tokens.getToken({ client: 'webhooks-us', scope: '.:webhooks/**' });

    expect(sim.issuedTokens).toContain(accessToken);
  });
});
