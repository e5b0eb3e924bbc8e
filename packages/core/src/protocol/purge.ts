/**
 * Purging a cached token: the record rule, over any {@link RecordStore}.
 *
 * A purge removes the token from its record and drops the lease with it, keeping nothing but the
 * client's counted mints (which live in their own record anyway). The write goes through the store's one
 * condition (the version read), so it cannot undo a write it did not see, and it changes the version, so
 * a lease holder's later write of a token minted before the purge does not land either. Dropping the
 * lease matters: a holder whose write cannot land would otherwise keep every other request waiting until
 * its lease ran out. Containers that remember the token stop serving it once their memory entry is due
 * for a look at the table (`MEMORY_RECHECK_MS` in `memory-cache.ts`); the next request mints anew.
 *
 * The token itself stays valid at Identity Cloud until it expires: nothing revokes it there.
 */
import type { RecordStore, TokenFacts } from '../record/cache-record.js';

/** What a purge removed from one record. */
export interface PurgedToken {
  readonly key: string;
  readonly scope: string;
  readonly fingerprint: string;
  /** Epoch seconds: the token stays valid at Identity Cloud until then. */
  readonly expiresAt: number;
}

/** How often a purge reads again when other writers keep changing the record. */
const PURGE_ATTEMPTS = 10;

/**
 * Remove the token (and any lease) of `key` from `store`. Answers what was removed, or undefined when the
 * record held no token. Throws when other writers changed the record on every attempt.
 */
export async function purgeRecord<T extends TokenFacts>(
  store: RecordStore<T>,
  key: string,
): Promise<PurgedToken | undefined> {
  for (let attempt = 0; attempt < PURGE_ATTEMPTS; attempt++) {
    const record = await store.read(key);
    const token = record.token;
    if (token === undefined) return undefined;
    const written = await store.replace(record, { ...(record.mints ? { mints: record.mints } : {}) });
    if (written !== undefined) {
      return { key, scope: token.scope, fingerprint: token.fingerprint, expiresAt: token.expiresAt };
    }
  }
  throw new Error(`the record ${key} kept changing; purge it again`);
}
