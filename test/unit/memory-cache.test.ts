import { describe, expect, it } from 'vitest';
import type { CachedToken } from '../../lambdas/vend-token/cache-record';
import { MemoryTokenCache } from '../../lambdas/vend-token/memory-cache';

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

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new MemoryTokenCache(0)).toThrow(RangeError);
  });
});
