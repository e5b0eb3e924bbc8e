import { CredentialsError } from '@tvs/client/contract';
import { CredentialsCache, parseClientCredentials, type SecretSource } from '@tvs/core/upstream/credentials';
import { describe, expect, it } from 'vitest';

class CountingSource implements SecretSource {
  reads = 0;
  constructor(public secret: string) {}
  async readSecret(): Promise<string> {
    this.reads++;
    return this.secret;
  }
}

const SECRET = JSON.stringify({ client_id: 'id', client_secret: 'very-secret-value' });

describe('parseClientCredentials', () => {
  it('reads client_id and client_secret', () => {
    expect(parseClientCredentials('s', SECRET)).toEqual({
      clientId: 'id',
      clientSecret: 'very-secret-value',
    });
  });

  it.each([
    ['not JSON', 'very-secret-value'],
    ['a missing secret', JSON.stringify({ client_id: 'id' })],
    ['an empty secret', JSON.stringify({ client_id: 'id', client_secret: '' })],
    ['a number', '42'],
  ])('refuses %s without quoting the secret', (_name, secretString) => {
    let caught: unknown;
    try {
      parseClientCredentials('tvs/x', secretString);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CredentialsError);
    expect((caught as Error).message).toContain('tvs/x');
    expect((caught as Error).message).not.toContain('very-secret-value');
  });
});

describe('CredentialsCache', () => {
  it('reads a secret once for concurrent callers and while fresh', async () => {
    const source = new CountingSource(SECRET);
    let now = 0;
    const cache = new CredentialsCache(source, 1_000, () => now);
    await Promise.all([cache.get('s'), cache.get('s'), cache.get('s')]);
    now = 999;
    await cache.get('s');
    expect(source.reads).toBe(1);
    now = 1_000;
    await cache.get('s');
    expect(source.reads).toBe(2);
  });

  it('re-reads once after invalidation, however many callers invalidate the same stale read', async () => {
    const source = new CountingSource(SECRET);
    const cache = new CredentialsCache(source);
    const stale = cache.get('s');
    await stale;
    source.secret = JSON.stringify({ client_id: 'id', client_secret: 'rotated' });
    cache.invalidate('s', stale);
    const fresh = cache.get('s');
    cache.invalidate('s', stale);
    expect((await cache.get('s')).clientSecret).toBe('rotated');
    expect(await fresh).toEqual(await cache.get('s'));
    expect(source.reads).toBe(2);
  });

  it('does not cache a failed read', async () => {
    const source = new CountingSource('broken');
    const cache = new CredentialsCache(source);
    await expect(cache.get('s')).rejects.toBeInstanceOf(CredentialsError);
    source.secret = SECRET;
    await expect(cache.get('s')).resolves.toMatchObject({ clientId: 'id' });
    expect(source.reads).toBe(2);
  });
});
