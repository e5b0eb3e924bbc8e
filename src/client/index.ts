/**
 * The Token Vending Service client for services: SigV4-signed calls, tokens kept in memory until a
 * refresh margin before they expire, one request in flight per (client, scope), and 503 answers retried
 * after the `Retry-After` they carry.
 *
 * ```ts
 * const tokens = createTokenClient({ endpoint: process.env.TVS_ENDPOINT! });
 * const { accessToken } = await tokens.getToken({ client: 'webhooks-us', scope: '.:webhooks/**' });
 *
 * // Or let the client put the token on each request, and replace it once when the API refuses it:
 * const webhooks = tokens.authorizedFetch({ client: 'webhooks-us', scope: '.:webhooks/**' });
 * const answer = await webhooks(`${webhooksApi}/subscriptions`);
 * ```
 */

import { describeEndpointHost, type SigningService } from '../shared/endpoint-kinds';
import { InvalidScopeError, TokenServiceError } from '../shared/errors';
import { fingerprintOf } from '../shared/hashing';
import { canonicalScopeText } from '../shared/scopes';
import { sleep } from '../shared/time';
import {
  type AwsCredentials,
  type ClientsAnswer,
  type CredentialsSource,
  processClientsAnswer,
  processTokenAnswer,
  type ServiceTarget,
  sendSigned,
  type TokenAnswer,
} from './signed-request';

export { type SigningService, signingServiceFor } from '../shared/endpoint-kinds';
export {
  type AwsCredentials,
  type ClientsAnswer,
  type CredentialsSource,
  processClientsAnswer,
  processTokenAnswer,
  type ServiceAnswer,
  type ServiceRequest,
  type ServiceTarget,
  sendSigned,
  type TokenAnswer,
} from './signed-request';
export { TokenServiceError };

/** Options of {@link createTokenClient}. */
export interface TokenClientOptions {
  /**
   * The service's base URL: `https://abc123.execute-api.us-east-1.amazonaws.com/prod` (REST API) or
   * `https://abc123.lambda-url.us-east-1.on.aws` (function URL).
   */
  readonly endpoint: string;
  /**
   * The region to sign for. @default the region in an `execute-api` or `lambda-url` endpoint's host name,
   * else `AWS_REGION`, else `us-east-1`
   */
  readonly region?: string;
  /**
   * The SigV4 service name to sign for: `execute-api` (REST API) or `lambda` (function URL). Give it when
   * the host name does not say, e.g. a function URL behind a custom domain.
   * @default `lambda` for a `*.lambda-url.<region>.on.aws` host, else `execute-api`
   */
  readonly service?: SigningService;
  /** @default the default AWS credential chain (`fromNodeProviderChain()`) */
  readonly credentials?: CredentialsSource;
  /** The largest refresh margin, seconds: a token is refreshed when less than the smaller of this and a quarter of its lifetime remains. @default 300 */
  readonly refreshMarginSeconds?: number;
  /** Tries in all when the service answers 503. @default 3 */
  readonly maxAttempts?: number;
  /** The longest wait before retrying a 503, whatever its `Retry-After` says, ms. @default 5_000 */
  readonly maxRetryWaitMs?: number;
  /** Timeout of one HTTP exchange, ms. @default 10_000 */
  readonly timeoutMs?: number;
  /** Clock, epoch ms (tests). */
  readonly now?: () => number;
  /** How to wait before a retry (tests). */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** What to ask for. */
export interface TokenRequestOptions {
  /** A configured client name, e.g. `webhooks-us`. */
  readonly client: string;
  /** Space-separated Identity Cloud scopes, e.g. `.:webhooks/**`. */
  readonly scope: string;
  /** The token must stay valid at least this many seconds (0–3000). */
  readonly minTtl?: number;
}

/** A token, as the client hands it out. */
export interface VendedToken {
  readonly accessToken: string;
  readonly tokenType: 'Bearer';
  /** The canonical scope the token was granted for. */
  readonly scope: string;
  readonly client: string;
  /** When the token expires, by this process's clock (`expires_in` counted from the answer). */
  readonly expiresAt: Date;
}

/**
 * A `fetch` that carries a bearer token of one (client, scope) and replaces it once when the API refuses
 * it. Made by {@link TokenClient.authorizedFetch}.
 */
export type AuthorizedFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** The client. */
export interface TokenClient {
  /** A token for `client` and `scope`, from memory while it is fresh. */
  getToken(request: TokenRequestOptions): Promise<VendedToken>;
  /**
   * Report a token Identity Cloud refused (401, or 403 "Forbidden"). Its cached copy is dropped and the
   * next request for it carries `reject`, so the service replaces it once however many callers report it.
   * Returns false when the token is not (or no longer) cached here: then there is nothing to report.
   */
  reject(accessToken: string): boolean;
  /**
   * A `fetch` for an API that takes tokens of `request.client` and `request.scope` (an Identity Cloud API,
   * say): each call sends `Authorization: Bearer <token>` with a token from {@link TokenClient.getToken}
   * (any `Authorization` header of the call is replaced). When the API answers 401, or 403 (Identity
   * Cloud's "Forbidden" for a token it no longer takes), the token is reported with
   * {@link TokenClient.reject} and the request is sent once more with the replacement — the pattern every
   * caller needs, written once.
   *
   * - At most one retry. A second 401 or 403 is returned to the caller as it is, its token not reported:
   *   a fresh token refused too means the API wants something else (a wider scope, another client).
   * - No retry either when the service hands out the very token that was refused (it was not cached
   *   here, e.g. after {@link TokenClient.clear}): the refusal is returned as it is.
   * - Every other answer — 2xx, 404, 5xx, … — is returned as it is, at once. A refused answer that is
   *   retried has its body discarded.
   * - The body is **buffered**: read into memory once, before the first attempt, and sent as it is both
   *   times, so any body `fetch` takes will do — a string, `URLSearchParams`, `FormData`, a `Blob`, a
   *   `ReadableStream` (with `duplex: 'half'`) or a `Request`'s own. Do not use this for uploads too large
   *   to hold in memory.
   * - Fails like `fetch` (network errors, aborts), and with the {@link TokenServiceError} of
   *   {@link TokenClient.getToken} when no token can be had; the API is not called without one.
   * - The token is never logged, nor put in an error message.
   *
   * ```ts
   * const webhooks = tokens.authorizedFetch({ client: 'webhooks-us', scope: '*:webhooks/**' });
   * const answer = await webhooks(`${webhooksApi}/subscriptions`, {
   *   method: 'POST',
   *   headers: { 'content-type': 'application/json' },
   *   body: JSON.stringify(subscription),
   * });
   * ```
   */
  authorizedFetch(request: TokenRequestOptions): AuthorizedFetch;
  /** What this caller may ask for (`GET /v1/clients`). */
  listClients(): Promise<ClientsAnswer['clients']>;
  /** Forget every cached token. */
  clear(): void;
}

interface CacheEntry {
  readonly token: VendedToken;
  readonly fingerprint: string;
  /** ms */
  readonly lifetime: number;
}

/**
 * The canonical form of a scope string — scopes de-duplicated, sorted, joined by one space — by the
 * service's own rule (the same function), or undefined for a string the service refuses: such a request
 * is never answered from this client's cache, so the service's `invalid_scope` reaches the caller.
 */
export function canonicalScope(scope: string): string | undefined {
  try {
    return canonicalScopeText(scope);
  } catch (error) {
    if (error instanceof InvalidScopeError) return undefined;
    throw error;
  }
}

/**
 * The region to sign for when none is given: the one in an `execute-api` or `lambda-url` host name, else
 * `AWS_REGION`, else `us-east-1`. (An invalid endpoint fails later, with its own message.)
 */
export function defaultRegion(endpoint: string, env: NodeJS.ProcessEnv = process.env): string {
  return describeEndpointHost(endpoint)?.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
}

/** The default AWS credential chain, loaded on first use. */
export function defaultCredentials(): () => Promise<AwsCredentials> {
  let provider: Promise<() => Promise<AwsCredentials>> | undefined;
  return async () => {
    provider ??= import('@aws-sdk/credential-providers').then((module) => module.fromNodeProviderChain());
    return (await provider)();
  };
}

/** Wrap a failure to reach the service (no answer at all) in a `TokenServiceError` with status 0. */
export function unreachable(error: unknown): TokenServiceError {
  if (error instanceof TokenServiceError) return error;
  const name = (error as { name?: string })?.name;
  const code = (error as { cause?: { code?: string } })?.cause?.code;
  if (name === 'TimeoutError') {
    return new TokenServiceError(0, 'timeout', 'the token service did not answer in time', undefined, {
      cause: error,
    });
  }
  if (name === 'CredentialsProviderError') {
    return new TokenServiceError(
      0,
      'no_credentials',
      'no AWS credentials found to sign the request with',
      undefined,
      {
        cause: error,
      },
    );
  }
  return new TokenServiceError(
    0,
    'unreachable',
    `the token service could not be reached${code ? ` (${code})` : ''}`,
    undefined,
    { cause: error },
  );
}

/** How 503 answers are retried. */
export interface RetryPolicy {
  /** Tries in all. */
  readonly maxAttempts: number;
  /** The longest wait before a retry, ms, whatever `Retry-After` says. */
  readonly maxRetryWaitMs: number;
  readonly sleep: (ms: number) => Promise<void>;
}

/**
 * Run `call`, retrying while the service answers 503, each time after the `Retry-After` it gave (1 s when
 * absent), bounded by the policy. Anything else — and a failure to reach the service at all — is thrown
 * at once as a `TokenServiceError`.
 */
export async function retryUnavailable<T>(policy: RetryPolicy, call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const failure = unreachable(error);
      if (failure.status !== 503 || attempt >= policy.maxAttempts) throw failure;
      await policy.sleep(Math.min((failure.retryAfter ?? 1) * 1000, policy.maxRetryWaitMs));
    }
  }
}

/** The statuses that mean "this token is refused": 401, and 403 "Forbidden" from Identity Cloud APIs. */
const REFUSED_TOKEN_STATUSES: ReadonlySet<number> = new Set([401, 403]);

/** {@link TokenClient.authorizedFetch} of `tokens`. */
function authorizedFetchOf(tokens: TokenClient, request: TokenRequestOptions): AuthorizedFetch {
  return async (input, init) => {
    // One Request merges `input` and `init` (and sets the content type a body implies); its body is read
    // once here so that the retry can send the same bytes — a stream cannot be read twice.
    const base = new Request(input, init);
    const body = base.body === null ? null : await base.arrayBuffer();
    const send = (accessToken: string) => {
      const headers = new Headers(base.headers);
      headers.set('authorization', `Bearer ${accessToken}`);
      // `init` is spread for what a Request does not keep (undici's `dispatcher`); its body is replaced.
      return fetch(base, { ...init, headers, body });
    };

    const token = await tokens.getToken(request);
    const answer = await send(token.accessToken);
    if (!REFUSED_TOKEN_STATUSES.has(answer.status)) return answer;
    tokens.reject(token.accessToken);
    let replacement: VendedToken;
    try {
      replacement = await tokens.getToken(request);
    } catch (error) {
      await answer.body?.cancel();
      throw error;
    }
    if (replacement.accessToken === token.accessToken) return answer;
    await answer.body?.cancel();
    return send(replacement.accessToken);
  };
}

/** A client for the Token Vending Service. Create one per process and reuse it. */
export function createTokenClient(options: TokenClientOptions): TokenClient {
  const now = options.now ?? Date.now;
  const maxMarginMs = (options.refreshMarginSeconds ?? 300) * 1000;
  const retry: RetryPolicy = {
    maxAttempts: options.maxAttempts ?? 3,
    maxRetryWaitMs: options.maxRetryWaitMs ?? 5_000,
    sleep: options.sleep ?? sleep,
  };
  const target: ServiceTarget = {
    endpoint: options.endpoint,
    region: options.region ?? defaultRegion(options.endpoint),
    ...(options.service ? { service: options.service } : {}),
    credentials: options.credentials ?? defaultCredentials(),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  };

  const cache = new Map<string, CacheEntry>();
  const inFlight = new Map<string, Promise<CacheEntry>>();
  /** Fingerprints to send as `reject` with the next request, by cache key. */
  const rejected = new Map<string, string>();

  const remainingMs = (entry: CacheEntry) => entry.token.expiresAt.getTime() - now();
  const fresh = (entry: CacheEntry, minTtl: number) =>
    remainingMs(entry) > Math.max(minTtl * 1000, Math.min(maxMarginMs, entry.lifetime / 4));
  const usable = (entry: CacheEntry, minTtl: number) => remainingMs(entry) > Math.max(minTtl * 1000, 0);

  /** Ask the service; the answer is cached under `key` unless there is none. */
  async function fetchToken(key: string | undefined, request: TokenRequestOptions): Promise<CacheEntry> {
    const reject = key === undefined ? undefined : rejected.get(key);
    const body = JSON.stringify({
      client: request.client,
      scope: request.scope,
      ...(request.minTtl !== undefined ? { min_ttl: request.minTtl } : {}),
      ...(reject ? { reject } : {}),
    });
    const answer: TokenAnswer = await retryUnavailable(retry, async () =>
      processTokenAnswer(await sendSigned(target, { method: 'POST', path: '/v1/token', body })),
    );
    if (key !== undefined && reject && rejected.get(key) === reject) rejected.delete(key);
    const entry: CacheEntry = {
      token: {
        accessToken: answer.access_token,
        tokenType: 'Bearer',
        scope: answer.scope,
        client: answer.client,
        expiresAt: new Date(now() + answer.expires_in * 1000),
      },
      fingerprint: fingerprintOf(answer.access_token),
      lifetime: answer.expires_in * 1000,
    };
    if (key !== undefined) cache.set(key, entry);
    return entry;
  }

  function shared(key: string, request: TokenRequestOptions): Promise<CacheEntry> {
    const pending = inFlight.get(key);
    if (pending) return pending;
    const started = fetchToken(key, request).finally(() => {
      if (inFlight.get(key) === started) inFlight.delete(key);
    });
    inFlight.set(key, started);
    return started;
  }

  const tokens: TokenClient = {
    async getToken(request) {
      const minTtl = request.minTtl ?? 0;
      const canonical = canonicalScope(request.scope);
      // A scope string the service refuses is sent as it is, never matched against the cache.
      if (canonical === undefined) return (await fetchToken(undefined, request)).token;
      const key = `${request.client}\n${canonical}`;
      const cached = cache.get(key);
      if (cached && fresh(cached, minTtl)) return cached.token;
      try {
        let entry = await shared(key, request);
        // A request already in flight may have asked for less time than this caller needs.
        if (!usable(entry, minTtl)) entry = await shared(key, request);
        return entry.token;
      } catch (error) {
        // Refresh ahead failed while Identity Cloud is down: the old token is still good for this caller.
        const fallback = cache.get(key);
        const transient = error instanceof TokenServiceError && (error.status === 503 || error.status === 0);
        if (transient && fallback && usable(fallback, minTtl)) return fallback.token;
        throw error;
      }
    },

    reject(accessToken) {
      const fingerprint = fingerprintOf(accessToken);
      let known = false;
      for (const [key, entry] of cache) {
        if (entry.fingerprint !== fingerprint) continue;
        cache.delete(key);
        rejected.set(key, fingerprint);
        known = true;
      }
      return known;
    },

    authorizedFetch(request) {
      return authorizedFetchOf(tokens, request);
    },

    async listClients() {
      const answer = await retryUnavailable(retry, async () =>
        processClientsAnswer(await sendSigned(target, { method: 'GET', path: '/v1/clients' })),
      );
      return answer.clients;
    },

    clear() {
      cache.clear();
      rejected.clear();
    },
  };
  return tokens;
}
