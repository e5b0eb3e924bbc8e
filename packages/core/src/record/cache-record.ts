/**
 * The one record the cache protocol reads and writes, and the store interface it goes through.
 *
 * Like Powertools Idempotency's `IdempotencyRecord`, a whole record crosses the boundary between the
 * protocol (the lease coordinator, the mint budget) and the stores. A store does I/O only; it knows one
 * condition: {@link RecordStore.replace} lands only if the stored record is still the one that was read
 * (the same `version`). Every rule of the protocol — is the lease free, is the stored token still the one
 * a caller rejected, is there budget left — is decided in TypeScript on the record that was read, and the
 * version makes that decision atomic: if anything changed in between, the write does not land and the
 * protocol reads again. So no rule lives in a DynamoDB expression string, and the in-memory store has
 * exactly the semantics of the DynamoDB one.
 */

/** What is known of a token without opening it. Times are epoch seconds. */
export interface TokenFacts {
  /** The canonical scope the token was granted for. */
  readonly scope: string;
  /** When the token was requested (so expiry errs early). */
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** SHA-256 hex of the access token: what `reject` carries, what logs show. */
  readonly fingerprint: string;
  /**
   * The spender whose request made this key (a caller's principal, or a wildcard grant's pattern): the
   * upkeep of the key is charged to it. Absent for a key the service keeps by itself (the pre-warm).
   */
  readonly madeBy?: string;
}

/** A token as the cache holds it once opened. */
export interface CachedToken extends TokenFacts {
  readonly accessToken: string;
}

/** The refresh lease on a cache key: one fetcher per key across all containers. */
export interface Lease {
  /** The container holding it. */
  readonly holder: string;
  /** Epoch milliseconds by the holder's clock; see `timing.ts` for why it outlives the holder. */
  readonly until: number;
}

/** One upstream mint counted against a client's budget. */
export interface Mint {
  /** Epoch milliseconds. */
  readonly at: number;
  /** The spender the mint was charged to (see `Charge`); empty for the service's own upkeep. */
  readonly by: string;
  /** A refresh of a key in use, within the spender's free allowance. */
  readonly upkeep?: true;
}

/**
 * A client's upstream circuit while it is open (see `upstream-circuit.ts`): Identity Cloud failed, and
 * until a mint succeeds, one probe at a time is let through. Times are epoch milliseconds.
 */
export interface Circuit {
  /** When the failure that opened it was seen. */
  readonly openedAt: number;
  /** No probe starts before this: a probe interval after the last failure, or a probe's own end. */
  readonly probeAt: number;
  /** The container probing now, if one is. */
  readonly prober?: string;
}

/**
 * The record of one key. A token key (`<client>#<sha256>`) uses `token` and `lease`; a client's budget key
 * (`<client>#mints`) uses `mints`; its circuit key (`<client>#circuit`) uses `circuit`. `T` is the token's form in the store: opened ({@link CachedToken}) above
 * the sealing wrapper, sealed below it.
 */
export interface CacheRecord<T extends TokenFacts = CachedToken> {
  readonly key: string;
  /** Counts the writes of this record; 0 when there is none. Set by the store, never by the protocol. */
  readonly version: number;
  readonly token?: T;
  readonly lease?: Lease;
  readonly mints?: readonly Mint[];
  readonly circuit?: Circuit;
}

/** What a write sets: every part of a record but its key and version. An absent part is removed. */
export type RecordContent<T extends TokenFacts = CachedToken> = Omit<CacheRecord<T>, 'key' | 'version'>;

/**
 * Where records live: DynamoDB in AWS, memory in tests and as the per-container fallback, and a sealing
 * wrapper around either. Implementations throw `StoreUnavailableError` when the store itself fails.
 */
export interface RecordStore<T extends TokenFacts = CachedToken> {
  /** The record of `key` (strongly consistent); version 0 and no parts when there is none. */
  read(key: string): Promise<CacheRecord<T>>;
  /**
   * Replace `current` (a record as read) by `next`, only if the store still holds `current` — the same
   * version. Answers the stored record (its version one higher), or undefined when another writer came
   * first (then nothing was written).
   */
  replace(current: CacheRecord<T>, next: RecordContent<T>): Promise<CacheRecord<T> | undefined>;
}

/** An empty record of `key`, as a store answers for a key it has nothing for. */
export function absentRecord<T extends TokenFacts>(key: string): CacheRecord<T> {
  return { key, version: 0 };
}

/** How long a record without a token is kept after its last lease or mint, seconds. */
const KEEP_AFTER_LAST_USE_SECONDS = 3_600;

/**
 * Until when a record is worth keeping (epoch seconds): the table's TTL attribute. With only a token it
 * is `expires_at` (docs/contract.md); a lease, an open circuit or a counted mint keeps the record an hour
 * past them, so DynamoDB's TTL deletion never removes a live lease, an open circuit or a budget still
 * being counted.
 */
export function keepUntil(content: RecordContent<TokenFacts>): number {
  let until = content.token?.expiresAt ?? 0;
  const lastUse = Math.max(
    content.lease?.until ?? 0,
    content.circuit?.probeAt ?? 0,
    ...(content.mints ?? []).map((mint) => mint.at),
  );
  if (lastUse > 0) {
    until = Math.max(until, Math.ceil(lastUse / 1000) + KEEP_AFTER_LAST_USE_SECONDS);
  }
  return until;
}

/** The record a store holds after writing `content` to `key` at `version`; absent parts are left out. */
export function storedRecord<T extends TokenFacts>(
  key: string,
  version: number,
  content: RecordContent<T>,
): CacheRecord<T> {
  return Object.freeze({
    key,
    version,
    ...(content.token === undefined ? {} : { token: content.token }),
    ...(content.lease === undefined ? {} : { lease: content.lease }),
    ...(content.mints === undefined || content.mints.length === 0 ? {} : { mints: content.mints }),
    ...(content.circuit === undefined ? {} : { circuit: content.circuit }),
  });
}
