import type { CachedToken } from '@tvs/core/record/cache-record';
import { MemoryTokenCache } from '@tvs/core/stores/memory-cache';
import { describe, expect, it } from 'vitest';

function token(name: string, expiresAt = 1_000): CachedToken {
  return { accessToken: name, scope: '*:**', issuedAt: 0, expiresAt, fingerprint: name };
}

describe('MemoryTokenCache', () => {
  it('returns a token until it expires, then forgets it', () => {
    const cache = new MemoryTokenCache();
    cache.set('k', token('a', 100));
    expect(cache.get('k', 99)?.accessToken).toBe('a');
    expect(cache.get('k', 100)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('evicts the least recently used entry when full', () => {
    const cache = new MemoryTokenCache(2);
    cache.set('a', token('a'));
    cache.set('b', token('b'));
    cache.get('a', 0); // a is now more recent than b
    cache.set('c', token('c'));
    expect(cache.get('b', 0)).toBeUndefined();
    expect(cache.get('a', 0)?.accessToken).toBe('a');
    expect(cache.get('c', 0)?.accessToken).toBe('c');
    expect(cache.size).toBe(2);
  });

  it('replaces an entry without growing', () => {
    const cache = new MemoryTokenCache(2);
    cache.set('a', token('a'));
    cache.set('a', token('a2'));
    expect(cache.size).toBe(1);
    expect(cache.get('a', 0)?.accessToken).toBe('a2');
  });

  it('counts an entry confirmed for recheckMs after it was seen in the table, and never one not seen there', () => {
    const cache = new MemoryTokenCache(10, 5_000);
    const seen = token('seen');
    const unseen = token('unseen');
    cache.set('seen', seen, 1_000);
    cache.set('unseen', unseen);
    expect(cache.confirmed('seen', seen, 5_999)).toBe(true);
    expect(cache.confirmed('seen', seen, 6_000)).toBe(false);
    expect(cache.confirmed('unseen', unseen, 0)).toBe(false);
    cache.confirm('seen', seen, 6_000);
    expect(cache.confirmed('seen', seen, 10_999)).toBe(true);
  });

  it('confirms or forgets only the token it was asked about, not a newer one', () => {
    const cache = new MemoryTokenCache();
    const old = token('old');
    const newer = token('newer');
    cache.set('k', old, 0);
    cache.set('k', newer, 0);
    cache.forget('k', old);
    expect(cache.get('k', 0)).toBe(newer);
    cache.confirm('k', old, 100_000);
    expect(cache.confirmed('k', newer, 100_000)).toBe(false);
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new MemoryTokenCache(0)).toThrow(RangeError);
  });
});
