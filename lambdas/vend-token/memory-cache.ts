import type { CachedToken } from './cache-record';

/**
 * A bounded cache of tokens in the warm container, in front of the table. Entries expire with their
 * token; when full, the least recently used entry is evicted (a `Map` keeps insertion order, and a hit
 * re-inserts its key).
 */
export class MemoryTokenCache {
  private readonly entries = new Map<string, CachedToken>();

  constructor(readonly maxEntries = 1_000) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError('maxEntries must be a positive integer');
  }

  /** The token for `cacheKey` if it has not expired at `nowSeconds`. */
  get(cacheKey: string, nowSeconds: number): CachedToken | undefined {
    const token = this.entries.get(cacheKey);
    if (token === undefined) return undefined;
    if (token.expiresAt <= nowSeconds) {
      this.entries.delete(cacheKey);
      return undefined;
    }
    this.entries.delete(cacheKey);
    this.entries.set(cacheKey, token);
    return token;
  }

  /** Remember `token` for `cacheKey`, evicting the least recently used entry if full. */
  set(cacheKey: string, token: CachedToken): void {
    this.entries.delete(cacheKey);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(cacheKey, token);
  }

  delete(cacheKey: string): void {
    this.entries.delete(cacheKey);
  }

  get size(): number {
    return this.entries.size;
  }
}
