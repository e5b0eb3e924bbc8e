/**
 * Central credential rotation against moto (Secrets Manager, DynamoDB, KMS) and the Identity Cloud
 * simulator: the rotation function's four steps as Secrets Manager runs them, retried steps, every
 * failure case of the issue, and the vend path through a rotation. The harness's clients: webhooks-us
 * rotates through config-us; config-us rotates itself.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  DescribeSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { RotationError } from '@tvs/client/contract';
import { createRotationRuntimeFromEnv } from '@tvs/core/entry/rotation-runtime';
import {
  type RotationEvent,
  SELF_ROTATION_MIN_TTL_SECONDS,
  SecretRotator,
  type StepRecord,
} from '@tvs/core/flow/rotation';
import { RecordStoreResetLease } from '@tvs/core/protocol/reset-lease';
import { MemoryRecordStore } from '@tvs/core/stores/memory-store';
import { IdentityCloudClient } from '@tvs/core/upstream/identity-cloud';
import { SecretsManagerVersions } from '@tvs/core/upstream/secret-versions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bundleHandler, CONFIG_FILE_NAME, ROTATION_ENTRY } from '../../../lib/handler-bundle';
import {
  bodyOf,
  CONFIG_CLIENT,
  Harness,
  ROTATION_CALLER,
  ROTATION_ROLE,
  tokenEvent,
  WEBHOOKS_CLIENT,
} from '../../support/harness';
import { UNBOUNDED_MINTS_ENV } from '../../support/mint-bounds';
import { startRotation } from '../../support/secret-rotation';

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start({
    configure: (config) => {
      Object.assign(config.clients['webhooks-us'] as object, {
        rotation: { every: '30 days', via: 'config-us' },
        clientId: WEBHOOKS_CLIENT.clientId,
      });
      Object.assign(config.clients['config-us'] as object, {
        rotation: { every: '30 days', via: 'config-us' },
        clientId: CONFIG_CLIENT.clientId,
      });
    },
  });
});

afterAll(async () => {
  await harness?.close();
});

beforeEach(() => {
  harness.sim.setPersistentFault(undefined);
  harness.sim.setPersistentResetFault(undefined);
  harness.sim.resetCounters();
});

function request(
  client: string,
  scope = client === 'webhooks-us' ? `*:webhooks/${randomUUID()}/**` : `*:config/${randomUUID()}/**`,
) {
  return tokenEvent({ client, scope }, ROTATION_CALLER);
}

/**
 * The end state every rotation must leave: `AWSCURRENT` holds the live secret of Identity Cloud (the
 * simulator's), with the configured client id, no version is left staged `AWSPENDING` beside it, and a
 * cold container mints with it.
 */
async function expectCurrentIsLive(client: 'webhooks-us' | 'config-us'): Promise<void> {
  const clientId = client === 'webhooks-us' ? WEBHOOKS_CLIENT.clientId : CONFIG_CLIENT.clientId;
  const current = await harness.secretValue(client, { stage: 'AWSCURRENT' });
  expect(current?.client_id).toBe(clientId);
  expect(current?.client_secret).toBe(harness.sim.liveSecret(clientId));
  const { VersionIdsToStages: stages = {} } = await harness.secretsManager.send(
    new DescribeSecretCommand({ SecretId: harness.secretIds[client] }),
  );
  const pendingApart = Object.values(stages).filter(
    (labels) => labels.includes('AWSPENDING') && !labels.includes('AWSCURRENT'),
  );
  expect(pendingApart).toEqual([]);
  expect((await harness.container().handle(request(client))).statusCode).toBe(200);
}

/**
 * Write a new `AWSCURRENT` value of a client's secret, as anyone allowed to write it could. Staged with
 * UpdateSecretVersionStage: moto's PutSecretValue does not move AWSCURRENT right once a rotation moved it.
 */
async function makeCurrent(client: string, value: object): Promise<void> {
  const secretId = harness.secretIds[client] as string;
  const versions = new SecretsManagerVersions(harness.secretsManager);
  const { stages } = await versions.describe(secretId);
  const current = Object.entries(stages).find(([, labels]) => labels.includes('AWSCURRENT'))?.[0] ?? '';
  const versionId = randomUUID();
  await versions.putPending(secretId, versionId, JSON.stringify(value));
  await versions.moveCurrent(secretId, versionId, current);
  await versions.removePending(secretId, versionId);
}

/** Remove a stuck AWSPENDING stage, as a person would after a refused rotation. */
async function clearPending(client: string): Promise<void> {
  const secretId = harness.secretIds[client] as string;
  const { VersionIdsToStages: stages = {} } = await harness.secretsManager.send(
    new DescribeSecretCommand({ SecretId: secretId }),
  );
  for (const [versionId, labels] of Object.entries(stages)) {
    if (labels.includes('AWSPENDING') && !labels.includes('AWSCURRENT')) {
      await new SecretsManagerVersions(harness.secretsManager).removePending(secretId, versionId);
    }
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A Secrets Manager client whose first `failures` PutSecretValue calls fail (moto cannot be made to). */
function putSecretValueFailing(failures: number): SecretsManagerClient {
  const client = new SecretsManagerClient({ maxAttempts: 1 });
  let failed = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === PutSecretValueCommand.name && failed < failures) {
        failed += 1;
        throw Object.assign(new Error('simulated Secrets Manager failure'), { name: 'InternalServiceError' });
      }
      return next(args);
    },
    { step: 'initialize', name: 'fail-put-secret-value' },
  );
  return client;
}

describe('a rotation', () => {
  it('resets a secret through another client once, stores, tests and finishes it; the service then mints with it', async () => {
    const before = await harness.secretValue('webhooks-us', { stage: 'AWSCURRENT' });

    const rotation = await harness.rotate('webhooks-us');

    expect(rotation.failed).toBeUndefined();
    expect(harness.sim.secretResets).toBe(1);
    const after = await harness.secretValue('webhooks-us', { stage: 'AWSCURRENT' });
    expect(after).toEqual({
      client_id: WEBHOOKS_CLIENT.clientId,
      client_secret: harness.sim.issuedSecrets.at(-1),
    });
    expect(after?.client_secret).not.toBe(before?.client_secret);
    expect(await harness.secretValue('webhooks-us', { stage: 'AWSPENDING' })).toBeUndefined();
    // A cold container reads the new secret and mints with it; the old one is dead at Identity Cloud.
    const response = await harness.container().handle(request('webhooks-us'));
    expect(response.statusCode).toBe(200);
  });

  it('lets a client rotate its own secret, its reset token cached like any token', async () => {
    const rotation = await harness.rotate('config-us');
    const again = await harness.rotate('config-us');

    expect(rotation.failed).toBeUndefined();
    expect(again.failed).toBeUndefined();
    expect(harness.sim.secretResets).toBe(2);
    expect((await harness.secretValue('config-us', { stage: 'AWSCURRENT' }))?.client_secret).toBe(
      harness.sim.issuedSecrets.at(-1),
    );
    expect((await harness.container().handle(request('config-us'))).statusCode).toBe(200);
  });

  it('changes nothing when a step is retried: createSecret never resets twice, finishSecret is a no-op once done', async () => {
    const handler = harness.rotationHandler();
    const rotation = await harness.rotate('webhooks-us', handler);
    const arn = (
      await harness.secretsManager.send(
        new DescribeSecretCommand({ SecretId: harness.secretIds['webhooks-us'] }),
      )
    ).ARN;
    const resets = harness.sim.secretResets;

    const retried = await Promise.all(
      ['createSecret', 'setSecret', 'testSecret', 'finishSecret'].map((Step) =>
        handler({ SecretId: arn, ClientRequestToken: rotation.token, Step }),
      ),
    );

    expect(rotation.failed).toBeUndefined();
    expect(harness.sim.secretResets).toBe(resets);
    expect(retried.map((record) => record.outcome)).toEqual([
      'already-done',
      'already-done',
      'already-done',
      'already-done',
    ]);
  });

  it('never resets twice when Secrets Manager retries createSecret before finishing: it finds its pending version', async () => {
    const handler = harness.rotationHandler();
    const outcomes: string[] = [];

    const rotation = await harness.rotate('webhooks-us', async (event) => {
      const record = await handler(event);
      outcomes.push(`${record.step}:${record.outcome}`);
      if (record.step === 'createSecret') {
        const retried = await handler(event); // Secrets Manager retrying the step (say, after a timeout)
        outcomes.push(`${retried.step}:${retried.outcome}`);
        expect(await harness.secretValue('webhooks-us', { stage: 'AWSPENDING' })).toEqual({
          client_id: WEBHOOKS_CLIENT.clientId,
          client_secret: harness.sim.issuedSecrets.at(-1),
        });
      }
      return record;
    });

    expect(rotation.failed).toBeUndefined();
    expect(outcomes.slice(0, 2)).toEqual(['createSecret:done', 'createSecret:already-done']);
    expect(harness.sim.secretResets).toBe(1);
    expect((await harness.secretValue('webhooks-us', { stage: 'AWSCURRENT' }))?.client_secret).toBe(
      harness.sim.issuedSecrets.at(-1),
    );
  });

  it('writes one audit line per step, never a secret', async () => {
    const before = harness.capture.lines.length;

    await harness.rotate('webhooks-us');

    const lines = harness.capture.lines.slice(before).filter((line) => line.message === 'rotation step');
    expect(lines.map((line) => [line.step, line.outcome, line.client, line.via])).toEqual([
      ['createSecret', 'done', 'webhooks-us', 'config-us'],
      ['setSecret', 'nothing-to-do', 'webhooks-us', 'config-us'],
      ['testSecret', 'done', 'webhooks-us', 'config-us'],
      ['finishSecret', 'done', 'webhooks-us', 'config-us'],
    ]);
    expect(JSON.stringify(harness.capture.lines.slice(before))).not.toContain(
      harness.sim.issuedSecrets.at(-1),
    );
  });
});

describe('a rotation that fails', () => {
  it('resets nothing while Identity Cloud answers 503, and leaves the old secret current and working', async () => {
    const before = await harness.secretValue('webhooks-us', { stage: 'AWSCURRENT' });
    harness.sim.setPersistentResetFault({ kind: 'status', status: 503 });

    const rotation = await harness.rotate('webhooks-us');

    expect(rotation.failed?.step).toBe('createSecret');
    expect(String(rotation.failed?.error)).toMatch(/unknown outcome .* no second reset was sent/);
    expect(harness.sim.resetRequests).toBe(1);
    expect(harness.sim.secretResets).toBe(0);
    expect(await harness.secretValue('webhooks-us', { stage: 'AWSCURRENT' })).toEqual(before);
    expect(
      await harness.secretValue('webhooks-us', { stage: 'AWSPENDING', versionId: rotation.token }),
    ).toBeUndefined();
    harness.sim.setPersistentResetFault(undefined);
    expect((await harness.container().handle(request('webhooks-us'))).statusCode).toBe(200);
    // Secrets Manager's next attempt of the same rotation completes it.
    expect((await harness.resume('webhooks-us', rotation.token)).failed).toBeUndefined();
    expect(harness.sim.secretResets).toBe(1);
    await expectCurrentIsLive('webhooks-us');
  });

  it('sends one reset when its answer is lost after it took effect, and stores the live secret read back', async () => {
    harness.sim.injectResetFaults({ kind: 'close-after-reset' });

    const rotation = await harness.rotate('webhooks-us');

    expect(rotation.failed).toBeUndefined();
    expect(harness.sim.resetRequests).toBe(1);
    expect(harness.sim.secretResets).toBe(1);
    await expectCurrentIsLive('webhooks-us');
  });

  it('sends one reset when its answer is slow and lands after the step gave up; the next attempt adopts it', async () => {
    const before = await harness.secretValue('webhooks-us', { stage: 'AWSCURRENT' });
    harness.sim.injectResetFaults({ kind: 'lands-late', delayMs: 1_200 });
    const impatient = harness.rotationHandler({ tokenEndpoint: { deadlineMs: 400 } });

    const first = await harness.rotate('webhooks-us', impatient);

    expect(first.failed?.step).toBe('createSecret');
    expect(String(first.failed?.error)).toMatch(/no second reset was sent/);
    expect(harness.sim.resetRequests).toBe(1);
    await waitFor(() => harness.sim.secretResets === 1);
    // The late reset killed the old secret; the next attempt of the step reads the new one back.
    expect(before?.client_secret).not.toBe(harness.sim.issuedSecrets.at(-1));
    const resumed = await harness.resume('webhooks-us', first.token);

    expect(resumed.failed).toBeUndefined();
    expect(resumed.outcomes[0]).toBe('createSecret:adopted');
    expect(harness.sim.resetRequests).toBe(1);
    await expectCurrentIsLive('webhooks-us');
  });

  it('retries storing a reset secret until it is written', async () => {
    const rotation = await harness.rotate(
      'webhooks-us',
      harness.rotationHandler({
        secretsManager: putSecretValueFailing(2),
        storeRetryPausesMs: [10, 10, 10],
      }),
    );

    expect(rotation.failed).toBeUndefined();
    expect(harness.sim.secretResets).toBe(1);
    await expectCurrentIsLive('webhooks-us');
  });

  it('fails when the reset secret cannot be stored, and the next attempt stores the live secret without a second reset', async () => {
    const lost = await harness.rotate(
      'webhooks-us',
      harness.rotationHandler({
        secretsManager: putSecretValueFailing(100),
        storeRetryPausesMs: [10, 10],
      }),
    );

    expect(lost.failed?.step).toBe('createSecret');
    expect(lost.failed?.error).toBeInstanceOf(RotationError);
    expect(String(lost.failed?.error)).toMatch(/could not be stored .* the next attempt reads it back/);

    const recovered = await harness.resume('webhooks-us', lost.token);

    expect(recovered.failed).toBeUndefined();
    expect(recovered.outcomes[0]).toBe('createSecret:adopted');
    expect(harness.sim.secretResets).toBe(1);
    await expectCurrentIsLive('webhooks-us');
  });

  it('adopts a secret reset in the Console as the pending one, with no reset of its own', async () => {
    const byHand = `reset-in-the-console-${randomUUID()}`;
    harness.sim.setClientSecret(WEBHOOKS_CLIENT.clientId, byHand);

    const rotation = await harness.rotate('webhooks-us');

    expect(rotation.failed).toBeUndefined();
    expect(harness.sim.resetRequests).toBe(0);
    expect((await harness.secretValue('webhooks-us', { stage: 'AWSCURRENT' }))?.client_secret).toBe(byHand);
    expect((await harness.container().handle(request('webhooks-us'))).statusCode).toBe(200);
  });

  it('lets one of two containers running createSecret at once reset, once; the other finds its pending version', async () => {
    const { token, arn } = await startRotation(
      harness.secretsManager,
      harness.secretIds['webhooks-us'] as string,
    );
    const [left, right] = [harness.rotationHandler(), harness.rotationHandler()];
    const event = { SecretId: arn, ClientRequestToken: token, Step: 'createSecret' };

    const records = await Promise.all([left(event), right(event)]);

    expect(records.map((record) => record.outcome).sort()).toEqual(['already-done', 'done']);
    expect(harness.sim.resetRequests).toBe(1);
    for (const Step of ['setSecret', 'testSecret', 'finishSecret']) {
      await left({ SecretId: arn, ClientRequestToken: token, Step });
    }
    await expectCurrentIsLive('webhooks-us');
  });

  it('ends overlapping rotations with the live secret current and one reset: the later one adopts it', async () => {
    const handler = harness.rotationHandler();
    const first = await startRotation(harness.secretsManager, harness.secretIds['webhooks-us'] as string);
    await handler({ SecretId: first.arn, ClientRequestToken: first.token, Step: 'createSecret' });

    const second = await harness.rotate('webhooks-us', handler);
    const late = await handler({
      SecretId: first.arn,
      ClientRequestToken: first.token,
      Step: 'finishSecret',
    }).catch((error: unknown) => error);

    expect(second.failed).toBeUndefined();
    expect(late).toBeInstanceOf(RotationError);
    expect(harness.sim.resetRequests).toBe(1);
    await expectCurrentIsLive('webhooks-us');
  });

  it('passes testSecret through Identity Cloud answering 503 for a while', async () => {
    const handler = harness.rotationHandler();

    const rotation = await harness.rotate('webhooks-us', async (event) => {
      if ((event as { Step: string }).Step === 'testSecret') {
        harness.sim.injectFaults(
          ...Array.from({ length: 5 }, () => ({ kind: 'status' as const, status: 503 })),
        );
      }
      return handler(event);
    });

    expect(rotation.failed).toBeUndefined();
    expect(harness.sim.secretResets).toBe(1);
    await expectCurrentIsLive('webhooks-us');
  });

  it('stops before finishSecret when Identity Cloud refuses the pending secret', async () => {
    const before = await harness.secretValue('webhooks-us', { stage: 'AWSCURRENT' });
    const handler = harness.rotationHandler();
    // Someone else resets the secret between createSecret and testSecret: the pending one is dead too.
    const testing = harness.rotate('webhooks-us', async (event) => {
      const step = (event as { Step: string }).Step;
      if (step === 'testSecret')
        harness.sim.setClientSecret(WEBHOOKS_CLIENT.clientId, `reset-by-someone-else-${randomUUID()}`);
      return handler(event);
    });

    const rotation = await testing;

    expect(rotation.failed?.step).toBe('testSecret');
    expect(String(rotation.failed?.error)).toMatch(
      /Identity Cloud refuses the pending secret of client webhooks-us/,
    );
    expect(await harness.secretValue('webhooks-us', { stage: 'AWSCURRENT' })).toEqual(before);

    // Secrets Manager's next attempt: the pending version cannot be rewritten, so the live secret becomes
    // current at once (no reset sent) and this rotation ends; the next one runs normally.
    const resets = harness.sim.resetRequests;
    const repaired = await harness.resume('webhooks-us', rotation.token);

    expect(repaired.failed?.step).toBe('createSecret');
    expect(String(repaired.failed?.error)).toMatch(/the live secret is now current \(no reset sent\)/);
    expect(harness.sim.resetRequests).toBe(resets);
    await expectCurrentIsLive('webhooks-us');
    expect((await harness.rotate('webhooks-us')).failed).toBeUndefined();
    await expectCurrentIsLive('webhooks-us');
  });

  it('refuses an event that is not a rotation step', async () => {
    await expect(harness.rotationHandler()({ SecretId: 'x', Step: 'dropTable' })).rejects.toBeInstanceOf(
      RotationError,
    );
  });
});

describe('the reset token', () => {
  /** A rotator over moto and the simulator whose reset tokens are minted directly, noting what each asked. */
  function noting(asked: { via: string; scope: string; minTtl: number }[]) {
    const identityCloud = new IdentityCloudClient();
    const rotator = new SecretRotator({
      config: harness.config,
      versions: new SecretsManagerVersions(harness.secretsManager),
      identityCloud,
      resetLease: new RecordStoreResetLease(new MemoryRecordStore()),
      resetToken: async (via, scope, minTtl) => {
        asked.push({ via: via.name, scope, minTtl });
        const secret = await harness.secretValue(via.name, { stage: 'AWSCURRENT' });
        const credentials = { clientId: secret?.client_id ?? '', clientSecret: secret?.client_secret ?? '' };
        return (await identityCloud.requestToken(via.tokenEndpoint, credentials, scope)).accessToken;
      },
    });
    return {
      step: (event: unknown) => rotator.step(event as RotationEvent),
      close: () => identityCloud.close(),
    };
  }

  it('is asked for exactly the reset scope, with min_ttl 900 when the client rotates itself and 60 otherwise', async () => {
    const asked: { via: string; scope: string; minTtl: number }[] = [];
    const rotator = noting(asked);
    try {
      expect((await harness.rotate('config-us', rotator.step)).failed).toBeUndefined();
      expect((await harness.rotate('webhooks-us', rotator.step)).failed).toBeUndefined();
    } finally {
      await rotator.close();
    }

    expect(asked).toEqual([
      {
        via: 'config-us',
        scope: `*:config/clients/${CONFIG_CLIENT.clientId}`,
        minTtl: SELF_ROTATION_MIN_TTL_SECONDS,
      },
      { via: 'config-us', scope: `*:config/clients/${WEBHOOKS_CLIENT.clientId}`, minTtl: 60 },
    ]);
    expect(SELF_ROTATION_MIN_TTL_SECONDS).toBe(900);
    await expectCurrentIsLive('config-us');
    await expectCurrentIsLive('webhooks-us');
  });
});

describe('a rotated secret whose client_id was swapped', () => {
  it.each([
    ['the via client', () => CONFIG_CLIENT.clientId],
    ['a wildcard', () => '*'],
  ])(
    'is refused before anything is sent when it names %s, and nothing is reset',
    async (_what, swappedId) => {
      const honest = await harness.secretValue('webhooks-us', { stage: 'AWSCURRENT' });
      const configBefore = await harness.secretValue('config-us', { stage: 'AWSCURRENT' });
      // The attacker can write this one secret (PutSecretValue on it), and knows no secret of config-us.
      harness.secrets.add('anything-at-all');
      await makeCurrent('webhooks-us', { client_id: swappedId(), client_secret: 'anything-at-all' });
      harness.sim.resetCounters();
      try {
        const rotation = await harness.rotate('webhooks-us');

        expect(rotation.failed?.step).toBe('createSecret');
        expect(String(rotation.failed?.error)).toMatch(
          /names another client_id than its configured clientId/,
        );
        expect(harness.sim.resetRequests).toBe(0);
        expect(harness.sim.tokenRequests).toBe(0);
        expect(harness.sim.liveSecret(CONFIG_CLIENT.clientId)).toBe(configBefore?.client_secret);
        expect(await harness.secretValue('config-us', { stage: 'AWSCURRENT' })).toEqual(configBefore);
        // The same refusal for every later step Secrets Manager may still call.
        const later = await harness.resume('webhooks-us', rotation.token);
        expect(later.failed?.step).toBe('createSecret');
        expect(harness.sim.resetRequests).toBe(0);
      } finally {
        await clearPending('webhooks-us');
        await makeCurrent('webhooks-us', honest as object);
      }
    },
  );
});

describe('the vend path through a rotation', () => {
  it('serves a new token between the reset and finishSecret from the pending secret, for a container holding the old one', async () => {
    const warm = harness.container();
    expect((await warm.handle(request('webhooks-us'))).statusCode).toBe(200); // caches the current secret
    const handler = harness.rotationHandler();
    let served: number | undefined;
    const before = harness.capture.lines.length;

    // Secrets Manager's steps, with a request between createSecret (reset: the old secret is dead) and finishSecret.
    const rotation = await harness.rotate('webhooks-us', async (event) => {
      if ((event as { Step: string }).Step === 'finishSecret') {
        served = (await warm.handle(request('webhooks-us'))).statusCode;
      }
      return handler(event);
    });

    expect(rotation.failed).toBeUndefined();
    expect(served).toBe(200);
    const lines = harness.capture.lines.slice(before).map((line) => line.message);
    expect(lines).toContain(
      'the current secret is refused and unchanged: using the pending secret of a rotation',
    );
  });

  it('answers 502 when the current secret is refused and there is no pending one', async () => {
    const warm = harness.container();
    expect((await warm.handle(request('webhooks-us'))).statusCode).toBe(200);
    const current = await harness.secretValue('webhooks-us', { stage: 'AWSCURRENT' });
    harness.sim.setClientSecret(WEBHOOKS_CLIENT.clientId, `reset-outside-any-rotation-${randomUUID()}`);
    try {
      const response = await warm.handle(request('webhooks-us'));

      expect(response.statusCode).toBe(502);
      expect(bodyOf(response).error).toBe('server_error');
    } finally {
      harness.sim.setClientSecret(WEBHOOKS_CLIENT.clientId, current?.client_secret as string);
    }
  });
});

describe('a via client whose token policy does not allow resets', () => {
  // A world of its own: elsewhere the reset token of via is cached (rightly) from earlier rotations.
  let fresh: Harness;

  beforeAll(async () => {
    fresh = await Harness.start({
      configure: (config) => {
        Object.assign(config.clients['webhooks-us'] as object, {
          rotation: { every: '30 days', via: 'config-us' },
          clientId: WEBHOOKS_CLIENT.clientId,
        });
      },
    });
  });

  afterAll(async () => {
    await fresh?.close();
  });

  it('names the client and the scope when via cannot give the reset token', async () => {
    // Identity Cloud's token policy of config-us no longer allows resets: it grants a token with no scope.
    fresh.sim.upsertClient({ ...CONFIG_CLIENT, allowedScopes: ['*:config/flows/**'] });
    try {
      const rotation = await fresh.rotate('webhooks-us');

      expect(rotation.failed?.step).toBe('createSecret');
      expect(String(rotation.failed?.error)).toMatch(
        new RegExp(
          `client config-us could not give a token for \\*:config/clients/${WEBHOOKS_CLIENT.clientId} to reset the secret of client webhooks-us`,
        ),
      );
      expect(fresh.sim.secretResets).toBe(0);
    } finally {
      fresh.sim.upsertClient({ ...CONFIG_CLIENT });
    }
  });
});

describe('the deployed rotation bundle (lib/handler-bundle.ts output)', () => {
  let outdir: string;
  let bundled: (event: unknown) => Promise<StepRecord>;
  /** The environment the construct gives the rotation function (`lib/rotation-parts.ts`). */
  let environment: Record<string, string>;

  beforeAll(async () => {
    outdir = mkdtempSync(join(tmpdir(), 'tvs-rotation-bundle-'));
    bundleHandler(outdir, {
      entry: ROTATION_ENTRY,
      configDocument: JSON.parse(JSON.stringify(harness.config.document)),
    });
    environment = {
      TVS_CONFIG_FILE: join(outdir, CONFIG_FILE_NAME),
      TVS_TABLE_NAME: harness.tableName,
      TVS_KMS_KEY_ID: harness.keyId,
      TVS_FUNCTION_TIMEOUT_SECONDS: '30',
      TVS_ROTATION_PRINCIPAL: ROTATION_ROLE,
      ...UNBOUNDED_MINTS_ENV,
    };
    // The bundle builds its runtime from the environment when it is imported, as at a cold start.
    Object.assign(process.env, environment);
    try {
      ({ handler: bundled } = (await import(pathToFileURL(join(outdir, 'index.mjs')).href)) as {
        handler: typeof bundled;
      });
    } finally {
      for (const name of Object.keys(environment)) delete process.env[name];
    }
  }, 120_000);

  afterAll(() => {
    if (outdir) rmSync(outdir, { recursive: true, force: true });
  });

  it('starts from its environment and rotates a secret through via, as Secrets Manager runs it', async () => {
    const linesBefore = harness.capture.lines.length;
    const rotation = await harness.rotate('webhooks-us', bundled);

    expect(rotation.failed).toBeUndefined();
    expect(harness.sim.secretResets).toBe(1);
    expect(await harness.secretValue('webhooks-us', { stage: 'AWSCURRENT' })).toEqual({
      client_id: WEBHOOKS_CLIENT.clientId,
      client_secret: harness.sim.issuedSecrets.at(-1),
    });
    const steps = harness.capture.lines.slice(linesBefore).filter((line) => line.message === 'rotation step');
    expect(steps.map((line) => [line.step, line.outcome])).toEqual([
      ['createSecret', 'done'],
      ['setSecret', 'nothing-to-do'],
      ['testSecret', 'done'],
      ['finishSecret', 'done'],
    ]);
  });

  it('refuses to start without its own principal, whose grants the reset tokens need', () => {
    const { TVS_ROTATION_PRINCIPAL: _principal, ...withoutPrincipal } = environment;

    expect(() => createRotationRuntimeFromEnv(withoutPrincipal)).toThrow(
      /environment variable TVS_ROTATION_PRINCIPAL is not set/,
    );
  });
});
