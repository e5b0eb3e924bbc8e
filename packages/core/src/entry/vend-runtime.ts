import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConfigError, describeError } from '@tvs/client/contract';
import { loadServiceConfig, type ServiceConfig } from '../config/service-config.js';
import { VendingService } from '../flow/vending-service.js';
import { SERVICE_NAME } from '../policy/service-name.js';
import { settingsFromEnv, type VendingSettings } from '../policy/settings.js';
import { DynamoDbRecordStore } from '../stores/dynamodb-store.js';
import { SealingStore } from '../stores/sealing-store.js';
import {
  type DataKeyProvider,
  KmsDataKeyProvider,
  TokenCipher,
  tokenEncryptionContext,
} from '../stores/token-crypto.js';
import { CredentialsCache, type SecretSource, SecretsManagerSource } from '../upstream/credentials.js';
import { IdentityCloudClient } from '../upstream/identity-cloud.js';
import { Minter } from '../upstream/minter.js';
import type { HandlerRuntime, RequestLog, RequestMetrics } from './vend-handler.js';

/** Everything a runtime can be built from; each part has a production default. */
export interface RuntimeParts {
  readonly config: ServiceConfig;
  readonly tableName: string;
  readonly dataKeys: DataKeyProvider;
  readonly dynamodb?: DynamoDBClient;
  readonly secrets?: SecretSource;
  readonly identityCloud?: IdentityCloudClient;
  readonly settings?: Partial<VendingSettings>;
  readonly log?: RequestLog;
  readonly metrics?: RequestMetrics;
  readonly secretCacheMs?: number;
  readonly now?: () => number;
  /** Prefix of the token keys (the rotation function's own); see `VendingServiceOptions.keyPrefix`. */
  readonly keyPrefix?: string;
}

/** Powertools Metrics as the handler's counters. */
export function powertoolsMetrics(metrics = new Metrics({ serviceName: SERVICE_NAME })): RequestMetrics {
  return {
    count: (name) => metrics.addMetric(name, MetricUnit.Count, 1),
    countBy: (name, dimension, value) => {
      // A dimension value is at most 1024 characters; an ARN is at most 2048.
      const single = metrics.singleMetric();
      single.addDimension(dimension, value.slice(0, 1024));
      single.addMetric(name, MetricUnit.Count, 1);
    },
    // Publishing nothing makes Powertools log a warning: a refused request counts no metric.
    flush: () => {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    },
  };
}

/** Assemble a handler runtime. */
export function createRuntime(parts: RuntimeParts): HandlerRuntime {
  const log = parts.log ?? new Logger({ serviceName: SERVICE_NAME });
  const metrics = parts.metrics ?? powertoolsMetrics();
  const store = new SealingStore(
    new DynamoDbRecordStore(parts.dynamodb ?? new DynamoDBClient({ maxAttempts: 2 }), parts.tableName),
    // The clock decides when a data key is an hour old, and when a cached secret is stale.
    new TokenCipher(parts.dataKeys, undefined, undefined, parts.now),
    (cacheKey) => log.warn('cached token did not decrypt; replacing it', { cache_key: cacheKey }),
  );
  const minter = new Minter({
    credentials: new CredentialsCache(
      parts.secrets ?? new SecretsManagerSource(),
      parts.secretCacheMs,
      parts.now,
    ),
    identityCloud: parts.identityCloud ?? new IdentityCloudClient(),
    ...(parts.now ? { now: parts.now } : {}),
    events: {
      upstreamCall: (outcome, detail) => {
        metrics.count('UpstreamCall');
        if (outcome !== 'ok') {
          metrics.count('UpstreamFailure');
          log.warn('upstream failure', { client: detail.client, outcome, reason: detail.reason });
        }
      },
      secretReread: (client) => log.info('invalid_client: re-reading the secret once', { client }),
      pendingSecretUsed: (client) =>
        log.info('the current secret is refused and unchanged: using the pending secret of a rotation', {
          client,
        }),
    },
  });
  const service = new VendingService({
    config: parts.config,
    store,
    minter,
    ...(parts.settings ? { settings: parts.settings } : {}),
    ...(parts.now ? { now: parts.now } : {}),
    ...(parts.keyPrefix ? { keyPrefix: parts.keyPrefix } : {}),
    observer: {
      storeFailed: (error) => {
        metrics.count('StoreFailure');
        log.warn('token table unavailable; serving from memory and Identity Cloud', { error: error.message });
      },
      refreshFailed: (client, error) =>
        log.warn('refresh failed; serving the still-valid token', { client, error: describeError(error) }),
      circuitOpened: (client, error) =>
        log.warn('upstream circuit open: one probe per interval until Identity Cloud answers', {
          client,
          reason: error.reason,
        }),
      circuitClosed: (client) =>
        log.info('upstream circuit closed: Identity Cloud answers again', { client }),
      mintThrottled: ({ client, caller, spender, reason, retryAfterSeconds }) => {
        metrics.count('MintThrottled');
        if (spender) metrics.countBy?.('MintThrottled', 'spender', spender);
        log.warn('mint throttled', { client, caller, spender, reason, retry_after: retryAfterSeconds });
      },
    },
  });
  return { service, log, metrics, ...(parts.now ? { now: parts.now } : {}) };
}

/** The value of the environment variable `name`; a `ConfigError` when it is unset or empty. */
export function requiredEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigError([`environment variable ${name} is not set`]);
  return value;
}

/**
 * The runtime parts every function of the service reads from its environment at cold start:
 * `TVS_CONFIG` or `TVS_CONFIG_FILE` (the configuration document; with the rotation function's grants
 * when `TVS_ROTATION_PRINCIPAL` is set), `TVS_TABLE_NAME`, `TVS_KMS_KEY_ID`, and the optional tunables of
 * `SETTINGS_ENVIRONMENT` (`settings.ts`) (the function timeout the timing derives from, default 10 s; the
 * refresh margin; the bounds of upstream use). Anything missing or invalid — including a timing or
 * policy that breaks its rules — throws a `ConfigError`, failing the cold start loudly.
 */
export function runtimePartsFromEnv(env: NodeJS.ProcessEnv): RuntimeParts {
  const tableName = requiredEnv(env, 'TVS_TABLE_NAME');
  return {
    config: loadServiceConfig(env),
    tableName,
    dataKeys: new KmsDataKeyProvider(requiredEnv(env, 'TVS_KMS_KEY_ID'), tokenEncryptionContext(tableName)),
    settings: settingsFromEnv(env),
  };
}

/** The vend function's runtime from its environment, at cold start ({@link runtimePartsFromEnv}). */
export function createRuntimeFromEnv(env: NodeJS.ProcessEnv = process.env): HandlerRuntime {
  return createRuntime(runtimePartsFromEnv(env));
}
