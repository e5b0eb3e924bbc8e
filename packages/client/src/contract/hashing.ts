/**
 * The hashes the service and its callers must compute identically: a token's fingerprint (what `reject`
 * carries, what logs show) and the cache key of docs/contract.md.
 */
import { createHash } from 'node:crypto';

/** SHA-256 of `text` (UTF-8) as 64 lowercase hex digits. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A token's fingerprint: its SHA-256 hex. The value `reject` carries and log lines show. */
export function fingerprintOf(accessToken: string): string {
  return sha256Hex(accessToken);
}

/**
 * The prefix of the rotation function's cached reset tokens: `rotation:<client>#<sha256>`. Client names
 * never hold `:`, so no vended token's key starts with it; IAM confines the rotation role to these keys.
 */
export const ROTATION_KEY_PREFIX = 'rotation:';

/** The cache key of docs/contract.md: `<client>#<sha256 hex of the canonical scope>`. */
export function cacheKeyFor(client: string, canonicalScope: string): string {
  return `${client}#${sha256Hex(canonicalScope)}`;
}
