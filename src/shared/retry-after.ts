/**
 * `Retry-After` (RFC 9110 §10.2.3): read from Identity Cloud's answers by the service and from the
 * service's answers by its callers, and written by the service. One rule for all three.
 */

/** Seconds from a `Retry-After` header (delta-seconds or HTTP-date), or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - nowMs) / 1000));
}
