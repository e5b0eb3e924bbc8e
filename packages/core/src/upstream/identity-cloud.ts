import {
  clampRetryAfter,
  retryAfterSeconds,
  sleep,
  UpstreamRejectedError,
  UpstreamUnavailableError,
} from '@tvs/client/contract';
import type { Dispatcher } from 'undici';

/** The credentials of one configuration client, as stored in Secrets Manager. */
export interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** A validated token answer. */
export interface TokenResponse {
  readonly accessToken: string;
  readonly expiresIn: number;
  /** The scope string Identity Cloud says it granted, as sent. */
  readonly grantedScope: string;
}

/** Timeouts and retry policy for the token endpoint. */
export interface TokenEndpointPolicy {
  /** TCP/TLS connect timeout, ms. */
  readonly connectTimeoutMs: number;
  /** Time to the response headers, ms. */
  readonly headersTimeoutMs: number;
  /** Longest pause between body chunks, ms. */
  readonly bodyTimeoutMs: number;
  /** Attempts in all (1 = no retry). */
  readonly maxAttempts: number;
  /** First backoff cap, ms; doubles per attempt (full jitter). */
  readonly baseBackoffMs: number;
  /** Largest backoff cap, ms. */
  readonly maxBackoffMs: number;
  /** Everything, attempts and backoff, fits in this, ms: well under API Gateway's 29 s. */
  readonly deadlineMs: number;
}

export const DEFAULT_TOKEN_ENDPOINT_POLICY: TokenEndpointPolicy = {
  connectTimeoutMs: 2_000,
  headersTimeoutMs: 4_000,
  bodyTimeoutMs: 4_000,
  maxAttempts: 3,
  baseBackoffMs: 100,
  maxBackoffMs: 1_000,
  deadlineMs: 7_000,
};

/** Largest token answer read, bytes: a token answer is a few hundred bytes. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Longest lifetime believed, seconds. Identity Cloud's maximum is 3600; anything past a day is broken. */
const MAX_EXPIRES_IN_SECONDS = 86_400;
const MAX_ACCESS_TOKEN_LENGTH = 8_192;

/**
 * RFC 6749 §2.3.1: the client id and secret are form-urlencoded before they are joined and Base64-encoded.
 * `encodeURIComponent` leaves `!'()*` alone, which the form encoding escapes, and encodes space as %20
 * where the form encoding writes `+`.
 */
export function basicAuthorization(credentials: ClientCredentials): string {
  const formEncode = (value: string) =>
    encodeURIComponent(value)
      .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
      .replace(/%20/g, '+');
  const pair = `${formEncode(credentials.clientId)}:${formEncode(credentials.clientSecret)}`;
  return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
}

/** One raw answer of the token endpoint, body fully read — or abandoned past {@link MAX_RESPONSE_BYTES}. */
interface RawAnswer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  readonly body: string;
  /** The body was larger than a token answer can be; it was not read to its end. */
  readonly tooLarge?: boolean;
}

type UndiciModule = typeof import('undici');
let undiciModule: Promise<UndiciModule> | undefined;
/** undici is only needed on a cache miss: load it then, not at cold start. */
function loadUndici(): Promise<UndiciModule> {
  // undici is CommonJS. Imported dynamically from the ESM bundle, Node's interop gives only `default`
  // (module.exports); under tsx and vitest the named exports are there too. Accept both.
  undiciModule ??= import('undici').then((module) =>
    typeof module.Agent === 'function' ? module : (module as unknown as { default: UndiciModule }).default,
  );
  return undiciModule;
}

/** One request to Identity Cloud (a POST unless said otherwise): its headers and form body. */
interface IdentityCloudRequest {
  readonly method?: 'GET' | 'POST';
  readonly url: string;
  readonly authorization: string;
  /** A form-urlencoded body, or none. */
  readonly form?: URLSearchParams;
}

/** Send one request to Identity Cloud. Reads the whole body (bounded) so the connection is reused. */
async function send(
  dispatcher: Dispatcher,
  outgoing: IdentityCloudRequest,
  policy: TokenEndpointPolicy,
  signal: AbortSignal,
): Promise<RawAnswer> {
  const { request } = await loadUndici();
  const answer = await request(outgoing.url, {
    method: outgoing.method ?? 'POST',
    dispatcher,
    signal,
    headers: {
      authorization: outgoing.authorization,
      accept: 'application/json',
      ...(outgoing.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    ...(outgoing.form ? { body: outgoing.form.toString() } : {}),
    headersTimeout: policy.headersTimeoutMs,
    bodyTimeout: policy.bodyTimeoutMs,
  });
  const retryAfterHeader = answer.headers['retry-after'];
  const retryAfter = Array.isArray(retryAfterHeader) ? retryAfterHeader[0] : retryAfterHeader;
  // Past the limit the body is abandoned at once: destroying it closes the connection (never reused),
  // where draining it (`dump`) would hold this attempt, and the lease, for as long as the peer keeps
  // sending — with no Content-Length, until the deadline.
  const tooLarge = () => {
    answer.body.destroy();
    return { status: answer.statusCode, retryAfter, body: '', tooLarge: true };
  };
  if (Number(answer.headers['content-length'] ?? 0) > MAX_RESPONSE_BYTES) return tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of answer.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_RESPONSE_BYTES) return tooLarge();
    chunks.push(chunk as Buffer);
  }
  return { status: answer.statusCode, retryAfter, body: Buffer.concat(chunks).toString('utf8') };
}

function parseJsonObject(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Process the token endpoint's answer field by field (the shape of oauth4webapi's
 * `processGenericAccessTokenResponse`): a 200 must carry a non-empty `access_token`, a Bearer
 * `token_type`, a positive finite `expires_in` and a non-empty `scope`; errors map to the service's
 * typed errors. Upstream bodies never reach an error message.
 */
export function processTokenResponse(answer: RawAnswer, nowMs: number): TokenResponse {
  const json = parseJsonObject(answer.body);
  refuseUnsuccessfulAnswer(answer, json, nowMs);
  const body = tokenAnswerBody(answer, json);
  const accessToken = accessTokenOf(body.access_token);
  requireBearer(body.token_type);
  const expiresIn = expiresInOf(body.expires_in);
  const grantedScope = grantedScopeOf(body.scope);
  return { accessToken, expiresIn, grantedScope };
}

/** Throws the typed error of an answer other than 200: a 429 or 5xx may pass, anything else is a refusal. */
function refuseUnsuccessfulAnswer(
  answer: RawAnswer,
  json: Record<string, unknown> | undefined,
  nowMs: number,
): void {
  if (answer.status === 429) {
    throw new UpstreamUnavailableError('Identity Cloud is rate limiting token requests', 'http_429', 1, {
      askedRetryAfterSeconds: retryAfterSeconds(answer.retryAfter, nowMs),
    });
  }
  if (answer.status >= 500) {
    throw new UpstreamUnavailableError(`Identity Cloud answered HTTP ${answer.status}`, 'http_5xx', 1, {
      askedRetryAfterSeconds: retryAfterSeconds(answer.retryAfter, nowMs),
    });
  }
  if (answer.status !== 200) {
    const error = typeof json?.error === 'string' ? json.error : undefined;
    if (answer.status === 401 || error === 'invalid_client') {
      throw new UpstreamRejectedError('Identity Cloud refused the client credentials', 'invalid_client');
    }
    if (error === 'invalid_scope') {
      throw new UpstreamRejectedError('Identity Cloud refused the requested scope', 'invalid_scope');
    }
    throw new UpstreamRejectedError(`Identity Cloud answered HTTP ${answer.status}`, 'bad_request');
  }
}

/** The JSON object a 200 carries: not cut off as too large, and an object. */
function tokenAnswerBody(
  answer: RawAnswer,
  json: Record<string, unknown> | undefined,
): Record<string, unknown> {
  if (answer.tooLarge) {
    throw new UpstreamRejectedError(
      `Identity Cloud answered with a body larger than ${MAX_RESPONSE_BYTES} bytes`,
      'invalid_response',
    );
  }
  if (json === undefined) {
    throw new UpstreamRejectedError(
      'Identity Cloud answered with a body that is not a JSON object',
      'invalid_response',
    );
  }
  return json;
}

function accessTokenOf(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ACCESS_TOKEN_LENGTH) {
    throw new UpstreamRejectedError(
      'Identity Cloud answered without a usable access_token',
      'invalid_response',
    );
  }
  if (/[^\x21-\x7e]/.test(value)) {
    throw new UpstreamRejectedError(
      'Identity Cloud answered an access_token with invalid characters',
      'invalid_response',
    );
  }
  return value;
}

function requireBearer(tokenType: unknown): void {
  if (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer') {
    throw new UpstreamRejectedError(
      'Identity Cloud answered a token_type that is not Bearer',
      'invalid_response',
    );
  }
}

/** `expires_in` in whole seconds. */
function expiresInOf(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_EXPIRES_IN_SECONDS) {
    throw new UpstreamRejectedError(
      `Identity Cloud answered an expires_in that is not a number from 1 to ${MAX_EXPIRES_IN_SECONDS}`,
      'invalid_response',
    );
  }
  return Math.floor(value);
}

function grantedScopeOf(scope: unknown): string {
  if (typeof scope !== 'string' || scope.trim() === '') {
    // Identity Cloud answers a scope outside the token policy with a token that has no scope.
    throw new UpstreamRejectedError('Identity Cloud granted no scope for this request', 'insufficient_scope');
  }
  return scope;
}

/**
 * The secret endpoint of client `clientId`, beside a token endpoint:
 * `https://v1.api.<region>.janrain.com/<customer-id>/login/token` →
 * `…/<customer-id>/config/clients/<clientId>/secret`.
 */
export function secretEndpoint(tokenEndpoint: string, clientId: string): string {
  const url = new URL(tokenEndpoint);
  url.pathname = url.pathname.replace(
    /\/login\/token$/,
    `/config/clients/${encodeURIComponent(clientId)}/secret`,
  );
  return url.toString();
}

/** Longest client secret believed, characters. */
const MAX_CLIENT_SECRET_LENGTH = 1_024;

/**
 * Process the secret endpoint's answer — `201 {"secret"}` to a reset (`POST`), `200 {"secret"}` to a read
 * (`GET`) — or throw the typed error its status means.
 */
function processSecretResponse(answer: RawAnswer, nowMs: number, expected: 200 | 201): string {
  const what = expected === 201 ? 'a secret reset' : 'a secret read';
  if (answer.status === 429 || answer.status >= 500) {
    const reason = answer.status === 429 ? 'http_429' : 'http_5xx';
    throw new UpstreamUnavailableError(
      `Identity Cloud answered ${what} with HTTP ${answer.status}`,
      reason,
      1,
      {
        askedRetryAfterSeconds: retryAfterSeconds(answer.retryAfter, nowMs),
      },
    );
  }
  if (answer.status === 401) {
    throw new UpstreamRejectedError(`Identity Cloud refused the token for ${what}`, 'invalid_token');
  }
  if (answer.status === 403) {
    throw new UpstreamRejectedError(`the token does not cover ${what}`, 'insufficient_scope');
  }
  if (answer.status === 404) {
    throw new UpstreamRejectedError('Identity Cloud knows no client with that id', 'unknown_client');
  }
  const secret = answer.tooLarge ? undefined : parseJsonObject(answer.body)?.secret;
  if (
    answer.status !== expected ||
    typeof secret !== 'string' ||
    secret === '' ||
    secret.length > MAX_CLIENT_SECRET_LENGTH ||
    /[^\x20-\x7e]/.test(secret)
  ) {
    throw new UpstreamRejectedError(
      `Identity Cloud answered ${what} with HTTP ${answer.status} and no usable secret`,
      'invalid_response',
    );
  }
  return secret;
}

/** Process the answer of a reset: `201 {"secret"}`, or the typed error its status means. */
export function processResetResponse(answer: RawAnswer, nowMs: number): string {
  return processSecretResponse(answer, nowMs, 201);
}

/** Process the answer of a read of the live secret: `200 {"secret"}`, or the typed error its status means. */
export function processSecretReadResponse(answer: RawAnswer, nowMs: number): string {
  return processSecretResponse(answer, nowMs, 200);
}

/**
 * How a reset ended. `reset`: Identity Cloud answered the new secret. `unknown`: the request may have
 * reached Identity Cloud and no usable answer came back (a timeout, a connection lost after the request
 * was written, a 5xx, a cut or garbled body): the secret may or may not have changed, and only reading it
 * back tells. A reset that certainly changed nothing (refused, or never sent) is thrown instead.
 */
export type ResetOutcome =
  | { readonly outcome: 'reset'; readonly secret: string }
  | { readonly outcome: 'unknown'; readonly failure: UpstreamUnavailableError | UpstreamRejectedError };

/** undici error codes that mean the request was never written: a reset that failed so changed nothing. */
const NOT_SENT_ERROR_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/** undici error codes that mean "the network failed", worth a retry. */
const NETWORK_ERROR_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Dependencies of the token client, injectable for tests. */
export interface IdentityCloudClientOptions {
  readonly policy?: Partial<TokenEndpointPolicy>;
  /** An undici dispatcher; default: one Agent with the policy's timeouts, made on first use. */
  readonly dispatcher?: Dispatcher;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/** Asks an Identity Cloud token endpoint for client-credentials tokens. */
export class IdentityCloudClient {
  readonly policy: TokenEndpointPolicy;
  private dispatcher: Dispatcher | undefined;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(options: IdentityCloudClientOptions = {}) {
    this.policy = { ...DEFAULT_TOKEN_ENDPOINT_POLICY, ...options.policy };
    this.dispatcher = options.dispatcher;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? sleep;
    this.random = options.random ?? Math.random;
  }

  private async getDispatcher(): Promise<Dispatcher> {
    if (this.dispatcher === undefined) {
      const { Agent } = await loadUndici();
      this.dispatcher ??= new Agent({
        connect: { timeout: this.policy.connectTimeoutMs },
        headersTimeout: this.policy.headersTimeoutMs,
        bodyTimeout: this.policy.bodyTimeoutMs,
        keepAliveTimeout: 30_000,
      });
    }
    return this.dispatcher;
  }

  /**
   * Request a token. Retries network errors, 5xx and 429 with capped exponential backoff and full jitter,
   * all inside `policy.deadlineMs` and the caller's deadline; a 429's `Retry-After` is honoured if it fits in the deadline, and
   * otherwise ends the attempts (a 429 is never a reason to hammer the endpoint).
   * Throws `UpstreamRejectedError` (502) or `UpstreamUnavailableError` (503).
   */
  async requestToken(
    endpoint: string,
    credentials: ClientCredentials,
    scope: string,
    /** Epoch ms the caller must be answered by; the policy's own deadline applies too. */
    callerDeadline = Number.POSITIVE_INFINITY,
    /** Attempts in all, at most the policy's (a probe of an open circuit makes one). */
    maxAttempts = this.policy.maxAttempts,
  ): Promise<TokenResponse> {
    const outgoing = {
      url: endpoint,
      authorization: basicAuthorization(credentials),
      form: new URLSearchParams({ grant_type: 'client_credentials', scope }),
    };
    return this.withRetries(outgoing, callerDeadline, processTokenResponse, maxAttempts);
  }

  /**
   * Reset the secret of the client `clientId`: one POST to the secret endpoint beside `tokenEndpoint`
   * with a bearer token whose scope covers `*:config/clients/<clientId>`. The new secret takes effect at
   * once, and a reset is not idempotent: a second one could land after the first answer was stored and
   * kill it. So it is sent **once**, never retried; when its outcome is unknown it answers `unknown` (see
   * {@link ResetOutcome}) and the caller reads the live secret back ({@link readSecret}). Throws
   * `UpstreamRejectedError` when Identity Cloud refused it (the token, its scope, the client id) and
   * `UpstreamUnavailableError` when it was never sent: then nothing changed.
   */
  async resetSecret(
    tokenEndpoint: string,
    clientId: string,
    accessToken: string,
    callerDeadline = Number.POSITIVE_INFINITY,
  ): Promise<ResetOutcome> {
    const dispatcher = await this.getDispatcher();
    const remaining = Math.min(this.now() + this.policy.deadlineMs, callerDeadline) - this.now();
    if (remaining <= 0) {
      throw new UpstreamUnavailableError('no time left to send the secret reset', 'timeout', 1);
    }
    const outgoing = { url: secretEndpoint(tokenEndpoint, clientId), authorization: `Bearer ${accessToken}` };
    let answer: RawAnswer;
    try {
      answer = await send(dispatcher, outgoing, this.policy, AbortSignal.timeout(remaining));
    } catch (error) {
      const code = errorCode(error);
      if (code !== undefined && NOT_SENT_ERROR_CODES.has(code)) {
        throw new UpstreamUnavailableError(`Identity Cloud could not be reached (${code})`, 'network', 1, {
          cause: error,
        });
      }
      const timedOut = (error as { name?: unknown })?.name === 'TimeoutError' || code?.includes('TIMEOUT');
      return {
        outcome: 'unknown',
        failure: new UpstreamUnavailableError(
          timedOut ? 'the secret reset was not answered in time' : 'the secret reset lost its connection',
          timedOut ? 'timeout' : 'network',
          1,
          { cause: error },
        ),
      };
    }
    try {
      return { outcome: 'reset', secret: processResetResponse(answer, this.now()) };
    } catch (error) {
      // Refused outright (401, 403, 404): nothing was reset. Anything else after sending: unknown.
      if (error instanceof UpstreamRejectedError && error.reason !== 'invalid_response') throw error;
      return { outcome: 'unknown', failure: error as UpstreamUnavailableError | UpstreamRejectedError };
    }
  }

  /**
   * Read the live secret of the client `clientId` back: `GET` on the secret endpoint beside
   * `tokenEndpoint`, with a bearer token whose scope covers `.:config/clients/<clientId>` (the reset
   * scope does). Safe to repeat, so retried like a token request. Throws `UpstreamRejectedError` or
   * `UpstreamUnavailableError`.
   */
  async readSecret(
    tokenEndpoint: string,
    clientId: string,
    accessToken: string,
    callerDeadline = Number.POSITIVE_INFINITY,
  ): Promise<string> {
    const outgoing = {
      method: 'GET' as const,
      url: secretEndpoint(tokenEndpoint, clientId),
      authorization: `Bearer ${accessToken}`,
    };
    return this.withRetries(outgoing, callerDeadline, processSecretReadResponse);
  }

  /**
   * Send `outgoing` and process its answer, retrying network errors, 5xx and 429 with capped exponential
   * backoff and full jitter inside the policy's deadline and the caller's.
   */
  private async withRetries<T>(
    outgoing: IdentityCloudRequest,
    callerDeadline: number,
    processAnswer: (answer: RawAnswer, nowMs: number) => T,
    maxAttempts = this.policy.maxAttempts,
  ): Promise<T> {
    const attempts = Math.min(maxAttempts, this.policy.maxAttempts);
    const dispatcher = await this.getDispatcher();
    const deadline = Math.min(this.now() + this.policy.deadlineMs, callerDeadline);
    let lastFailure: UpstreamUnavailableError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const remaining = deadline - this.now();
      if (remaining <= 0) break;
      try {
        const answer = await send(dispatcher, outgoing, this.policy, AbortSignal.timeout(remaining));
        return processAnswer(answer, this.now());
      } catch (error) {
        lastFailure = this.retryable(error);
      }
      if (attempt === attempts) break;
      const cap = Math.min(this.policy.maxBackoffMs, this.policy.baseBackoffMs * 2 ** (attempt - 1));
      const asked = lastFailure.askedRetryAfterSeconds;
      const wait = asked !== undefined ? asked * 1000 : this.random() * cap;
      if (this.now() + wait >= deadline) break;
      await this.sleep(wait);
    }
    const failure = lastFailure;
    const retryAfter = clampRetryAfter(lastFailure?.askedRetryAfterSeconds ?? 1);
    // No attempt at all: the deadline was spent before Identity Cloud was asked — nothing was sent, and
    // nothing is known of Identity Cloud.
    throw new UpstreamUnavailableError(
      failure?.message ?? 'the request deadline passed before Identity Cloud was asked',
      failure?.reason ?? 'deadline',
      retryAfter,
      { cause: failure },
    );
  }

  /** Classify a failure of one attempt: retryable (5xx, 429, a timeout, a network error), or rethrown. */
  private retryable(error: unknown): UpstreamUnavailableError {
    if (error instanceof UpstreamUnavailableError) return error;
    if (error instanceof UpstreamRejectedError) throw error;
    const code = errorCode(error);
    const name = (error as { name?: unknown })?.name;
    if (name === 'TimeoutError' || name === 'AbortError' || code?.includes('TIMEOUT')) {
      return new UpstreamUnavailableError('Identity Cloud did not answer in time', 'timeout', 1, {
        cause: error,
      });
    }
    if (code !== undefined && NETWORK_ERROR_CODES.has(code)) {
      return new UpstreamUnavailableError(`Identity Cloud could not be reached (${code})`, 'network', 1, {
        cause: error,
      });
    }
    // An unknown failure of the HTTP stack (e.g. a malformed answer undici refuses): treat as unreachable
    // rather than crash, but do not retry blindly.
    throw new UpstreamUnavailableError('Identity Cloud could not be reached', 'network', 1, { cause: error });
  }

  /** Close the connection pool (tests, local server shutdown). */
  async close(): Promise<void> {
    await this.dispatcher?.close();
  }
}
