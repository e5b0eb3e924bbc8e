import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { SealedTokenError, StoreUnavailableError } from '../../src/shared/errors';
import type { TokenCipher } from './token-crypto';

export { StoreUnavailableError };

/** A token as the cache holds it. Times are epoch seconds. */
export interface CachedToken {
  readonly accessToken: string;
  /** Canonical scope the token was granted for. */
  readonly scope: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** SHA-256 hex of the access token: for `reject`, logs and lease conditions. */
  readonly fingerprint: string;
}

/** The refresh lease on a cache key. */
export interface Lease {
  readonly holder: string;
  /** Epoch milliseconds. */
  readonly until: number;
}

/** What the store holds for one cache key. */
export interface StoredEntry {
  readonly token?: CachedToken;
  /** Fingerprint of the stored token even when it could not be decrypted (so it can still be replaced). */
  readonly fingerprint?: string;
  readonly lease?: Lease;
}

/**
 * The shared token cache: four operations, like Powertools Idempotency's persistence layer. Every
 * implementation must make `acquireLease` atomic across all containers.
 */
export interface TokenStore {
  /** The entry for `cacheKey` (strongly consistent), or undefined. */
  get(cacheKey: string): Promise<StoredEntry | undefined>;
  /**
   * Take the refresh lease for `cacheKey` until `untilMs`, only if no unexpired lease is held and the stored
   * token is still the one the caller saw (`seenFingerprint`, undefined for none). True if taken.
   */
  acquireLease(
    cacheKey: string,
    holder: string,
    nowMs: number,
    untilMs: number,
    seenFingerprint?: string,
  ): Promise<boolean>;
  /**
   * Store `token` and clear the lease, unless another holder has an unexpired lease (then nothing is written
   * and false is answered: that holder's token will land instead). `supersede` names a holder whose live
   * lease may be overridden: one that was waited on past the bound and is presumed dead.
   */
  put(
    cacheKey: string,
    token: CachedToken,
    holder: string,
    nowMs: number,
    supersede?: string,
  ): Promise<boolean>;
  /** Give the lease back early (a failed fetch), if `holder` still holds it. */
  releaseLease(cacheKey: string, holder: string): Promise<void>;
}

/** How long a lease-only item (a fetch that never stored a token) lives before DynamoDB's TTL removes it. */
const LEASE_ONLY_ITEM_TTL_SECONDS = 86_400;

/**
 * The token cache in DynamoDB. The item is `pk`, the sealed token (`tok`) and its encrypted data key
 * (`dk`), `scope`, `issued_at`, `expires_at`, `ttl` (= `expires_at`, the table's TTL attribute),
 * `fingerprint`, and the lease (`lease_holder`, `lease_until` in epoch ms). A reader of the table alone
 * cannot use a token: it needs KMS to open the data key.
 */
export class DynamoDbTokenStore implements TokenStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly cipher: TokenCipher,
    private readonly onDecryptFailure: (cacheKey: string, error: unknown) => void = () => {},
  ) {}

  private async call<T>(operation: () => Promise<T>, what: string): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw error;
      const name = (error as { name?: string }).name ?? 'Error';
      throw new StoreUnavailableError(`${what} failed (${name})`, { cause: error });
    }
  }

  async get(cacheKey: string): Promise<StoredEntry | undefined> {
    const answer = await this.call(
      () =>
        this.client.send(
          new GetItemCommand({
            TableName: this.tableName,
            Key: { pk: { S: cacheKey } },
            ConsistentRead: true,
          }),
        ),
      'DynamoDB GetItem',
    );
    const item = answer.Item;
    if (!item) return undefined;
    const lease =
      item.lease_holder?.S && item.lease_until?.N
        ? { holder: item.lease_holder.S, until: Number(item.lease_until.N) }
        : undefined;
    const fingerprint = item.fingerprint?.S;
    let token: CachedToken | undefined;
    if (
      item.tok?.B &&
      item.dk?.B &&
      fingerprint &&
      item.scope?.S &&
      item.issued_at?.N &&
      item.expires_at?.N
    ) {
      try {
        const accessToken = await this.cipher.open(
          { ciphertext: Buffer.from(item.tok.B), encryptedKey: Buffer.from(item.dk.B) },
          cacheKey,
        );
        token = {
          accessToken,
          scope: item.scope.S,
          issuedAt: Number(item.issued_at.N),
          expiresAt: Number(item.expires_at.N),
          fingerprint,
        };
      } catch (error) {
        // A token that can never open (tampered, foreign key) is treated as absent and replaced; KMS being
        // unwell is a store failure, and the service degrades rather than replace a good token.
        if (!(error instanceof SealedTokenError)) {
          const name = (error as { name?: string }).name ?? 'Error';
          throw new StoreUnavailableError(`KMS Decrypt failed (${name})`, { cause: error });
        }
        this.onDecryptFailure(cacheKey, error);
      }
    }
    return {
      ...(token ? { token } : {}),
      ...(fingerprint ? { fingerprint } : {}),
      ...(lease ? { lease } : {}),
    };
  }

  async acquireLease(
    cacheKey: string,
    holder: string,
    nowMs: number,
    untilMs: number,
    seenFingerprint?: string,
  ): Promise<boolean> {
    try {
      await this.call(
        () =>
          this.client.send(
            new UpdateItemCommand({
              TableName: this.tableName,
              Key: { pk: { S: cacheKey } },
              UpdateExpression:
                'SET lease_holder = :holder, lease_until = :until, #ttl = if_not_exists(#ttl, :leaseTtl)',
              ConditionExpression: `(attribute_not_exists(lease_until) OR lease_until < :now) AND ${
                seenFingerprint === undefined ? 'attribute_not_exists(fingerprint)' : 'fingerprint = :seen'
              }`,
              ExpressionAttributeNames: { '#ttl': 'ttl' },
              ExpressionAttributeValues: {
                ':holder': { S: holder },
                ':until': { N: String(untilMs) },
                ':now': { N: String(nowMs) },
                ':leaseTtl': { N: String(Math.floor(nowMs / 1000) + LEASE_ONLY_ITEM_TTL_SECONDS) },
                ...(seenFingerprint === undefined ? {} : { ':seen': { S: seenFingerprint } }),
              },
            }),
          ),
        'DynamoDB UpdateItem (lease)',
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async put(
    cacheKey: string,
    token: CachedToken,
    holder: string,
    nowMs: number,
    supersede?: string,
  ): Promise<boolean> {
    const sealed = await this.call(
      () => this.cipher.seal(token.accessToken, cacheKey),
      'KMS GenerateDataKey',
    );
    try {
      await this.call(
        () =>
          this.client.send(
            new UpdateItemCommand({
              TableName: this.tableName,
              Key: { pk: { S: cacheKey } },
              UpdateExpression:
                'SET tok = :tok, dk = :dk, #scope = :scope, issued_at = :issued, expires_at = :expires, #ttl = :expires, ' +
                'fingerprint = :fingerprint REMOVE lease_holder, lease_until',
              ConditionExpression: `attribute_not_exists(lease_holder) OR lease_holder = :holder OR lease_until < :now${
                supersede === undefined ? '' : ' OR lease_holder = :supersede'
              }`,
              ExpressionAttributeNames: { '#ttl': 'ttl', '#scope': 'scope' },
              ExpressionAttributeValues: {
                ':tok': { B: sealed.ciphertext },
                ':dk': { B: sealed.encryptedKey },
                ':scope': { S: token.scope },
                ':issued': { N: String(token.issuedAt) },
                ':expires': { N: String(token.expiresAt) },
                ':fingerprint': { S: token.fingerprint },
                ':holder': { S: holder },
                ':now': { N: String(nowMs) },
                ...(supersede === undefined ? {} : { ':supersede': { S: supersede } }),
              },
            }),
          ),
        'DynamoDB UpdateItem (store)',
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async releaseLease(cacheKey: string, holder: string): Promise<void> {
    try {
      await this.call(
        () =>
          this.client.send(
            new UpdateItemCommand({
              TableName: this.tableName,
              Key: { pk: { S: cacheKey } },
              UpdateExpression: 'REMOVE lease_holder, lease_until',
              ConditionExpression: 'lease_holder = :holder',
              ExpressionAttributeValues: { ':holder': { S: holder } },
            }),
          ),
        'DynamoDB UpdateItem (release)',
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}
