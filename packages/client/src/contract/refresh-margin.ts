/**
 * The refresh margin: how long before a token expires it is replaced. One rule for the service (a cached
 * token inside its margin is refreshed by one fetcher while the others serve it) and for its clients (a
 * token inside its margin is refreshed in the background while the caller keeps using it), so both
 * sides count the margin from the same whole lifetime, `expires_at − issued_at`.
 */

/** The largest refresh margin, seconds. */
export const MAX_REFRESH_MARGIN_SECONDS = 300;

/**
 * The refresh margin of a token that lives `lifetimeSeconds` in all, seconds: `fixedSeconds` when given
 * (a deployment's setting), else the smaller of 300 s and a quarter of the lifetime.
 */
export function refreshMarginSeconds(lifetimeSeconds: number, fixedSeconds?: number): number {
  return fixedSeconds ?? Math.min(MAX_REFRESH_MARGIN_SECONDS, lifetimeSeconds / 4);
}
