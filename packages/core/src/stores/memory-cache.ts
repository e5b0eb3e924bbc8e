import type { CachedToken } from '../record/cache-record.js';

/**
 * How long a token in the warm container's memory is served without looking at the table again, ms.
 * It bounds a purge (docs/cli.md "tvs purge"): a purged token leaves the table at once, and every
 * container stops serving it from memory within this interval.
 */
export const MEMORY_RECHECK_MS = 5_000;

interface Entry {
  readonly token: CachedToken;
  /** Epoch ms when the token was last seen in (or written to) the shared table. */
  readonly checkedAt: number;
}

/**
 * A bounded cache of tokens in the warm container, in front of the table. Entries expire with their
 * token; when full, the least recently used entry is evicted (a `Map` keeps insertion order, and a hit
 * re-inserts its key). An entry is *confirmed* for {@link MEMORY_RECHECK_MS} after it was last seen in the
 * table; after that the flow reads the table again before serving it, so a purge reaches every container.
 */
export class MemoryTokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly maxEntries = 1_000,
    readonly recheckMs = MEMORY_RECHECK_MS,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError('maxEntries must be a positive integer');
    if (!Number.isInteger(recheckMs) || recheckMs < 0)
      throw new RangeError('recheckMs must be a whole number of milliseconds');
  }

  /** The token for `cacheKey` if it has not expired at `nowSeconds`. */
  get(cacheKey: string, nowSeconds: number): CachedToken | undefined {
    const entry = this.entries.get(cacheKey);
    if (entry === undefined) return undefined;
    this.entries.delete(cacheKey);
    if (entry.token.expiresAt <= nowSeconds) return undefined;
    this.entries.set(cacheKey, entry);
    return entry.token;
  }

  /** Whether `token` is the entry of `cacheKey` and was seen in the table less than `recheckMs` before `nowMs`. */
  confirmed(cacheKey: string, token: CachedToken, nowMs: number): boolean {
    const entry = this.entries.get(cacheKey);
    return entry?.token === token && nowMs - entry.checkedAt < this.recheckMs;
  }

  /** Mark `token` seen in the table at `checkedAt` (epoch ms), if it is still the entry of `cacheKey`. */
  confirm(cacheKey: string, token: CachedToken, checkedAt: number): void {
    const entry = this.entries.get(cacheKey);
    if (entry?.token === token) this.entries.set(cacheKey, { token, checkedAt });
  }

  /** Forget `token` (the table no longer holds it), if it is still the entry of `cacheKey`. */
  forget(cacheKey: string, token: CachedToken): void {
    if (this.entries.get(cacheKey)?.token === token) this.entries.delete(cacheKey);
  }

  /**
   * Remember `token` for `cacheKey`, seen in the table at `checkedAt` (epoch ms; absent: not seen there,
   * so it is confirmed before it is served again), evicting the least recently used entry if full.
   */
  set(cacheKey: string, token: CachedToken, checkedAt = Number.NEGATIVE_INFINITY): void {
    this.entries.delete(cacheKey);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(cacheKey, { token, checkedAt });
  }

  delete(cacheKey: string): void {
    this.entries.delete(cacheKey);
  }

  get size(): number {
    return this.entries.size;
  }
}
