/**
 * The limits of `POST /v1/token` (docs/contract.md, "HTTP API"): what the service refuses with 400, and
 * what the client and the `tvs` command check before they ask.
 */

/** Largest accepted request body, bytes ("body over 8 KiB" → 400). */
export const MAX_BODY_BYTES = 8 * 1024;

/** Largest `min_ttl` a caller may ask for, seconds. */
export const MAX_MIN_TTL_SECONDS = 3000;

/** Longest client name, characters. */
export const MAX_CLIENT_NAME_LENGTH = 64;

/** Whether `value` is a `min_ttl` the service takes: whole seconds from 0 to {@link MAX_MIN_TTL_SECONDS}. */
export function isValidMinTtl(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_MIN_TTL_SECONDS;
}
