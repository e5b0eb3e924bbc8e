import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConfigError } from '../../src/shared/errors';
import { describeError, type HandlerRuntime, type RequestLog, type RequestMetrics } from './app';
import { loadServiceConfig, type ServiceConfig } from './config';
import { CredentialsCache, type SecretSource, SecretsManagerSource } from './credentials';
import { IdentityCloudClient } from './identity-cloud';
import { type DataKeyProvider, KmsDataKeyProvider, TokenCipher } from './token-crypto';
import { DynamoDbTokenStore } from './token-store';
import { VendingService, type VendingSettings } from './vending-service';

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
}

/** Powertools Metrics as the handler's counters. */
export function powertoolsMetrics(
  metrics = new Metrics({ serviceName: 'token-vending-service' }),
): RequestMetrics {
  return {
    count: (name) => metrics.addMetric(name, MetricUnit.Count, 1),
    // Publishing nothing makes Powertools log a warning: a refused request counts no metric.
    flush: () => {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    },
  };
}

/** Assemble a handler runtime. */
export function createRuntime(parts: RuntimeParts): HandlerRuntime {
  const log = parts.log ?? new Logger({ serviceName: 'token-vending-service' });
  const metrics = parts.metrics ?? powertoolsMetrics();
  const cipher = new TokenCipher(parts.dataKeys);
  const store = new DynamoDbTokenStore(
    parts.dynamodb ?? new DynamoDBClient({ maxAttempts: 2 }),
    parts.tableName,
    cipher,
    (cacheKey) => log.warn('cached token did not decrypt; replacing it', { cache_key: cacheKey }),
  );
  const service = new VendingService({
    config: parts.config,
    store,
    credentials: new CredentialsCache(parts.secrets ?? new SecretsManagerSource(), parts.secretCacheMs),
    identityCloud: parts.identityCloud ?? new IdentityCloudClient(),
    ...(parts.settings ? { settings: parts.settings } : {}),
    ...(parts.now ? { now: parts.now } : {}),
    observer: {
      upstreamCall: (outcome, detail) => {
        metrics.count('UpstreamCall');
        if (outcome !== 'ok') {
          metrics.count('UpstreamFailure');
          log.warn('upstream failure', { client: detail.client, outcome, reason: detail.reason });
        }
      },
      storeFailed: (error) => {
        metrics.count('StoreFailure');
        log.warn('token table unavailable; serving from memory and Identity Cloud', { error: error.message });
      },
      secretReread: (client) => log.info('invalid_client: re-reading the secret once', { client }),
      refreshFailed: (client, error) =>
        log.warn('refresh failed; serving the still-valid token', { client, error: describeError(error) }),
    },
  });
  return { service, log, metrics, ...(parts.now ? { now: parts.now } : {}) };
}

function requiredEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigError([`environment variable ${name} is not set`]);
  return value;
}

function optionalSeconds(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0)
    throw new ConfigError([`${name} must be a number of seconds ≥ 0`]);
  return seconds;
}

/**
 * The Lambda's runtime from its environment, at cold start: `TVS_CONFIG` or `TVS_CONFIG_FILE` (the
 * configuration document), `TVS_TABLE_NAME`, `TVS_KMS_KEY_ID`, optional `TVS_REFRESH_MARGIN_SECONDS` and
 * `TVS_REQUEST_DEADLINE_SECONDS` (default 8).
 * Anything missing or invalid throws a `ConfigError`, failing the cold start loudly.
 */
export function createRuntimeFromEnv(env: NodeJS.ProcessEnv = process.env): HandlerRuntime {
  const config = loadServiceConfig(env);
  const refreshMarginSeconds = optionalSeconds(env, 'TVS_REFRESH_MARGIN_SECONDS');
  const requestDeadlineSeconds = optionalSeconds(env, 'TVS_REQUEST_DEADLINE_SECONDS');
  return createRuntime({
    config,
    tableName: requiredEnv(env, 'TVS_TABLE_NAME'),
    dataKeys: new KmsDataKeyProvider(requiredEnv(env, 'TVS_KMS_KEY_ID')),
    settings: {
      ...(refreshMarginSeconds === undefined ? {} : { refreshMarginSeconds }),
      ...(requestDeadlineSeconds === undefined ? {} : { requestDeadlineMs: requestDeadlineSeconds * 1000 }),
    },
  });
}
