import { describe, expect, it } from 'vitest';
import {
  type DataKeyProvider,
  LocalDataKeyProvider,
  TokenCipher,
} from '../../lambdas/vend-token/token-crypto';
import { SealedTokenError } from '../../src/shared/errors';

/** Counts calls to a real local provider. */
class CountingProvider implements DataKeyProvider {
  generated = 0;
  decrypted = 0;
  constructor(private readonly inner = new LocalDataKeyProvider()) {}
  generate() {
    this.generated++;
    return this.inner.generate();
  }
  decrypt(encrypted: Buffer) {
    this.decrypted++;
    return this.inner.decrypt(encrypted);
  }
}

describe('TokenCipher', () => {
  it('round-trips a token and never stores it in the clear', async () => {
    const cipher = new TokenCipher(new LocalDataKeyProvider());
    const sealed = await cipher.seal('the-access-token-value', 'webhooks-us#abc');
    expect(sealed.ciphertext.toString('latin1')).not.toContain('the-access-token-value');
    expect(await cipher.open(sealed, 'webhooks-us#abc')).toBe('the-access-token-value');
  });

  it('refuses to open a sealed token under another cache key (the key is authenticated data)', async () => {
    const cipher = new TokenCipher(new LocalDataKeyProvider());
    const sealed = await cipher.seal('token', 'client-a#1');
    await expect(cipher.open(sealed, 'client-b#1')).rejects.toThrow();
  });

  it('tells a token that can never open from a KMS that is unwell', async () => {
    const master = new LocalDataKeyProvider();
    const sealed = await new TokenCipher(master).seal('token', 'k');
    const throttled = new TokenCipher({
      generate: () => master.generate(),
      decrypt: async () => {
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      },
    });
    // A provider says "not yours to open" with SealedTokenError (KmsDataKeyProvider maps KMS's
    // InvalidCiphertextException and IncorrectKeyException to it: test/integration/kms-data-keys.test.ts).
    const foreign = new TokenCipher({
      generate: () => master.generate(),
      decrypt: async () => {
        throw new SealedTokenError('wrong key');
      },
    });

    await expect(throttled.open(sealed, 'k')).rejects.toMatchObject({ name: 'ThrottlingException' });
    await expect(foreign.open(sealed, 'k')).rejects.toBeInstanceOf(SealedTokenError);
    await expect(new TokenCipher(new LocalDataKeyProvider()).open(sealed, 'k')).rejects.toBeInstanceOf(
      SealedTokenError,
    );
  });

  it('refuses a tampered ciphertext', async () => {
    const cipher = new TokenCipher(new LocalDataKeyProvider());
    const sealed = await cipher.seal('token', 'k');
    const tampered = Buffer.from(sealed.ciphertext);
    tampered[14] = (tampered[14] ?? 0) ^ 1;
    await expect(cipher.open({ ...sealed, ciphertext: tampered }, 'k')).rejects.toBeInstanceOf(
      SealedTokenError,
    );
  });

  it('makes one data key per container and reuses it until it is old', async () => {
    let now = 0;
    const provider = new CountingProvider();
    const cipher = new TokenCipher(provider, 1_000, 64, () => now);
    await Promise.all([cipher.seal('a', 'k'), cipher.seal('b', 'k'), cipher.seal('c', 'k')]);
    expect(provider.generated).toBe(1);
    now = 1_001;
    await cipher.seal('d', 'k');
    expect(provider.generated).toBe(2);
  });

  it("decrypts another container's data key once and remembers it", async () => {
    const master = new LocalDataKeyProvider();
    const writer = new TokenCipher(master);
    const provider = new CountingProvider(master);
    const reader = new TokenCipher(provider);
    const sealed = await writer.seal('token', 'k');
    expect(await reader.open(sealed, 'k')).toBe('token');
    expect(await reader.open(sealed, 'k')).toBe('token');
    expect(provider.decrypted).toBe(1);
  });
});
