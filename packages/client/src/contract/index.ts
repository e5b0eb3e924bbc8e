/**
 * What the service and its callers must compute identically — the scope grammar and canonical scope, the
 * cache key and a token's fingerprint, the errors and their codes, `Retry-After`, the refresh margin, the
 * routes, the endpoint kinds — in one place. The client uses these modules; the service imports them
 * from here (`@tvs/client/contract`), so there is one copy of each rule.
 */
export * from './endpoint-kinds.js';
export * from './errors.js';
export * from './hashing.js';
export * from './refresh-margin.js';
export * from './retry-after.js';
export * from './routes.js';
export * from './scopes.js';
export * from './time.js';
export * from './token-request.js';
