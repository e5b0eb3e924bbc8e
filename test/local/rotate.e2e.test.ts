/**
 * `tvs rotate`: in local mode it runs the rotation's steps against the secrets file and the Identity
 * Cloud simulator while a `tvs serve` keeps serving; in Secrets Manager mode (no secrets file) it asks
 * Secrets Manager (moto) to rotate the secret now.
 */
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { IdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { UNBOUNDED_MINTS_ENV } from '../support/mint-bounds';
import {
  childEnv,
  mintFresh,
  ORDERS,
  ORDERS_ARN,
  runCli,
  type ServeProcess,
  SIMULATED,
  startServe,
  startTestSimulator,
  TEST_SECRETS,
  tempDir,
  writeJson,
} from '../support/processes';
import { startRotation } from '../support/secret-rotation';
import { recordTraffic } from '../support/traffic-log';

let sim: IdentityCloudSimulator;
let serve: ServeProcess;
let dir: { path: string; remove: () => Promise<void> };
let configPath: string;
let secretsPath: string;
const cliOutput: string[] = [];
/** Secrets set on the simulator by hand: the leak scan searches for them too. */
const handSetSecrets: string[] = [];

beforeAll(async () => {
  sim = await startTestSimulator();
  dir = await tempDir();
  secretsPath = await writeJson(dir.path, 'secrets.json', TEST_SECRETS);
  configPath = await writeJson(dir.path, 'tvs.config.json', {
    clients: {
      'webhooks-us': {
        tokenEndpoint: sim.tokenEndpoint,
        secretId: 'tvs/webhooks-us',
        allowedScopes: ['*:webhooks/**'],
        rotation: { every: '30 days', via: 'config-us' },
        clientId: SIMULATED.webhooks.clientId,
      },
      'config-us': {
        tokenEndpoint: sim.tokenEndpoint,
        secretId: 'tvs/config-us',
        allowedScopes: ['*:config/**'],
        rotation: { every: '30 days', via: 'config-us' },
        clientId: SIMULATED.config.clientId,
      },
    },
    grants: [{ principal: ORDERS_ARN, client: 'webhooks-us', scopes: ['*:webhooks/**'] }],
    local: {
      secretsFile: 'secrets.json',
      region: 'us-east-1',
      callers: { [ORDERS.accessKeyId]: { secretAccessKey: ORDERS.secretAccessKey, arn: ORDERS.arn } },
    },
  });
  serve = await startServe(configPath, childEnv(UNBOUNDED_MINTS_ENV));
});

afterAll(async () => {
  await serve?.stop();
  await sim?.close();
  await dir?.remove();
  if (sim) {
    recordTraffic({
      source: 'test/local/rotate.e2e.test.ts (tvs rotate and tvs serve)',
      logs: `${serve?.stdout() ?? ''}${serve?.stderr() ?? ''}${cliOutput.join('')}`,
      bodies: [],
      tokens: [...sim.issuedTokens],
      secrets: [
        SIMULATED.webhooks.clientSecret,
        SIMULATED.config.clientSecret,
        ...sim.issuedSecrets,
        ...handSetSecrets,
      ],
    });
  }
});

describe('tvs rotate with a local secrets file', () => {
  it('runs the four steps against the file and the simulator; a running tvs serve then mints with the new secret', async () => {
    expect(await mintFresh(serve)).toBe(200); // tvs serve holds the old secret

    const run = await runCli(['rotate', '--config', configPath, '--client', 'webhooks-us'], undefined);
    cliOutput.push(run.stdout, run.stderr);

    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toEqual([
      'tvs: createSecret done (webhooks-us via config-us)',
      'tvs: setSecret nothing-to-do (webhooks-us via config-us)',
      'tvs: testSecret done (webhooks-us via config-us)',
      'tvs: finishSecret done (webhooks-us via config-us)',
    ]);
    expect(sim.secretResets).toBe(1);
    const file = JSON.parse(await readFile(secretsPath, 'utf8'));
    // Kept in the form it was written in (an object here; config-us as a string).
    expect(file['tvs/webhooks-us']).toEqual({
      client_id: SIMULATED.webhooks.clientId,
      client_secret: sim.issuedSecrets.at(-1),
    });
    expect(typeof file['tvs/config-us']).toBe('string');
    expect(await mintFresh(serve)).toBe(200);
    expect(run.stdout + run.stderr).not.toContain(sim.issuedSecrets.at(-1));
  });

  it('resumes a rotation that stopped after the reset took effect: the live secret is read back, with no new reset', async () => {
    // A tvs rotate that died between the reset and storing its answer: the pending version is staged
    // beside the secrets file, and Identity Cloud already holds a new secret.
    const stuck = randomUUID();
    await writeFile(`${secretsPath}.pending`, JSON.stringify({ 'tvs/webhooks-us': { versionId: stuck } }), {
      mode: 0o600,
    });
    const live = `reset-by-a-run-that-died-${randomUUID()}`;
    handSetSecrets.push(live);
    sim.setClientSecret(SIMULATED.webhooks.clientId, live);
    const resets = sim.resetRequests;

    const run = await runCli(['rotate', '--config', configPath, '--client', 'webhooks-us'], undefined);
    cliOutput.push(run.stdout, run.stderr);

    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')[0]).toBe('tvs: createSecret adopted (webhooks-us via config-us)');
    expect(sim.resetRequests).toBe(resets);
    const file = JSON.parse(await readFile(secretsPath, 'utf8'));
    expect(file['tvs/webhooks-us'].client_secret).toBe(live);
    expect(JSON.parse(await readFile(`${secretsPath}.pending`, 'utf8'))).toEqual({});
    expect(await mintFresh(serve)).toBe(200);
  });

  it('refuses a client without a rotation, and one the configuration does not have', async () => {
    const missing = await runCli(['rotate', '--config', configPath, '--client', 'nobody'], undefined);
    const usage = await runCli(['rotate', '--config', configPath], undefined);

    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /^tvs rotate: invalid local configuration .*\n {2}- no client "nobody"\n$/,
    );
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--client is required/);
  });
});

describe('tvs rotate against Secrets Manager (no secrets file)', () => {
  it('asks Secrets Manager to rotate the client’s secret now and prints the new version', async () => {
    const secretId = `tvs/${randomUUID().slice(0, 8)}/webhooks-us`;
    const moto = inject('motoEndpoint');
    const awsEnv = {
      AWS_ENDPOINT_URL: moto,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    };
    const secretsManager = new SecretsManagerClient({ endpoint: moto });
    await secretsManager.send(
      new CreateSecretCommand({
        Name: secretId,
        SecretString: JSON.stringify({ client_id: SIMULATED.webhooks.clientId, client_secret: 'x' }),
      }),
    );
    const awsConfig = await writeJson(dir.path, `aws-${randomUUID()}.json`, {
      clients: {
        'webhooks-us': {
          tokenEndpoint: sim.tokenEndpoint,
          secretId,
          allowedScopes: ['*:webhooks/**'],
          rotation: { every: '30 days', via: 'webhooks-us' },
          clientId: SIMULATED.webhooks.clientId,
        },
      },
      grants: [],
    });
    // The file has no allowedScopes for resets through webhooks-us: refused before anything is asked.
    const refused = await runCli(['rotate', '--config', awsConfig, '--client', 'webhooks-us'], undefined, {
      AWS_ENDPOINT_URL: moto,
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/client "webhooks-us" cannot reset this secret/);

    const rotating = await writeJson(dir.path, `aws-${randomUUID()}.json`, {
      clients: {
        'webhooks-us': {
          tokenEndpoint: sim.tokenEndpoint,
          secretId,
          allowedScopes: ['*:webhooks/**', '*:config/**'],
          rotation: { every: '30 days', via: 'webhooks-us' },
          clientId: SIMULATED.webhooks.clientId,
        },
      },
      grants: [],
    });
    const run = await runCli(['rotate', '--config', rotating, '--client', 'webhooks-us'], undefined, awsEnv);
    cliOutput.push(run.stdout, run.stderr);

    // moto has no rotation function to run: RotateSecret stages the new version and answers its id.
    expect(run.stderr).not.toMatch(/tvs rotate:/); // (the SDK warns about Node 20 on stderr)
    expect(run.code).toBe(0);
    const version = /version ([\w-]+)\)/.exec(run.stdout)?.[1] as string;
    expect(run.stdout).toMatch(
      new RegExp(
        `^tvs: Secrets Manager is rotating arn:aws:secretsmanager:us-east-1:\\d+:secret:${secretId}-\\w{6} \\(version ${version}\\)\\n$`,
      ),
    );
    const stages =
      (await secretsManager.send(new DescribeSecretCommand({ SecretId: secretId }))).VersionIdsToStages ?? {};
    expect(Object.keys(stages)).toContain(version);

    // A rotation whose function failed is left unfinished (AWSPENDING apart from AWSCURRENT): the next
    // tvs rotate resumes it with its own version instead of starting another.
    const { token: stuck } = await startRotation(secretsManager, secretId);
    const again = await runCli(
      ['rotate', '--config', rotating, '--client', 'webhooks-us'],
      undefined,
      awsEnv,
    );
    cliOutput.push(again.stdout, again.stderr);

    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(
      new RegExp(
        `^tvs: Secrets Manager is resuming the unfinished rotation of .* \\(version ${stuck}\\)\\n$`,
      ),
    );
  });
});
