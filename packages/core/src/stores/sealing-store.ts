import { fingerprintOf, SealedTokenError, StoreUnavailableError } from '@tvs/client/contract';
import {
  type CachedToken,
  type CacheRecord,
  type RecordContent,
  type RecordStore,
  storedRecord,
  type TokenFacts,
} from '../record/cache-record.js';
import type { SealBinding, SealedToken, TokenCipher } from './token-crypto.js';

/** A token as the table holds it: its facts in the clear, the access token sealed. */
export interface SealedCachedToken extends TokenFacts {
  readonly sealed: SealedToken;
}

/** What a sealed token is bound to: the item's key and the facts a table writer could otherwise edit. */
function bindingOf(key: string, facts: TokenFacts): SealBinding {
  return { key, issuedAt: facts.issuedAt, expiresAt: facts.expiresAt, fingerprint: facts.fingerprint };
}

/**
 * Seals tokens on their way into any store and opens them on the way out, so the store below never
 * holds a usable token. A token that can never be opened (tampered, sealed under another key or the old
 * way) reads as absent — the protocol replaces it — and is reported; KMS failing to answer is a store
 * failure instead, so a good token is never replaced because KMS was unwell.
 */
export class SealingStore implements RecordStore<CachedToken> {
  /**
   * The sealed form of each token this wrapper opened or sealed, so rewriting a record whose token did
   * not change (taking or releasing a lease) writes the same bytes without sealing again. A cache only:
   * without it the token would be sealed anew, with the same result.
   */
  private readonly sealedForms = new WeakMap<CachedToken, SealedCachedToken>();

  constructor(
    private readonly inner: RecordStore<SealedCachedToken>,
    private readonly cipher: TokenCipher,
    private readonly onUnopenable: (key: string, error: SealedTokenError) => void = () => {},
  ) {}

  async read(key: string): Promise<CacheRecord<CachedToken>> {
    const record = await this.inner.read(key);
    return storedRecord(key, record.version, {
      token: record.token && (await this.open(key, record.token)),
      lease: record.lease,
      mints: record.mints,
      circuit: record.circuit,
    });
  }

  async replace(
    current: CacheRecord<CachedToken>,
    next: RecordContent<CachedToken>,
  ): Promise<CacheRecord<CachedToken> | undefined> {
    const token = next.token && (await this.seal(current.key, next.token));
    const stored = await this.inner.replace(
      { key: current.key, version: current.version },
      { token, lease: next.lease, mints: next.mints, circuit: next.circuit },
    );
    return stored && storedRecord(current.key, stored.version, next);
  }

  private async open(key: string, stored: SealedCachedToken): Promise<CachedToken | undefined> {
    let accessToken: string;
    try {
      accessToken = await this.cipher.open(stored.sealed, bindingOf(key, stored));
      // Bound by the sealing too; checked again because it costs nothing and a token is at stake.
      if (fingerprintOf(accessToken) !== stored.fingerprint) {
        throw new SealedTokenError('a sealed token does not match its fingerprint');
      }
    } catch (error) {
      if (error instanceof SealedTokenError) {
        this.onUnopenable(key, error);
        return undefined;
      }
      const name = error instanceof Error ? error.name : 'Error';
      throw new StoreUnavailableError(`KMS Decrypt failed (${name})`, { cause: error });
    }
    const { sealed: _sealed, ...facts } = stored;
    const token: CachedToken = Object.freeze({ ...facts, accessToken });
    this.sealedForms.set(token, stored);
    return token;
  }

  private async seal(key: string, token: CachedToken): Promise<SealedCachedToken> {
    const known = this.sealedForms.get(token);
    if (known) return known;
    let sealed: SealedToken;
    try {
      sealed = await this.cipher.seal(token.accessToken, bindingOf(key, token));
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error';
      throw new StoreUnavailableError(`KMS GenerateDataKey failed (${name})`, { cause: error });
    }
    const { accessToken: _accessToken, ...facts } = token;
    const stored: SealedCachedToken = { ...facts, sealed };
    this.sealedForms.set(token, stored);
    return stored;
  }
}
