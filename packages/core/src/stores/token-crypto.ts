import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';
import { SealedTokenError } from '@tvs/client/contract';
import { requestSignal } from '../policy/request-deadline.js';
import { SERVICE_NAME } from '../policy/service-name.js';

/** A data key: the plaintext for AES-256-GCM, and its encrypted form stored beside the ciphertext. */
export interface DataKey {
  readonly plaintext: Buffer;
  readonly encrypted: Buffer;
}

/** Where data keys come from: KMS in AWS, a key made at start for the embedded local server. */
export interface DataKeyProvider {
  generate(): Promise<DataKey>;
  decrypt(encrypted: Buffer): Promise<Buffer>;
}

/** The encryption context of every data-key call: which service, for which table. Not a secret. */
export type EncryptionContext = Readonly<Record<string, string>>;

/**
 * The encryption context of the data keys that seal the tokens of `tableName`. The token key's policy
 * admits `GenerateDataKey` and `Decrypt` only with exactly this context (the construct builds its
 * conditions from this function), so a data key made for one table never opens for another, and no
 * other use of the key is possible.
 */
export function tokenEncryptionContext(tableName: string): EncryptionContext {
  return { service: SERVICE_NAME, table: tableName };
}

/**
 * The encryption context of the data keys that seal the rotation function's reset tokens in `tableName`:
 * another `service` value than {@link tokenEncryptionContext}'s, so the token key's policy can admit each
 * function to its own tokens only — the rotation role opens no vended token, the vend role no reset token.
 */
export function resetTokenEncryptionContext(tableName: string): EncryptionContext {
  return { service: `${SERVICE_NAME}/rotation`, table: tableName };
}

/**
 * Data keys from AWS KMS `GenerateDataKey` / `Decrypt`, always with the given encryption context; each
 * call ends by the request's deadline (`request-deadline.ts`).
 */
export class KmsDataKeyProvider implements DataKeyProvider {
  private client: Promise<KMSClient> | undefined;

  constructor(
    private readonly keyId: string,
    private readonly context: EncryptionContext,
    client?: KMSClient,
  ) {
    if (client) this.client = Promise.resolve(client);
  }

  private kms(): Promise<KMSClient> {
    this.client ??= import('@aws-sdk/client-kms').then((sdk) => new sdk.KMSClient({}));
    return this.client;
  }

  async generate(): Promise<DataKey> {
    const { GenerateDataKeyCommand } = await import('@aws-sdk/client-kms');
    const answer = await (await this.kms()).send(
      new GenerateDataKeyCommand({
        KeyId: this.keyId,
        KeySpec: 'AES_256',
        EncryptionContext: { ...this.context },
      }),
      requestSignal(),
    );
    if (!answer.Plaintext || !answer.CiphertextBlob)
      throw new Error('KMS GenerateDataKey answered without a key');
    return { plaintext: Buffer.from(answer.Plaintext), encrypted: Buffer.from(answer.CiphertextBlob) };
  }

  /**
   * Throws {@link SealedTokenError} when KMS says the data key is not this key's to open (a foreign or
   * garbled ciphertext, or another encryption context); any other failure (throttled, unreachable,
   * denied) is passed on as it is.
   */
  async decrypt(encrypted: Buffer): Promise<Buffer> {
    const { DecryptCommand, IncorrectKeyException, InvalidCiphertextException } = await import(
      '@aws-sdk/client-kms'
    );
    let plaintext: Uint8Array | undefined;
    try {
      const answer = await (await this.kms()).send(
        new DecryptCommand({
          KeyId: this.keyId,
          CiphertextBlob: encrypted,
          EncryptionContext: { ...this.context },
        }),
        requestSignal(),
      );
      plaintext = answer.Plaintext;
    } catch (error) {
      if (error instanceof InvalidCiphertextException || error instanceof IncorrectKeyException) {
        throw new SealedTokenError('KMS refused to open the data key of a sealed token', { cause: error });
      }
      throw error;
    }
    if (!plaintext) throw new Error('KMS Decrypt answered without a key');
    return Buffer.from(plaintext);
  }
}

/**
 * Data keys wrapped by a master key held in memory: for the embedded local server, whose whole cache dies
 * with the process anyway. Never used in AWS. It mirrors KMS: the encryption context is authenticated
 * with each data key, so a data key made for one context does not open under another.
 */
export class LocalDataKeyProvider implements DataKeyProvider {
  private readonly aad: Buffer;

  constructor(
    context: EncryptionContext = tokenEncryptionContext('local'),
    private readonly masterKey: Buffer = randomBytes(32),
  ) {
    this.aad = Buffer.from(JSON.stringify(['tvs-local-data-key', Object.entries(context).sort()]), 'utf8');
  }

  async generate(): Promise<DataKey> {
    const plaintext = randomBytes(32);
    return { plaintext, encrypted: seal(this.masterKey, plaintext, this.aad) };
  }

  async decrypt(encrypted: Buffer): Promise<Buffer> {
    try {
      return open(this.masterKey, encrypted, this.aad);
    } catch (error) {
      throw new SealedTokenError('the data key was made by another local server, or for another context', {
        cause: error,
      });
    }
  }
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** AES-256-GCM: iv ‖ ciphertext ‖ tag. */
function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

function open(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new Error('sealed token is too short');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  return Buffer.concat([
    decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
    decipher.final(),
  ]);
}

/**
 * The format of tokens this version seals: AES-256-GCM whose additional authenticated data binds the
 * cache key, `issued_at`, `expires_at` and the fingerprint. Older formats are not opened, so they read
 * as misses and are replaced: format 1 bound only the cache key, format 2 left out `issued_at` (a table
 * writer could shift it, and with it the mint interval and the `min_ttl` bound).
 */
export const SEAL_FORMAT = 3;

/** What a sealed token is bound to: it opens only in the item it was sealed for, with these facts. */
export interface SealBinding {
  /** The cache key (`pk`) of the item. */
  readonly key: string;
  /** Epoch seconds. */
  readonly issuedAt: number;
  /** Epoch seconds. */
  readonly expiresAt: number;
  /** SHA-256 hex of the token. */
  readonly fingerprint: string;
}

/** The additional authenticated data of a format-3 sealed token: unambiguous, whatever the key holds. */
function bindingData(binding: SealBinding): Buffer {
  return Buffer.from(
    JSON.stringify([SEAL_FORMAT, binding.key, binding.issuedAt, binding.expiresAt, binding.fingerprint]),
    'utf8',
  );
}

/** An encrypted token as stored: the sealed token, the encrypted data key that opens it, and its format. */
export interface SealedToken {
  readonly ciphertext: Buffer;
  readonly encryptedKey: Buffer;
  readonly format: number;
}

/**
 * Encrypts tokens for the table with envelope encryption. One data key per container is reused for writes
 * until it is `dataKeyMaxAgeMs` old (one KMS call per container, not per token); data keys written by
 * other containers are decrypted once each and remembered (bounded). The additional authenticated data
 * binds the item's cache key, `issued_at`, `expires_at` and fingerprint ({@link SealBinding}), so a sealed
 * token moved to another item, or an item whose issue time, expiry or fingerprint was edited, does not open.
 */
export class TokenCipher {
  private current: { key: Promise<DataKey>; madeAt: number } | undefined;
  private readonly opened = new Map<string, Promise<Buffer>>();

  constructor(
    private readonly provider: DataKeyProvider,
    private readonly dataKeyMaxAgeMs = 3_600_000,
    private readonly maxRememberedKeys = 64,
    private readonly now: () => number = Date.now,
  ) {}

  private dataKey(): Promise<DataKey> {
    if (!this.current || this.now() - this.current.madeAt > this.dataKeyMaxAgeMs) {
      const key = this.provider.generate();
      const entry = { key, madeAt: this.now() };
      this.current = entry;
      key
        .then((made) => this.remember(made.encrypted, Promise.resolve(made.plaintext)))
        .catch(() => {
          if (this.current === entry) this.current = undefined;
        });
    }
    return this.current.key;
  }

  private remember(encrypted: Buffer, plaintext: Promise<Buffer>): void {
    const id = createHash('sha256').update(encrypted).digest('base64');
    if (this.opened.size >= this.maxRememberedKeys) {
      const oldest = this.opened.keys().next().value;
      if (oldest !== undefined) this.opened.delete(oldest);
    }
    this.opened.set(id, plaintext);
  }

  async seal(accessToken: string, binding: SealBinding): Promise<SealedToken> {
    const key = await this.dataKey();
    return {
      ciphertext: seal(key.plaintext, Buffer.from(accessToken, 'utf8'), bindingData(binding)),
      encryptedKey: key.encrypted,
      format: SEAL_FORMAT,
    };
  }

  /**
   * Open a sealed token. Throws {@link SealedTokenError} when it can never be opened; any other error
   * (KMS throttled or unreachable) is passed on as it is, since a later attempt may succeed.
   */
  async open(sealed: SealedToken, binding: SealBinding): Promise<string> {
    if (sealed.format !== SEAL_FORMAT) {
      throw new SealedTokenError(`a token sealed in format ${sealed.format} is not opened by this version`);
    }
    const id = createHash('sha256').update(sealed.encryptedKey).digest('base64');
    let plaintext = this.opened.get(id);
    if (!plaintext) {
      plaintext = this.provider.decrypt(sealed.encryptedKey);
      this.remember(sealed.encryptedKey, plaintext);
      plaintext.catch(() => this.opened.delete(id));
    }
    let key: Buffer;
    try {
      key = await plaintext;
    } catch (error) {
      if (error instanceof SealedTokenError) {
        throw new SealedTokenError('the data key of a sealed token does not open', { cause: error });
      }
      throw error;
    }
    try {
      return open(key, sealed.ciphertext, bindingData(binding)).toString('utf8');
    } catch (error) {
      throw new SealedTokenError('a sealed token does not open', { cause: error });
    }
  }
}
