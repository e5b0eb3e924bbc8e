import { createHash, timingSafeEqual } from 'node:crypto';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CredentialsError } from '@tvs/client/contract';
import { dependencyUnavailable, isDependencyOutage, requestSignal } from '../policy/request-deadline.js';
import type { ClientCredentials } from './identity-cloud.js';

/** Where configuration-client secrets come from. */
export interface SecretSource {
  /** The secret's JSON string (`{"client_id","client_secret"}`) for a `secretId`: its current version. */
  readSecret(secretId: string): Promise<string>;
  /**
   * The secret's pending version (`AWSPENDING`: what a rotation has reset it to, before it becomes
   * current), or undefined when there is none. Sources without rotation stages do not have this.
   */
  readPendingSecret?(secretId: string): Promise<string | undefined>;
}

/** Parse a secret string into client credentials. */
export function parseClientCredentials(secretId: string, secretString: string): ClientCredentials {
  let value: unknown;
  try {
    value = JSON.parse(secretString);
  } catch {
    throw new CredentialsError(`secret ${secretId} is not a JSON object`);
  }
  const fields = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const { client_id: clientId, client_secret: clientSecret } = fields;
  if (
    typeof clientId !== 'string' ||
    clientId === '' ||
    typeof clientSecret !== 'string' ||
    clientSecret === ''
  ) {
    throw new CredentialsError(
      `secret ${secretId} must hold non-empty "client_id" and "client_secret" strings`,
    );
  }
  return { clientId, clientSecret };
}

/**
 * Reads secrets from AWS Secrets Manager (`AWSCURRENT`). The SDK client is loaded on first use. Each
 * read ends by the request's deadline (`request-deadline.ts`); Secrets Manager not answering in time,
 * unreachable, throttling or failing on its side is a 503 `temporarily_unavailable` (an outage), while a
 * refusal (no such secret, access denied) or a malformed secret is a `CredentialsError` (a defect).
 */
export class SecretsManagerSource implements SecretSource {
  private client: Promise<SecretsManagerClient> | undefined;

  /** @param client an SDK client to use (tests); default one made from the environment on first read. */
  constructor(client?: SecretsManagerClient) {
    if (client) this.client = Promise.resolve(client);
  }

  async readSecret(secretId: string): Promise<string> {
    this.client ??= import('@aws-sdk/client-secrets-manager').then((sdk) => new sdk.SecretsManagerClient({}));
    const client = await this.client;
    const { GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    try {
      const answer = await client.send(
        new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }),
        requestSignal(),
      );
      if (typeof answer.SecretString !== 'string') {
        throw new CredentialsError(`secret ${secretId} has no SecretString`);
      }
      return answer.SecretString;
    } catch (error) {
      if (error instanceof CredentialsError) throw error;
      if (isDependencyOutage(error)) throw dependencyUnavailable('Secrets Manager', error);
      const name = (error as { name?: string }).name ?? 'Error';
      throw new CredentialsError(`secret ${secretId} could not be read (${name})`, { cause: error });
    }
  }

  /** `AWSPENDING`, or undefined when no version has that stage (or it holds no value yet). */
  async readPendingSecret(secretId: string): Promise<string | undefined> {
    this.client ??= import('@aws-sdk/client-secrets-manager').then((sdk) => new sdk.SecretsManagerClient({}));
    const client = await this.client;
    const { GetSecretValueCommand, ResourceNotFoundException } = await import(
      '@aws-sdk/client-secrets-manager'
    );
    try {
      const answer = await client.send(
        new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSPENDING' }),
        requestSignal(),
      );
      return typeof answer.SecretString === 'string' ? answer.SecretString : undefined;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      if (isDependencyOutage(error)) throw dependencyUnavailable('Secrets Manager', error);
      const name = (error as { name?: string }).name ?? 'Error';
      throw new CredentialsError(`the pending version of secret ${secretId} could not be read (${name})`, {
        cause: error,
      });
    }
  }
}

/** Secrets from an in-memory map of secret id → secret string (the local server's secrets file). */
export class StaticSecretSource implements SecretSource {
  constructor(private readonly secrets: ReadonlyMap<string, string>) {}

  async readSecret(secretId: string): Promise<string> {
    const secret = this.secrets.get(secretId);
    if (secret === undefined)
      throw new CredentialsError(`secret ${secretId} is not in the local secrets file`);
    return secret;
  }
}

/**
 * Client credentials by secret id, cached briefly so a burst of misses reads each secret once. A read after
 * `invalidate` bypasses the cache: that is how a rotated secret is picked up after `invalid_client`.
 */
export class CredentialsCache {
  private readonly entries = new Map<string, { credentials: Promise<ClientCredentials>; readAt: number }>();

  constructor(
    private readonly source: SecretSource,
    private readonly ttlMs = 300_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Credentials for `secretId`, from the cache while fresh. Concurrent callers share one read. */
  get(secretId: string): Promise<ClientCredentials> {
    const entry = this.entries.get(secretId);
    if (entry && this.now() - entry.readAt < this.ttlMs) return entry.credentials;
    const credentials = this.source
      .readSecret(secretId)
      .then((secretString) => parseClientCredentials(secretId, secretString));
    const fresh = { credentials, readAt: this.now() };
    this.entries.set(secretId, fresh);
    // A failed read is not cached: the next request tries again.
    credentials.catch(() => {
      if (this.entries.get(secretId) === fresh) this.entries.delete(secretId);
    });
    return credentials;
  }

  /** Forget `secretId` if the cached read is still `stale`, so concurrent invalidations re-read once. */
  invalidate(secretId: string, stale: Promise<ClientCredentials>): void {
    if (this.entries.get(secretId)?.credentials === stale) this.entries.delete(secretId);
  }

  /** Whether the source has rotation stages (Secrets Manager does; a secrets file does not). */
  get hasPendingVersions(): boolean {
    return this.source.readPendingSecret !== undefined;
  }

  /** The pending version of `secretId` (never cached), or undefined when there is none or no stages. */
  async pending(secretId: string): Promise<ClientCredentials | undefined> {
    const secretString = await this.source.readPendingSecret?.(secretId);
    return secretString === undefined ? undefined : parseClientCredentials(secretId, secretString);
  }

  /** Use `credentials` for `secretId` from now on (a pending version that Identity Cloud took). */
  adopt(secretId: string, credentials: ClientCredentials): void {
    this.entries.set(secretId, { credentials: Promise.resolve(credentials), readAt: this.now() });
  }
}

/** Whether two credentials are the same id and secret (compared in constant time; they are secrets). */
export function sameCredentials(left: ClientCredentials, right: ClientCredentials): boolean {
  const pair = (credentials: ClientCredentials) =>
    createHash('sha256').update(`${credentials.clientId}\n${credentials.clientSecret}`).digest();
  return timingSafeEqual(pair(left), pair(right));
}
