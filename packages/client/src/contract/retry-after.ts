/**
 * `Retry-After` (RFC 9110 §10.2.3): read from Identity Cloud's answers by the service, written by the
 * service, and read from the service's answers by its callers. One rule for all three: a whole number of
 * seconds from 1 to 3600, whatever the peer sent (`99999999999999999999999` is an hour, not `1e+23`).
 */

/** The shortest and longest `Retry-After` the service passes on or acts on, seconds. */
export const MIN_RETRY_AFTER_SECONDS = 1;
export const MAX_RETRY_AFTER_SECONDS = 3_600;

/** Seconds from a `Retry-After` header (delta-seconds or HTTP-date), or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // Every HTTP-date form (IMF-fixdate, RFC 850, asctime) starts with a day name; Date.parse alone would
  // read "-5" as a year.
  if (!/^[A-Za-z]{3}/.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - nowMs) / 1000));
}

/** `seconds` as a `Retry-After` to write or act on: rounded up, clamped to 1–3600; 1 when not a number. */
export function clampRetryAfter(seconds: number): number {
  if (!Number.isFinite(seconds))
    return Number.isNaN(seconds) ? MIN_RETRY_AFTER_SECONDS : MAX_RETRY_AFTER_SECONDS;
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(MIN_RETRY_AFTER_SECONDS, Math.ceil(seconds)));
}

/** A `Retry-After` header as seconds to act on (clamped), or undefined when absent or unreadable. */
export function retryAfterSeconds(value: string | undefined, nowMs: number): number | undefined {
  const seconds = parseRetryAfter(value, nowMs);
  return seconds === undefined ? undefined : clampRetryAfter(seconds);
}
