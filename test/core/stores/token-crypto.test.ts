import { SealedTokenError } from '@tvs/client/contract';
import {
  type DataKeyProvider,
  LocalDataKeyProvider,
  type SealBinding,
  TokenCipher,
  tokenEncryptionContext,
} from '@tvs/core/stores/token-crypto';
import { describe, expect, it } from 'vitest';

/** The item a token is sealed for: its cache key, issue time, expiry and fingerprint. */
const bound = (
  key: string,
  expiresAt = 1_900_000_000,
  fingerprint = 'f'.repeat(64),
  issuedAt = expiresAt - 3_600,
): SealBinding => ({ key, issuedAt, expiresAt, fingerprint });

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

describe('LocalDataKeyProvider', () => {
  it('mirrors KMS: a data key made for one encryption context does not open under another', async () => {
    const master = Buffer.alloc(32, 7);
    const made = await new LocalDataKeyProvider(tokenEncryptionContext('table-a'), master).generate();

    const same = await new LocalDataKeyProvider(tokenEncryptionContext('table-a'), master).decrypt(
      made.encrypted,
    );
    expect(Buffer.compare(same, made.plaintext)).toBe(0);
    await expect(
      new LocalDataKeyProvider(tokenEncryptionContext('table-b'), master).decrypt(made.encrypted),
    ).rejects.toBeInstanceOf(SealedTokenError);
  });
});

describe('TokenCipher', () => {
  it('round-trips a token and never stores it in the clear', async () => {
    const cipher = new TokenCipher(new LocalDataKeyProvider());
    const sealed = await cipher.seal('the-access-token-value', bound('webhooks-us#abc'));
    expect(sealed.ciphertext.toString('latin1')).not.toContain('the-access-token-value');
    expect(await cipher.open(sealed, bound('webhooks-us#abc'))).toBe('the-access-token-value');
  });

  it('refuses to open a sealed token under another cache key (the key is authenticated data)', async () => {
    const cipher = new TokenCipher(new LocalDataKeyProvider());
    const sealed = await cipher.seal('token', bound('client-a#1'));
    await expect(cipher.open(sealed, bound('client-b#1'))).rejects.toBeInstanceOf(SealedTokenError);
  });

  it('refuses to open a token whose item had its expiry or fingerprint edited (both are authenticated data)', async () => {
    const cipher = new TokenCipher(new LocalDataKeyProvider());
    const sealed = await cipher.seal('token', bound('k', 1_900_000_000, 'a'.repeat(64)));

    expect(await cipher.open(sealed, bound('k', 1_900_000_000, 'a'.repeat(64)))).toBe('token');
    await expect(cipher.open(sealed, bound('k', 1_900_003_600, 'a'.repeat(64)))).rejects.toBeInstanceOf(
      SealedTokenError,
    );
    await expect(cipher.open(sealed, bound('k', 1_900_000_000, 'b'.repeat(64)))).rejects.toBeInstanceOf(
      SealedTokenError,
    );
  });

  it('refuses to open a token whose item had its issue time edited (issued_at is authenticated data)', async () => {
    const cipher = new TokenCipher(new LocalDataKeyProvider());
    const sealed = await cipher.seal('token', bound('k', 1_900_000_000, 'a'.repeat(64), 1_899_996_400));

    expect(await cipher.open(sealed, bound('k', 1_900_000_000, 'a'.repeat(64), 1_899_996_400))).toBe('token');
    // Moving issued_at later would shorten the mint interval's wait and the lifetime min_ttl is held to.
    await expect(
      cipher.open(sealed, bound('k', 1_900_000_000, 'a'.repeat(64), 1_899_999_000)),
    ).rejects.toBeInstanceOf(SealedTokenError);
  });

  it('does not open a token sealed the old ways (formats 1 and 2), so it reads as a miss and is replaced', async () => {
    const cipher = new TokenCipher(new LocalDataKeyProvider());
    const sealed = await cipher.seal('token', bound('k'));

    expect(sealed.format).toBe(3);
    await expect(cipher.open({ ...sealed, format: 1 }, bound('k'))).rejects.toBeInstanceOf(SealedTokenError);
    await expect(cipher.open({ ...sealed, format: 2 }, bound('k'))).rejects.toBeInstanceOf(SealedTokenError);
  });

  it('tells a token that can never open from a KMS that is unwell', async () => {
    const master = new LocalDataKeyProvider();
    const sealed = await new TokenCipher(master).seal('token', bound('k'));
    const throttled = new TokenCipher({
      generate: () => master.generate(),
      decrypt: async () => {
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      },
    });
    // A provider says "not yours to open" with SealedTokenError (KmsDataKeyProvider maps KMS's
    // InvalidCiphertextException and IncorrectKeyException to it: test/core/stores/token-crypto.kms.int.test.ts).
    const foreign = new TokenCipher({
      generate: () => master.generate(),
      decrypt: async () => {
        throw new SealedTokenError('wrong key');
      },
    });

    await expect(throttled.open(sealed, bound('k'))).rejects.toMatchObject({ name: 'ThrottlingException' });
    await expect(foreign.open(sealed, bound('k'))).rejects.toBeInstanceOf(SealedTokenError);
    await expect(new TokenCipher(new LocalDataKeyProvider()).open(sealed, bound('k'))).rejects.toBeInstanceOf(
      SealedTokenError,
    );
  });

  it('refuses a tampered ciphertext', async () => {
    const cipher = new TokenCipher(new LocalDataKeyProvider());
    const sealed = await cipher.seal('token', bound('k'));
    const tampered = Buffer.from(sealed.ciphertext);
    tampered[14] = (tampered[14] ?? 0) ^ 1;
    await expect(cipher.open({ ...sealed, ciphertext: tampered }, bound('k'))).rejects.toBeInstanceOf(
      SealedTokenError,
    );
  });

  it('makes one data key per container and reuses it until it is old', async () => {
    let now = 0;
    const provider = new CountingProvider();
    const cipher = new TokenCipher(provider, 1_000, 64, () => now);
    await Promise.all([
      cipher.seal('a', bound('k')),
      cipher.seal('b', bound('k')),
      cipher.seal('c', bound('k')),
    ]);
    expect(provider.generated).toBe(1);
    now = 1_001;
    await cipher.seal('d', bound('k'));
    expect(provider.generated).toBe(2);
  });

  it("decrypts another container's data key once and remembers it", async () => {
    const master = new LocalDataKeyProvider();
    const writer = new TokenCipher(master);
    const provider = new CountingProvider(master);
    const reader = new TokenCipher(provider);
    const sealed = await writer.seal('token', bound('k'));
    expect(await reader.open(sealed, bound('k'))).toBe('token');
    expect(await reader.open(sealed, bound('k'))).toBe('token');
    expect(provider.decrypted).toBe(1);
  });
});
