import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describeError, ROTATION_KEY_PREFIX, RotationError } from '@tvs/client/contract';
import { isRotationEvent, type RotationEvent, SecretRotator, type StepRecord } from '../flow/rotation.js';
import { RecordStoreResetLease, type ResetLease } from '../protocol/reset-lease.js';
import { DynamoDbRecordStore } from '../stores/dynamodb-store.js';
import { KmsDataKeyProvider, resetTokenEncryptionContext } from '../stores/token-crypto.js';
import { IdentityCloudClient } from '../upstream/identity-cloud.js';
import { SecretsManagerVersions, type SecretVersions } from '../upstream/secret-versions.js';
import type { RequestLog, RequestMetrics } from './vend-handler.js';
import { createRuntime, type RuntimeParts, requiredEnv, runtimePartsFromEnv } from './vend-runtime.js';

/** What the rotation handler needs; built once per container. */
export interface RotationRuntime {
  readonly rotator: SecretRotator;
  readonly log: RequestLog;
  readonly metrics: RequestMetrics;
  readonly now?: () => number;
}

/** The parts of a rotation runtime: the vending core's, plus who the rotation function is. */
export interface RotationRuntimeParts extends RuntimeParts {
  /** The rotation function's role ARN: the caller its reset tokens are vended to (its grants name it). */
  readonly rotationPrincipal: string;
  /** The secrets' versions. @default Secrets Manager */
  readonly versions?: SecretVersions;
  /** Pauses before each retry of storing a reset secret, ms (tests shorten them). */
  readonly storeRetryPausesMs?: readonly number[];
  /** Pause between tries of testing a secret Identity Cloud could not answer for, ms (tests shorten it). */
  readonly testRetryPauseMs?: number;
  /** One createSecret per secret at a time. @default a lease record in the token table */
  readonly resetLease?: ResetLease;
}

/**
 * The rotation function's runtime: a vending core of its own over the same table and token key (its
 * reset tokens are cached, under keys of their own — `ROTATION_KEY_PREFIX` — and sealed under their own
 * encryption context, which `parts.dataKeys` must carry), through which it asks for reset tokens as the
 * caller `rotationPrincipal`, and the rotator over the secrets' versions.
 */
export function createRotationRuntime(parts: RotationRuntimeParts): RotationRuntime {
  const identityCloud = parts.identityCloud ?? new IdentityCloudClient();
  const dynamodb = parts.dynamodb ?? new DynamoDBClient({ maxAttempts: 2 });
  const vending = createRuntime({ ...parts, dynamodb, identityCloud, keyPrefix: ROTATION_KEY_PREFIX });
  const rotator = new SecretRotator({
    config: parts.config,
    versions: parts.versions ?? new SecretsManagerVersions(new SecretsManagerClient({ maxAttempts: 3 })),
    identityCloud,
    resetLease:
      parts.resetLease ??
      new RecordStoreResetLease(new DynamoDbRecordStore(dynamodb, parts.tableName), parts.now),
    resetToken: async (via, scope, minTtl) =>
      (await vending.service.vend(parts.rotationPrincipal, { client: via.name, scope, minTtl })).token
        .accessToken,
    ...(parts.storeRetryPausesMs ? { storeRetryPausesMs: parts.storeRetryPausesMs } : {}),
    ...(parts.testRetryPauseMs !== undefined ? { testRetryPauseMs: parts.testRetryPauseMs } : {}),
    ...(parts.now ? { now: parts.now } : {}),
  });
  return { rotator, log: vending.log, metrics: vending.metrics, ...(parts.now ? { now: parts.now } : {}) };
}

/**
 * The rotation function's runtime from its environment, at cold start: the vend function's variables
 * (`TVS_CONFIG_FILE`, `TVS_TABLE_NAME`, `TVS_KMS_KEY_ID`, the tunables) and `TVS_ROTATION_PRINCIPAL`, its
 * own role's ARN. Anything missing or invalid fails the cold start with a `ConfigError`.
 */
export function createRotationRuntimeFromEnv(env: NodeJS.ProcessEnv = process.env): RotationRuntime {
  // Its principal first: the configuration's rotation grants are made for it.
  const rotationPrincipal = requiredEnv(env, 'TVS_ROTATION_PRINCIPAL');
  const parts = runtimePartsFromEnv(env);
  // Its reset tokens are sealed under their own encryption context: the key policy admits it to no other.
  const dataKeys = new KmsDataKeyProvider(
    requiredEnv(env, 'TVS_KMS_KEY_ID'),
    resetTokenEncryptionContext(parts.tableName),
  );
  return createRotationRuntime({ ...parts, dataKeys, rotationPrincipal });
}

/**
 * The rotation function's handler: one step per invocation, one audit log line per step (never a
 * secret), `RotationFailed` counted and the error rethrown when a step cannot complete, so Secrets
 * Manager marks the rotation failed and the alarm on the function's errors fires.
 */
export function createRotationHandler(runtime: RotationRuntime) {
  const now = runtime.now ?? Date.now;
  const { rotator, log, metrics } = runtime;
  return async function handler(event: unknown): Promise<StepRecord> {
    const started = now();
    if (!isRotationEvent(event)) {
      log.error('rotation step refused: not a Secrets Manager rotation event', {});
      throw new RotationError('not a Secrets Manager rotation event {SecretId, ClientRequestToken, Step}');
    }
    const asked = { step: event.Step, secret: event.SecretId, version: event.ClientRequestToken };
    try {
      const record = await rotator.step(event as RotationEvent);
      log.info('rotation step', {
        step: record.step,
        secret: record.secretArn,
        client: record.client,
        via: record.via,
        version: record.version,
        outcome: record.outcome,
        duration_ms: now() - started,
      });
      return record;
    } catch (error) {
      metrics.count('RotationFailed');
      log.error('rotation step failed', {
        ...asked,
        error: describeError(error),
        duration_ms: now() - started,
      });
      throw error;
    } finally {
      metrics.flush();
    }
  };
}
