/**
 * Every error class of the service and its client, in one module. Code branches on these classes
 * (`instanceof`), never on messages. Each class sets its `name` as a literal, because the Lambda bundle is
 * minified and `new.target.name` would be a mangled identifier there.
 *
 * The `ServiceError` family carries the HTTP status and the RFC 6749 §5.2 `error` code it maps to, so the
 * handler maps any of them to an answer in one place (`errorResponse` in `http.ts`). Their messages are
 * written for the caller: never a token, a client secret or an upstream body. Anything else thrown
 * becomes a generic 500 whose details go to the log only.
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
}

/** 400 `invalid_request`: malformed JSON, missing, mistyped or unknown field, body too large. */
export class InvalidRequestError extends ServiceError {
  override readonly name = 'InvalidRequestError';
  readonly status = 400;
  readonly code = 'invalid_request' as const;
}

/** 415 `invalid_request`: the body is not `application/json`. */
export class UnsupportedMediaTypeError extends ServiceError {
  override readonly name = 'UnsupportedMediaTypeError';
  readonly status = 415;
  readonly code = 'invalid_request' as const;
}

/** 405 `invalid_request`: a method the route does not accept. */
export class MethodNotAllowedError extends ServiceError {
  override readonly name = 'MethodNotAllowedError';
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
  override readonly name = 'NotFoundError';
  readonly status = 404;
  readonly code = 'invalid_request' as const;
}

/** 400 `invalid_scope`: a scope string that does not parse. */
export class InvalidScopeError extends ServiceError {
  override readonly name = 'InvalidScopeError';
  readonly status = 400;
  readonly code = 'invalid_scope' as const;
}

/**
 * 403 `access_denied`: no grant for that client and scope. The same answer is given for a client that
 * does not exist, so callers cannot enumerate the configured clients.
 */
export class AccessDeniedError extends ServiceError {
  override readonly name = 'AccessDeniedError';
  readonly status = 403;
  readonly code = 'access_denied' as const;
}

/** Why the upstream answer could not be turned into a token (for logs and metrics, never the body). */
export type UpstreamRejectionReason =
  | 'invalid_client'
  | 'invalid_scope'
  | 'insufficient_scope'
  | 'invalid_response'
  | 'bad_request'
  | 'invalid_token'
  | 'unknown_client';

/**
 * 502 `server_error`: Identity Cloud answered, but not with a usable token: it refused the credentials,
 * granted less scope than asked, or sent an answer that is not a valid token response.
 */
export class UpstreamRejectedError extends ServiceError {
  override readonly name = 'UpstreamRejectedError';
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

/** Why a token cannot be had right now (for logs and metrics). */
export type UnavailableReason =
  | 'network'
  | 'timeout'
  | 'deadline'
  | 'http_5xx'
  | 'http_429'
  | 'lease_wait'
  | 'mint_interval'
  | 'client_budget'
  | 'caller_budget'
  | 'circuit_open'
  | 'dependency';

/**
 * 503 `temporarily_unavailable`: no valid token can be served now — Identity Cloud is unreachable or
 * answered 5xx or 429, another container is still fetching, or a mint would exceed a bound of upstream
 * use. `retryAfterSeconds` becomes the `Retry-After` header.
 */
export class UpstreamUnavailableError extends ServiceError {
  override readonly name: string = 'UpstreamUnavailableError';
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
 * 503: a mint was refused by a bound of upstream use (docs/contract.md "Bounded upstream use"): the key was
 * minted less than `minMintInterval` ago, or the client's (or this caller's share of it) mints per minute
 * are spent. Counted as `MintThrottled` and logged with the caller.
 */
export class MintThrottledError extends UpstreamUnavailableError {
  override readonly name = 'MintThrottledError';
  constructor(
    message: string,
    reason: 'mint_interval' | 'client_budget' | 'caller_budget',
    retryAfterSeconds: number,
    /** Who spent the budget that is spent: a caller's principal or a wildcard grant's pattern. */
    readonly spender?: string,
  ) {
    super(message, reason, retryAfterSeconds);
  }
}

/**
 * 503: Identity Cloud is failing for this client, and its upstream circuit is open: the mint is not
 * tried; `probeAt` (epoch ms) is when the next probe may start, or a probe interval from now while one
 * runs.
 */
export class CircuitOpenError extends UpstreamUnavailableError {
  override readonly name = 'CircuitOpenError';
  constructor(
    message: string,
    retryAfterSeconds: number,
    readonly probeAt: number,
  ) {
    super(message, 'circuit_open', retryAfterSeconds);
  }
}

/**
 * The configuration document is invalid. Thrown at synth and at cold start; never reaches a caller as
 * such (the handler answers 500 if it ever ran without a valid configuration).
 * `problems` lists each fault as `path: message`, e.g. `grants[3].scopes[0]: …`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid Token Vending Service configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/**
 * A secret cannot be read or does not hold client credentials. Its message names the secret id, never
 * the secret's content.
 */
export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
}

/** The shared store failed (throttled, unavailable, misconfigured): the service degrades to memory. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/**
 * A sealed token that cannot be opened with its data key: tampered, moved to another item, sealed the
 * old way, or under a KMS key this function cannot use. Unlike a KMS outage, retrying will not help:
 * the token is treated as absent and replaced.
 */
export class SealedTokenError extends Error {
  override readonly name = 'SealedTokenError';
}

/**
 * The service, or API Gateway in front of it, refused a client's request — or the answer could not be
 * used. Field names follow RFC 6749 §5.2 (as oauth4webapi's errors do). For API Gateway's own refusals
 * (a bad signature, an unknown access key), `error` is API Gateway's `x-amzn-ErrorType`, e.g.
 * `InvalidSignatureException`, and `error_description` its message. `status` is 0 when the service
 * could not be reached at all.
 */
export class TokenServiceError extends Error {
  override readonly name = 'TokenServiceError';
  readonly status: number;
  readonly error: string;
  readonly error_description: string;
  /** Seconds the service asked to wait (`Retry-After`, with 503). */
  readonly retryAfter: number | undefined;

  constructor(
    status: number,
    error: string,
    errorDescription: string,
    retryAfter?: number,
    options?: { cause?: unknown },
  ) {
    super(`${errorDescription} (${error}, HTTP ${status})`, options);
    this.status = status;
    this.error = error;
    this.error_description = errorDescription;
    this.retryAfter = retryAfter;
  }
}

/** The local server's `local` section or configuration file is invalid; `problems` lists each fault. */
export class LocalConfigError extends Error {
  override readonly name = 'LocalConfigError';
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid local configuration ${source}:\n  - ${problems.join('\n  - ')}`);
  }
}

/**
 * A rotation step that cannot complete: the rotation function fails, Secrets Manager marks the rotation
 * failed (the last working secret stays `AWSCURRENT`), and the alarm on failed rotations fires.
 */
export class RotationError extends Error {
  override readonly name = 'RotationError';
}

/**
 * A log-safe description of an error: its name, code and message, and its cause's name and message —
 * never its other properties or a body. Messages of this code's errors never hold a token or a secret.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const code = (error as { code?: unknown }).code;
  const cause = error.cause instanceof Error ? `; cause: ${error.cause.name}: ${error.cause.message}` : '';
  return `${error.name}${typeof code === 'string' ? ` (${code})` : ''}: ${error.message}${cause}`;
}

/** A mistake in a `tvs` command line: exit code 2, with the command's usage line. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
