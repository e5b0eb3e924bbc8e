/**
 * The token client: tokens kept in memory per (client, canonical scope) and refreshed in the background
 * once inside their refresh margin (the service's rule, over the token's whole lifetime), so a caller
 * holding a token never waits on the network; never a token within a safety margin of its expiry; one
 * request in flight per key; a 503 surfaced at once with its `Retry-After`; and `authorizedFetch`, which
 * replaces a token an API refuses once.
 */
import { describeEndpointHost, type SigningService } from './contract/endpoint-kinds.js';
import { InvalidScopeError, TokenServiceError } from './contract/errors.js';
import { fingerprintOf } from './contract/hashing.js';
import { refreshMarginSeconds } from './contract/refresh-margin.js';
import { canonicalScopeText } from './contract/scopes.js';
import { sleep } from './contract/time.js';
import { defaultCredentials } from './credentials.js';
import {
  type ClientsAnswer,
  type CredentialsSource,
  processClientsAnswer,
  processTokenAnswer,
  type RetryPolicy,
  retryUnavailable,
  type ServiceTarget,
  sendSigned,
  type TokenAnswer,
} from './signed-request.js';

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
  /**
   * @default {@link defaultCredentials}: the AWS SDK's default credential chain where
   * `@aws-sdk/credential-provider-node` is installed, else `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`
   */
  readonly credentials?: CredentialsSource;
  /**
   * A fixed refresh margin, seconds: a token is refreshed in the background this long before it expires.
   * Give the deployment's own when it sets one. @default the service's rule: the smaller of 300 s and a
   * quarter of the token's whole lifetime (`expires_at − issued_at`)
   */
  readonly refreshMarginSeconds?: number;
  /**
   * A token is never handed out when less than this is left of it, seconds (at most half the refresh
   * margin, so short-lived tokens keep a window to be refreshed in). @default 5
   */
  readonly safetyMarginSeconds?: number;
  /**
   * Tries in all when the service answers 503. Each try may last {@link timeoutMs}; the default of one
   * ends a `getToken` within one service deadline. @default 1
   */
  readonly maxAttempts?: number;
  /** The longest wait before retrying a 503, whatever its `Retry-After` says, ms. @default 5_000 */
  readonly maxRetryWaitMs?: number;
  /** Timeout of one HTTP exchange, ms: the service's own deadline (its function timeout). @default 10_000 */
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
  /** The token must stay valid at least this many seconds (0 to `MAX_MIN_TTL_SECONDS`, 3000). */
  readonly minTtl?: number;
}

/** A token, as the client hands it out. */
export interface VendedToken {
  readonly accessToken: string;
  readonly tokenType: 'Bearer';
  /** The canonical scope the token was granted for. */
  readonly scope: string;
  readonly client: string;
  /**
   * When the token expires: the answer's `expires_at`, or earlier when this process's clock is behind
   * the service's (never later than the request was sent plus `expires_in` − 1 s).
   */
  readonly expiresAt: Date;
  /** When the token was issued (`issued_at`; from a service without it, `expires_at − expires_in`). */
  readonly issuedAt: Date;
}

/**
 * A `fetch` that carries a bearer token of one (client, scope) and replaces it once when the API refuses
 * it. Made by {@link TokenClient.authorizedFetch}.
 */
export type AuthorizedFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** The client. */
export interface TokenClient {
  /**
   * A token for `client` and `scope`, valid for at least `minTtl` and the safety margin. From memory
   * while it has that; inside its refresh margin it is still handed out at once, and replaced in the
   * background. Only without a usable token does the call wait on the service: one exchange, and a 503
   * throws at once a {@link TokenServiceError} carrying the answer's `retryAfter`.
   */
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
  /** Forget every cached token, and stop refreshing them. */
  clear(): void;
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

/** A background refresh that got no newer token is tried again after this long, ms. */
const RETRY_REFRESH_MS = 1_000;
/** The safety margin, seconds, unless given. */
const DEFAULT_SAFETY_MARGIN_SECONDS = 5;

/** A token in this client's memory, with the times that rule it (epoch ms, this process's clock). */
interface CacheEntry {
  readonly token: VendedToken;
  readonly fingerprint: string;
  /** From here on the token is refreshed in the background. */
  readonly refreshAt: number;
  /** From here on the token is never handed out. */
  readonly unusableAt: number;
  /** Asked for since it was fetched: only a token in use is kept fresh; one nobody asks for lapses. */
  used: boolean;
  /** No background refresh before this (after one that failed or got no newer token). */
  retryAt: number;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * The times of a token answered at `answer`, asked for at `sentAt` (this clock): expiry from
 * `expires_at`, bounded by `sentAt + expires_in − 1 s` — `expires_in` counts whole seconds from an
 * instant after `sentAt`, so that bound holds whatever the skew between this clock and the service's —
 * and the refresh margin of the token's whole lifetime by the service's rule.
 */
export function tokenTimes(
  answer: TokenAnswer,
  sentAt: number,
  settings: { readonly refreshMarginSeconds?: number; readonly safetyMarginSeconds: number },
): { expiresAt: number; issuedAt: number; refreshAt: number; unusableAt: number } {
  const stated = Date.parse(answer.expires_at);
  const expiresAt = Math.min(stated, sentAt + (answer.expires_in - 1) * 1000);
  const issuedAt =
    answer.issued_at === undefined ? stated - answer.expires_in * 1000 : Date.parse(answer.issued_at);
  const margin = refreshMarginSeconds((stated - issuedAt) / 1000, settings.refreshMarginSeconds) * 1000;
  const safety = Math.min(settings.safetyMarginSeconds * 1000, margin / 2);
  return { expiresAt, issuedAt, refreshAt: expiresAt - margin, unusableAt: expiresAt - safety };
}

/** See {@link TokenClient}; made by {@link createTokenClient}. */
class ServiceTokenClient implements TokenClient {
  private readonly now: () => number;
  private readonly retry: RetryPolicy;
  private readonly target: ServiceTarget;
  private readonly margins: { readonly refreshMarginSeconds?: number; readonly safetyMarginSeconds: number };
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<CacheEntry>>();
  /** Fingerprints to send as `reject` with the next request, by cache key. */
  private readonly rejected = new Map<string, string>();

  constructor(options: TokenClientOptions) {
    this.now = options.now ?? Date.now;
    this.retry = {
      maxAttempts: options.maxAttempts ?? 1,
      maxRetryWaitMs: options.maxRetryWaitMs ?? 5_000,
      sleep: options.sleep ?? sleep,
    };
    this.margins = {
      ...(options.refreshMarginSeconds === undefined
        ? {}
        : { refreshMarginSeconds: options.refreshMarginSeconds }),
      safetyMarginSeconds: options.safetyMarginSeconds ?? DEFAULT_SAFETY_MARGIN_SECONDS,
    };
    this.target = {
      endpoint: options.endpoint,
      region: options.region ?? defaultRegion(options.endpoint),
      ...(options.service ? { service: options.service } : {}),
      credentials: options.credentials ?? defaultCredentials(),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    };
  }

  async getToken(request: TokenRequestOptions): Promise<VendedToken> {
    const minTtl = request.minTtl ?? 0;
    const canonical = canonicalScope(request.scope);
    // A scope string the service refuses is sent as it is, never matched against the cache.
    if (canonical === undefined)
      return this.usableOrThrow(await this.fetchToken(undefined, request), 0).token;
    const key = `${request.client}\n${canonical}`;
    const cached = this.cache.get(key);
    if (cached && this.usable(cached, minTtl)) {
      cached.used = true;
      if (this.now() >= cached.refreshAt) this.refreshInBackground(key, request);
      return cached.token;
    }
    let entry = await this.shared(key, request);
    // A request already in flight may have asked for less time than this caller needs.
    if (!this.usable(entry, minTtl)) entry = await this.shared(key, request);
    return this.usableOrThrow(entry, minTtl).token;
  }

  reject(accessToken: string): boolean {
    const fingerprint = fingerprintOf(accessToken);
    let known = false;
    for (const [key, entry] of this.cache) {
      if (entry.fingerprint !== fingerprint) continue;
      this.forget(key);
      this.rejected.set(key, fingerprint);
      known = true;
    }
    return known;
  }

  authorizedFetch(request: TokenRequestOptions): AuthorizedFetch {
    return authorizedFetchOf(this, request);
  }

  async listClients(): Promise<ClientsAnswer['clients']> {
    const answer = await retryUnavailable(this.retry, async () =>
      processClientsAnswer(await sendSigned(this.target, { method: 'GET', path: '/v1/clients' })),
    );
    return answer.clients;
  }

  clear(): void {
    for (const key of [...this.cache.keys()]) this.forget(key);
    this.rejected.clear();
  }

  private usable(entry: CacheEntry, minTtl: number): boolean {
    const now = this.now();
    return now < entry.unusableAt && entry.token.expiresAt.getTime() - now > minTtl * 1000;
  }

  /** `entry` if it may be handed out for `minTtl`; else the service had only a token about to expire. */
  private usableOrThrow(entry: CacheEntry, minTtl: number): CacheEntry {
    if (this.usable(entry, minTtl)) return entry;
    throw new TokenServiceError('TVS_ERR_TOKEN_EXPIRING', {
      status: 503,
      error: 'temporarily_unavailable',
      error_description: 'the token service answered with a token about to expire; try again',
      retryAfter: 1,
    });
  }

  private forget(key: string): void {
    const entry = this.cache.get(key);
    if (entry?.timer !== undefined) clearTimeout(entry.timer);
    this.cache.delete(key);
  }

  /** Ask the service once per key at a time; the answer is cached under `key` unless there is none. */
  private shared(key: string, request: TokenRequestOptions): Promise<CacheEntry> {
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const started = this.fetchToken(key, request).finally(() => {
      if (this.inFlight.get(key) === started) this.inFlight.delete(key);
    });
    this.inFlight.set(key, started);
    return started;
  }

  /**
   * Replace the token of `key` without anyone waiting for it: once per key at a time, and not again
   * before its `retryAt`. A failure is kept from the caller, who still holds a usable token; the next try
   * waits for the failure's `Retry-After` (1 s at least).
   */
  private refreshInBackground(key: string, request: TokenRequestOptions): void {
    const current = this.cache.get(key);
    if (current === undefined || this.inFlight.has(key) || this.now() < current.retryAt) return;
    const { minTtl: _minTtl, ...plain } = request;
    this.shared(key, plain).then(
      (entry) => {
        // The service may hand out its current token while it refreshes it: ask again shortly.
        if (entry.fingerprint === current.fingerprint || this.now() >= entry.refreshAt) {
          this.retryLater(key, entry.fingerprint, RETRY_REFRESH_MS, plain);
        }
      },
      (error: unknown) => {
        const retryAfter = error instanceof TokenServiceError ? error.retryAfter : undefined;
        this.retryLater(key, current.fingerprint, Math.max(1, retryAfter ?? 1) * 1000, plain);
      },
    );
  }

  /** No background refresh of `key`'s token `fingerprint` for `delayMs`; then one, if it is still in use. */
  private retryLater(key: string, fingerprint: string, delayMs: number, request: TokenRequestOptions): void {
    const entry = this.cache.get(key);
    if (entry === undefined || entry.fingerprint !== fingerprint) return;
    entry.retryAt = this.now() + delayMs;
    this.schedule(key, entry, request, delayMs);
  }

  /** Refresh `entry` in the background at `delayMs` from now, if it is in use by then. */
  private schedule(key: string, entry: CacheEntry, request: TokenRequestOptions, delayMs: number): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = setTimeout(
      () => {
        entry.timer = undefined;
        if (this.cache.get(key) === entry && entry.used && this.usable(entry, 0)) {
          this.refreshInBackground(key, request);
        }
      },
      Math.max(0, delayMs),
    );
    // A pending refresh never keeps the process alive.
    entry.timer.unref?.();
  }

  private async fetchToken(key: string | undefined, request: TokenRequestOptions): Promise<CacheEntry> {
    const reject = key === undefined ? undefined : this.rejected.get(key);
    const body = JSON.stringify({
      client: request.client,
      scope: request.scope,
      ...(request.minTtl !== undefined ? { min_ttl: request.minTtl } : {}),
      ...(reject ? { reject } : {}),
    });
    let sentAt = this.now();
    const answer: TokenAnswer = await retryUnavailable(this.retry, async () => {
      sentAt = this.now();
      return processTokenAnswer(await sendSigned(this.target, { method: 'POST', path: '/v1/token', body }));
    });
    if (key !== undefined && reject && this.rejected.get(key) === reject) this.rejected.delete(key);
    const times = tokenTimes(answer, sentAt, this.margins);
    const entry: CacheEntry = {
      token: {
        accessToken: answer.access_token,
        tokenType: 'Bearer',
        scope: answer.scope,
        client: answer.client,
        expiresAt: new Date(times.expiresAt),
        issuedAt: new Date(times.issuedAt),
      },
      fingerprint: fingerprintOf(answer.access_token),
      refreshAt: times.refreshAt,
      unusableAt: times.unusableAt,
      used: false,
      retryAt: 0,
    };
    // A token reported refused while this request was out is not taken back into the cache.
    if (key === undefined || this.rejected.get(key) === entry.fingerprint) return entry;
    this.forget(key);
    this.cache.set(key, entry);
    this.schedule(key, entry, { client: request.client, scope: request.scope }, times.refreshAt - this.now());
    return entry;
  }
}

/** A client for the Token Vending Service. Create one per process and reuse it. */
export function createTokenClient(options: TokenClientOptions): TokenClient {
  return new ServiceTokenClient(options);
}
