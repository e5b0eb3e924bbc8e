/**
 * The service's typed errors. Each class carries the HTTP status and the RFC 6749 §5.2 `error` code it
 * maps to, so the handler maps any of them to a response in one place (`toErrorResponse` in `http.ts`).
 *
 * Messages of these classes are written for the caller: they must never contain a token, a client
 * secret or an upstream body. Anything else thrown becomes a generic 500 whose details go to the log only.
 */

/** RFC 6749 §5.2 error codes this service answers with. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_scope'
  | 'access_denied'
  | 'server_error'
  | 'temporarily_unavailable';

/** Base class: an error whose message is safe to show to the caller. */
export abstract class ServiceError extends Error {
  abstract readonly status: number;
  abstract readonly code: OAuthErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** 400 `invalid_request`: malformed JSON, missing, mistyped or unknown field, body too large. */
export class InvalidRequestError extends ServiceError {
  readonly status = 400;
  readonly code = 'invalid_request' as const;
}

/** 415 `invalid_request`: the body is not `application/json`. */
export class UnsupportedMediaTypeError extends ServiceError {
  readonly status = 415;
  readonly code = 'invalid_request' as const;
}

/** 405 `invalid_request`: a method the route does not accept. */
export class MethodNotAllowedError extends ServiceError {
  readonly status = 405;
  readonly code = 'invalid_request' as const;
  constructor(
    message: string,
    readonly allow: string,
  ) {
    super(message);
  }
}

/** 404 `invalid_request`: no such route. */
export class NotFoundError extends ServiceError {
  readonly status = 404;
  readonly code = 'invalid_request' as const;
}

/** 400 `invalid_scope`: a scope string that does not parse. */
export class InvalidScopeError extends ServiceError {
  readonly status = 400;
  readonly code = 'invalid_scope' as const;
}

/**
 * 403 `access_denied`: no grant for that client and scope. The same answer is given for a client that
 * does not exist, so callers cannot enumerate the configured clients.
 */
export class AccessDeniedError extends ServiceError {
  readonly status = 403;
  readonly code = 'access_denied' as const;
}

/** Why the upstream answer could not be turned into a token (for logs and metrics, never the body). */
export type UpstreamRejectionReason =
  | 'invalid_client'
  | 'invalid_scope'
  | 'insufficient_scope'
  | 'invalid_response'
  | 'bad_request';

/**
 * 502 `server_error`: Identity Cloud answered, but not with a usable token: it refused the credentials,
 * granted less scope than asked, or sent an answer that is not a valid token response.
 */
export class UpstreamRejectedError extends ServiceError {
  readonly status = 502;
  readonly code = 'server_error' as const;
  constructor(
    message: string,
    readonly reason: UpstreamRejectionReason,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Why Identity Cloud is considered unavailable (for logs and metrics). */
export type UnavailableReason = 'network' | 'timeout' | 'http_5xx' | 'http_429' | 'lease_wait';

/**
 * 503 `temporarily_unavailable`: Identity Cloud is unreachable, answered 5xx or 429, and no valid cached
 * token exists. `retryAfterSeconds` becomes the `Retry-After` header.
 */
export class UpstreamUnavailableError extends ServiceError {
  readonly status = 503;
  readonly code = 'temporarily_unavailable' as const;
  constructor(
    message: string,
    readonly reason: UnavailableReason,
    readonly retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The configuration document is invalid. Thrown at synth and at cold start; never reaches a caller as
 * such (the handler answers 500 if it ever ran without a valid configuration).
 * `problems` lists each fault as `path: message`, e.g. `grants[3].scopes[0]: …`.
 */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid Token Vending Service configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}
