/**
 * Every error of the service, its client and the `tvs` command, in one hierarchy with one base,
 * {@link TvsError}. Each failure has a stable, unique `code` (`TVS_ERR_…`, the way undici names its
 * `UND_ERR_…`), listed once in {@link ERROR_CODES}; code branches on `code` (or the class), never on a
 * message. Each class sets its `name` as a literal, because the Lambda bundle is minified and
 * `new.target.name` would be a mangled identifier there.
 *
 * The {@link ServiceError} family is what the service answers with: each carries the HTTP status and the
 * RFC 6749 §5.2 `error` it maps to, and the answer's body carries the `code` beside them (`errorResponse`
 * in the core's `entry/http.ts`). Their messages are written for the caller: never a token, a client
 * secret or an upstream body. Anything else thrown becomes a generic 500 (`TVS_ERR_INTERNAL`) whose
 * details go to the log only.
 */

/** RFC 6749 §5.2 error codes this service answers with. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_scope'
  | 'access_denied'
  | 'server_error'
  | 'temporarily_unavailable';

/** What a code stands for. */
export interface ErrorCodeInfo {
  /**
   * The HTTP status of the service's answer carrying this code; 0 for a call that got no answer; absent
   * for a failure that is never an answer (configuration, the command line, the functions' own stores).
   */
  readonly status?: number;
  /** The RFC 6749 §5.2 `error` beside it in the answer. */
  readonly error?: OAuthErrorCode;
  /** Whether asking again after the answer's `Retry-After` may succeed (every 503, and a throttled 429). */
  readonly retryable: boolean;
  /**
   * Who names the failure: the function in its answer; the REST API's front door in its own answers
   * (before the function runs; a function URL's name none, and the client names them); the client about
   * a call; or nobody (internal: never an answer).
   */
  readonly from: 'service' | 'front-door' | 'client' | 'internal';
  /** What it means, in one sentence. */
  readonly means: string;
}

const answer = (status: number, error: OAuthErrorCode, means: string): ErrorCodeInfo => ({
  status,
  error,
  retryable: status === 503,
  from: 'service',
  means,
});

/**
 * Every code, once: the service's answers (in the error body's `code`, listed in the OpenAPI document),
 * the client's own about a call, and the internal ones. A code, once published, keeps its meaning.
 */
export const ERROR_CODES = Object.freeze({
  TVS_ERR_INVALID_REQUEST: answer(
    400,
    'invalid_request',
    'the body is not valid JSON, a field is missing, mistyped or unknown, or the body is over 8 KiB',
  ),
  TVS_ERR_MIN_TTL_UNATTAINABLE: answer(
    400,
    'invalid_request',
    'min_ttl is above what a token of this client can promise (its lifetime minus the refresh margin)',
  ),
  TVS_ERR_UNSUPPORTED_MEDIA_TYPE: answer(415, 'invalid_request', 'the body is not application/json'),
  TVS_ERR_NOT_FOUND: answer(404, 'invalid_request', 'no such route'),
  TVS_ERR_METHOD_NOT_ALLOWED: answer(405, 'invalid_request', 'the route takes another method (see Allow)'),
  TVS_ERR_INVALID_SCOPE: answer(400, 'invalid_scope', 'a scope does not parse'),
  TVS_ERR_ACCESS_DENIED: answer(
    403,
    'access_denied',
    'no grant for that client and scope (also for a client that does not exist)',
  ),
  TVS_ERR_UPSTREAM_INVALID_CLIENT: answer(
    502,
    'server_error',
    'Identity Cloud refused the client credentials',
  ),
  TVS_ERR_UPSTREAM_INVALID_SCOPE: answer(502, 'server_error', 'Identity Cloud refused the requested scope'),
  TVS_ERR_UPSTREAM_INSUFFICIENT_SCOPE: answer(
    502,
    'server_error',
    'Identity Cloud granted a scope other than asked: less (a scope its token policy does not allow), more, or none; or a token that does not cover a secret reset or read',
  ),
  TVS_ERR_UPSTREAM_INVALID_RESPONSE: answer(
    502,
    'server_error',
    'Identity Cloud answered, but not with a valid answer',
  ),
  TVS_ERR_UPSTREAM_BAD_REQUEST: answer(
    502,
    'server_error',
    'Identity Cloud refused the request (another 4xx)',
  ),
  TVS_ERR_UPSTREAM_INVALID_TOKEN: answer(
    502,
    'server_error',
    'Identity Cloud refused the bearer token of a secret reset or read',
  ),
  TVS_ERR_UPSTREAM_UNKNOWN_CLIENT: answer(
    502,
    'server_error',
    'Identity Cloud has no client with the configured client id',
  ),
  TVS_ERR_UPSTREAM_UNREACHABLE: answer(503, 'temporarily_unavailable', 'Identity Cloud could not be reached'),
  TVS_ERR_UPSTREAM_TIMEOUT: answer(503, 'temporarily_unavailable', 'Identity Cloud did not answer in time'),
  TVS_ERR_UPSTREAM_5XX: answer(503, 'temporarily_unavailable', 'Identity Cloud answered 5xx'),
  TVS_ERR_UPSTREAM_RATE_LIMITED: answer(503, 'temporarily_unavailable', 'Identity Cloud answered 429'),
  TVS_ERR_DEADLINE: answer(
    503,
    'temporarily_unavailable',
    "the request's deadline passed before Identity Cloud could be asked",
  ),
  TVS_ERR_DEPENDENCY_UNAVAILABLE: answer(
    503,
    'temporarily_unavailable',
    'DynamoDB, KMS or Secrets Manager refused or did not answer in time, and no token was at hand',
  ),
  TVS_ERR_REFRESH_IN_PROGRESS: answer(
    503,
    'temporarily_unavailable',
    'another container is fetching this token and it did not land in time',
  ),
  TVS_ERR_MINT_INTERVAL: answer(
    503,
    'temporarily_unavailable',
    'a refresh forced by reject or min_ttl came within the minimum interval between two mints of a key',
  ),
  TVS_ERR_CLIENT_BUDGET: answer(503, 'temporarily_unavailable', "the client's mints per minute are spent"),
  TVS_ERR_CALLER_BUDGET: answer(
    503,
    'temporarily_unavailable',
    "this caller's share of the client's mints per minute is spent",
  ),
  TVS_ERR_CIRCUIT_OPEN: answer(
    503,
    'temporarily_unavailable',
    'Identity Cloud is failing for this client; the next probe may start after Retry-After',
  ),
  TVS_ERR_INTERNAL: answer(
    500,
    'server_error',
    'anything else (the details are in the service log, never in the body)',
  ),
  TVS_ERR_FRONT_DOOR: {
    retryable: false,
    from: 'front-door',
    means:
      'API Gateway or the function URL refused the call before the service ran (403, or another 4xx): no or a bad signature, no permission to invoke, an unknown route; from a function URL, `error` is its x-amzn-ErrorType',
  },
  TVS_ERR_THROTTLED: {
    status: 429,
    error: 'temporarily_unavailable',
    retryable: true,
    from: 'front-door',
    means: "API Gateway's throttling refused the call before the service ran",
  },
  TVS_ERR_UNAVAILABLE: {
    status: 503,
    error: 'temporarily_unavailable',
    retryable: true,
    from: 'client',
    means: 'a 503 whose cause this client does not know (from a service older than 3.1, or newer)',
  },
  TVS_ERR_TOKEN_EXPIRING: {
    status: 503,
    error: 'temporarily_unavailable',
    retryable: true,
    from: 'client',
    means: 'the service answered with a token within the safety margin of its expiry: ask again',
  },
  TVS_ERR_UPSTREAM_REFUSED: {
    status: 502,
    error: 'server_error',
    retryable: false,
    from: 'client',
    means: 'a 502 whose cause this client does not know (from a service older than 3.1, or newer)',
  },
  TVS_ERR_UNREACHABLE: {
    status: 0,
    retryable: false,
    from: 'client',
    means: 'the service could not be reached',
  },
  TVS_ERR_TIMEOUT: {
    status: 0,
    retryable: false,
    from: 'client',
    means: 'the service did not answer in time',
  },
  TVS_ERR_NO_CREDENTIALS: {
    status: 0,
    retryable: false,
    from: 'client',
    means: 'no AWS credentials were found to sign the request with',
  },
  TVS_ERR_INVALID_ANSWER: {
    retryable: false,
    from: 'client',
    means: "the service's answer could not be used (a 200 without a valid token, say)",
  },
  TVS_ERR_CONFIG: { retryable: false, from: 'internal', means: 'the configuration document is invalid' },
  TVS_ERR_JSON_SYNTAX: { retryable: false, from: 'internal', means: 'a JSON document does not parse' },
  TVS_ERR_LOCAL_CONFIG: {
    retryable: false,
    from: 'internal',
    means: 'the local section or file of tvs serve is invalid',
  },
  TVS_ERR_CREDENTIALS: {
    retryable: false,
    from: 'internal',
    means: 'a client secret cannot be read or does not hold client credentials',
  },
  TVS_ERR_STORE_UNAVAILABLE: {
    retryable: false,
    from: 'internal',
    means: 'the token table failed; the service degrades to memory',
  },
  TVS_ERR_SEALED_TOKEN: {
    retryable: false,
    from: 'internal',
    means: 'a sealed token cannot be opened; it is replaced',
  },
  TVS_ERR_ROTATION: { retryable: false, from: 'internal', means: 'a rotation step cannot complete' },
  TVS_ERR_USAGE: { retryable: false, from: 'internal', means: 'a mistake in a tvs command line' },
} satisfies Record<string, ErrorCodeInfo>);

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** What `code` stands for. */
export function errorCodeInfo(code: ErrorCode): ErrorCodeInfo {
  return ERROR_CODES[code];
}

/** Whether `value` is one of the codes of {@link ERROR_CODES}. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** The codes in the service's answers (the function's, and its REST API's own), in {@link ERROR_CODES}'s order. */
export const SERVICE_ERROR_CODES: readonly ErrorCode[] = Object.freeze(
  (Object.keys(ERROR_CODES) as ErrorCode[]).filter((code) =>
    ['service', 'front-door'].includes(errorCodeInfo(code).from),
  ),
);

/** The one base of every error of the service, its client and its command: `code` names the failure. */
export abstract class TvsError extends Error {
  abstract readonly code: ErrorCode;
}

/** An error the service answers with: an HTTP status and an RFC 6749 §5.2 body with the code beside it. */
export abstract class ServiceError extends TvsError {
  abstract readonly status: number;
  /** The RFC 6749 §5.2 `error` of the answer. */
  abstract readonly error: OAuthErrorCode;
}

/** 400 `invalid_request`: malformed JSON, missing, mistyped or unknown field, body too large. */
export class InvalidRequestError extends ServiceError {
  override readonly name: string = 'InvalidRequestError';
  readonly code: ErrorCode = 'TVS_ERR_INVALID_REQUEST';
  readonly status = 400;
  readonly error = 'invalid_request' as const;
}

/** 400 `invalid_request`: a `min_ttl` above what a token of this client can ever promise. */
export class MinTtlUnattainableError extends InvalidRequestError {
  override readonly name = 'MinTtlUnattainableError';
  override readonly code = 'TVS_ERR_MIN_TTL_UNATTAINABLE';
}

/** 415 `invalid_request`: the body is not `application/json`. */
export class UnsupportedMediaTypeError extends ServiceError {
  override readonly name = 'UnsupportedMediaTypeError';
  readonly code = 'TVS_ERR_UNSUPPORTED_MEDIA_TYPE';
  readonly status = 415;
  readonly error = 'invalid_request' as const;
}

/** 405 `invalid_request`: a method the route does not accept. */
export class MethodNotAllowedError extends ServiceError {
  override readonly name = 'MethodNotAllowedError';
  readonly code = 'TVS_ERR_METHOD_NOT_ALLOWED';
  readonly status = 405;
  readonly error = 'invalid_request' as const;
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
  readonly code = 'TVS_ERR_NOT_FOUND';
  readonly status = 404;
  readonly error = 'invalid_request' as const;
}

/** 400 `invalid_scope`: a scope string that does not parse. */
export class InvalidScopeError extends ServiceError {
  override readonly name = 'InvalidScopeError';
  readonly code = 'TVS_ERR_INVALID_SCOPE';
  readonly status = 400;
  readonly error = 'invalid_scope' as const;
}

/**
 * 403 `access_denied`: no grant for that client and scope. The same answer is given for a client that
 * does not exist, so callers cannot enumerate the configured clients.
 */
export class AccessDeniedError extends ServiceError {
  override readonly name = 'AccessDeniedError';
  readonly code = 'TVS_ERR_ACCESS_DENIED';
  readonly status = 403;
  readonly error = 'access_denied' as const;
}

/**
 * Why the upstream answer could not be turned into a token or a secret, and the code of each: `reason` is
 * the word the service's log lines and metrics use, `code` the one its answers carry.
 */
export const UPSTREAM_REJECTIONS = Object.freeze({
  invalid_client: 'TVS_ERR_UPSTREAM_INVALID_CLIENT',
  invalid_scope: 'TVS_ERR_UPSTREAM_INVALID_SCOPE',
  insufficient_scope: 'TVS_ERR_UPSTREAM_INSUFFICIENT_SCOPE',
  invalid_response: 'TVS_ERR_UPSTREAM_INVALID_RESPONSE',
  bad_request: 'TVS_ERR_UPSTREAM_BAD_REQUEST',
  invalid_token: 'TVS_ERR_UPSTREAM_INVALID_TOKEN',
  unknown_client: 'TVS_ERR_UPSTREAM_UNKNOWN_CLIENT',
} satisfies Record<string, ErrorCode>);

/** Why the upstream answer could not be used (for logs and metrics); {@link UPSTREAM_REJECTIONS}. */
export type UpstreamRejectionReason = keyof typeof UPSTREAM_REJECTIONS;

/**
 * 502 `server_error`: Identity Cloud answered, but not with a usable token: it refused the credentials,
 * granted less scope than asked, or sent an answer that is not a valid token response.
 */
export class UpstreamRejectedError extends ServiceError {
  override readonly name = 'UpstreamRejectedError';
  readonly code: ErrorCode;
  readonly status = 502;
  readonly error = 'server_error' as const;
  constructor(
    message: string,
    readonly reason: UpstreamRejectionReason,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = UPSTREAM_REJECTIONS[reason];
  }
}

/**
 * Why a token cannot be had right now, and the code of each: `reason` is the word the service's log lines
 * and metrics use, `code` the one its answers carry.
 */
export const UNAVAILABILITIES = Object.freeze({
  network: 'TVS_ERR_UPSTREAM_UNREACHABLE',
  timeout: 'TVS_ERR_UPSTREAM_TIMEOUT',
  http_5xx: 'TVS_ERR_UPSTREAM_5XX',
  http_429: 'TVS_ERR_UPSTREAM_RATE_LIMITED',
  deadline: 'TVS_ERR_DEADLINE',
  dependency: 'TVS_ERR_DEPENDENCY_UNAVAILABLE',
  lease_wait: 'TVS_ERR_REFRESH_IN_PROGRESS',
  mint_interval: 'TVS_ERR_MINT_INTERVAL',
  client_budget: 'TVS_ERR_CLIENT_BUDGET',
  caller_budget: 'TVS_ERR_CALLER_BUDGET',
  circuit_open: 'TVS_ERR_CIRCUIT_OPEN',
} satisfies Record<string, ErrorCode>);

/** Why a token cannot be had right now (for logs and metrics); {@link UNAVAILABILITIES}. */
export type UnavailableReason = keyof typeof UNAVAILABILITIES;

/**
 * 503 `temporarily_unavailable`: no valid token can be served now — Identity Cloud is unreachable or
 * answered 5xx or 429, another container is still fetching, or a mint would exceed a bound of upstream
 * use. `retryAfterSeconds` becomes the `Retry-After` header. `askedRetryAfterSeconds` is the wait
 * Identity Cloud itself asked for, when it did (its `Retry-After`), which the next attempt honours.
 */
export class UpstreamUnavailableError extends ServiceError {
  override readonly name: string = 'UpstreamUnavailableError';
  readonly code: ErrorCode;
  readonly status = 503;
  readonly error = 'temporarily_unavailable' as const;
  readonly askedRetryAfterSeconds: number | undefined;
  constructor(
    message: string,
    readonly reason: UnavailableReason,
    readonly retryAfterSeconds: number,
    options?: { cause?: unknown; askedRetryAfterSeconds?: number | undefined },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = UNAVAILABILITIES[reason];
    this.askedRetryAfterSeconds = options?.askedRetryAfterSeconds;
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
export class ConfigError extends TvsError {
  override readonly name = 'ConfigError';
  readonly code = 'TVS_ERR_CONFIG';
  constructor(readonly problems: readonly string[]) {
    super(`invalid Token Vending Service configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/**
 * A secret cannot be read or does not hold client credentials. Its message names the secret id, never
 * the secret's content.
 */
export class CredentialsError extends TvsError {
  override readonly name = 'CredentialsError';
  readonly code = 'TVS_ERR_CREDENTIALS';
}

/** The shared store failed (throttled, unavailable, misconfigured): the service degrades to memory. */
export class StoreUnavailableError extends TvsError {
  override readonly name = 'StoreUnavailableError';
  readonly code = 'TVS_ERR_STORE_UNAVAILABLE';
}

/**
 * A sealed token that cannot be opened with its data key: tampered, moved to another item, sealed the
 * old way, or under a KMS key this function cannot use. Unlike a KMS outage, retrying will not help:
 * the token is treated as absent and replaced.
 */
export class SealedTokenError extends TvsError {
  override readonly name = 'SealedTokenError';
  readonly code = 'TVS_ERR_SEALED_TOKEN';
}

/**
 * The service, or the front door in front of it, refused a client's request — or the answer could not be
 * used, or no answer came. Field names follow RFC 6749 §5.2 (as oauth4webapi's errors do); `code` names
 * the failure ({@link ERROR_CODES}): the service's own from its answer, or the client's
 * (`TVS_ERR_UNREACHABLE`, `TVS_ERR_TIMEOUT`, `TVS_ERR_NO_CREDENTIALS`, `TVS_ERR_INVALID_ANSWER`,
 * `TVS_ERR_FRONT_DOOR`, …). For a front door's own refusal (a bad signature, an unknown access key),
 * `error` is its `x-amzn-ErrorType`, e.g. `InvalidSignatureException`, and `error_description` its message.
 * `status` is 0 when the service could not be reached at all.
 */
export class TokenServiceError extends TvsError {
  override readonly name = 'TokenServiceError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly error: string;
  readonly error_description: string;
  /** Seconds the service asked to wait (`Retry-After`, with 503). */
  readonly retryAfter: number | undefined;

  constructor(
    code: ErrorCode,
    fields: {
      readonly status: number;
      readonly error: string;
      readonly error_description: string;
      readonly retryAfter?: number | undefined;
    },
    options?: { cause?: unknown },
  ) {
    super(`${fields.error_description} (${fields.error}, HTTP ${fields.status})`, options);
    this.code = code;
    this.status = fields.status;
    this.error = fields.error;
    this.error_description = fields.error_description;
    this.retryAfter = fields.retryAfter;
  }

  /** Whether asking again after {@link TokenServiceError.retryAfter} may succeed (a 503). */
  get retryable(): boolean {
    return errorCodeInfo(this.code).retryable;
  }
}

/**
 * The code of an RFC 6749 answer: the `code` its body names, when this client knows it for that status;
 * else (a service older than 3.1 names none, a newer one may name one this client does not know) the one
 * code of the (status, error) pair when there is one, else the status's generic one.
 */
export function codeOfAnswer(status: number, error: string, named?: unknown): ErrorCode {
  if (isErrorCode(named) && [undefined, status].includes(errorCodeInfo(named).status)) return named;
  const matching = SERVICE_ERROR_CODES.filter((code) => {
    const info = errorCodeInfo(code);
    return info.status === status && info.error === error;
  });
  if (matching.length === 1) return matching[0] as ErrorCode;
  if (status === 503) return 'TVS_ERR_UNAVAILABLE';
  if (status === 502) return 'TVS_ERR_UPSTREAM_REFUSED';
  if (status === 400 && error === 'invalid_request') return 'TVS_ERR_INVALID_REQUEST';
  return status >= 500 ? 'TVS_ERR_INTERNAL' : 'TVS_ERR_FRONT_DOOR';
}

/**
 * The `tvs` command got no answer from the service: names the host and why (the codes and messages along
 * the failure's causes); `code` is the failure's (`TVS_ERR_UNREACHABLE` or `TVS_ERR_TIMEOUT`).
 */
export class ServiceUnreachableError extends TvsError {
  override readonly name = 'ServiceUnreachableError';
  readonly code: ErrorCode;
  constructor(
    readonly host: string,
    readonly failure: TokenServiceError,
    readonly why: string,
  ) {
    super(
      failure.code === 'TVS_ERR_TIMEOUT'
        ? `the token service at ${host} did not answer in time`
        : `the token service at ${host} could not be reached`,
      { cause: failure },
    );
    this.code = failure.code;
  }
}

/** The local server's `local` section or configuration file is invalid; `problems` lists each fault. */
export class LocalConfigError extends TvsError {
  override readonly name = 'LocalConfigError';
  readonly code = 'TVS_ERR_LOCAL_CONFIG';
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
export class RotationError extends TvsError {
  override readonly name = 'RotationError';
  readonly code = 'TVS_ERR_ROTATION';
}

/** Where a JSON text first goes wrong (1-based line and column), in words that never echo the text. */
export interface JsonSyntaxProblem {
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** A JSON document (a configuration, a secrets file) does not parse: thrown by the core's JSON reader. */
export class JsonSyntaxError extends TvsError {
  override readonly name = 'JsonSyntaxError';
  readonly code = 'TVS_ERR_JSON_SYNTAX';
  constructor(readonly problem: JsonSyntaxProblem) {
    super(`line ${problem.line}, column ${problem.column}: ${problem.message}`);
  }
}

/** A mistake in a `tvs` command line: exit code 2, with the command's usage line. */
export class UsageError extends TvsError {
  override readonly name = 'UsageError';
  readonly code = 'TVS_ERR_USAGE';
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
