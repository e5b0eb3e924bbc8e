import { randomUUID } from 'node:crypto';
import {
  AccessDeniedError,
  InvalidRequestError,
  InvalidScopeError,
  UpstreamRejectedError,
  UpstreamUnavailableError,
} from '../../src/shared/errors';
import { cacheKeyFor, sha256Hex } from '../../src/shared/hashing';
import { canonicalScope, coversAll, parseScopes, type Scope } from '../../src/shared/scopes';
import { grantsForCaller, isAuthorized, isWithinAllowedScopes, type ServiceConfig } from './config';
import type { CredentialsCache } from './credentials';
import type { TokenRequest } from './http';
import type { IdentityCloudClient } from './identity-cloud';
import { MemoryTokenCache } from './memory-cache';
import { type CachedToken, type StoredEntry, StoreUnavailableError, type TokenStore } from './token-store';

/** Where a served token came from. */
export type TokenSource = 'memory' | 'table' | 'upstream';

/** A token handed to a caller. */
export interface VendResult {
  readonly client: string;
  readonly token: CachedToken;
  readonly source: TokenSource;
  /**
   * True when this request waited for a token another request was fetching (a shared in-flight fetch or
   * another container's lease) instead of being served at once or fetching itself.
   */
  readonly waited: boolean;
}

/** Tunables of the cache; every one has a default. */
export interface VendingSettings {
  /**
   * Refresh a token this many seconds before it expires. Default: the smaller of 300 s and a quarter of
   * the token's lifetime.
   */
  readonly refreshMarginSeconds?: number;
  /** How long a refresh lease is held, ms. */
  readonly leaseMs: number;
  /** How long a request waits for another container's lease holder before fetching itself, ms. */
  readonly leaseWaitMs: number;
  /** First and largest pause between table reads while waiting, ms. */
  readonly pollInitialMs: number;
  readonly pollMaxMs: number;
  /** After a DynamoDB failure, skip the table for this long, ms (memory plus direct upstream). */
  readonly storeBackoffMs: number;
  /**
   * Everything one request does — waiting for a lease holder, asking Identity Cloud, the one retry after
   * re-reading a rotated secret — ends within this, ms; past it the answer is 503. It must stay under the
   * function's timeout (the construct sets it 2 s below) and under `leaseMs`, so a holder never outlives
   * its lease.
   */
  readonly requestDeadlineMs: number;
  /** Lease waiting stops this long before the request deadline, leaving time to fetch ourselves, ms. */
  readonly fetchReserveMs: number;
}

export const DEFAULT_VENDING_SETTINGS: VendingSettings = {
  leaseMs: 10_000,
  leaseWaitMs: 5_000,
  pollInitialMs: 20,
  pollMaxMs: 250,
  storeBackoffMs: 5_000,
  requestDeadlineMs: 8_000,
  fetchReserveMs: 3_000,
};

/** Hooks for logs and metrics; the service itself neither logs nor knows about Powertools. */
export interface VendingObserver {
  upstreamCall?(
    outcome: 'ok' | 'rejected' | 'unavailable',
    detail: { client: string; reason?: string },
  ): void;
  storeFailed?(error: StoreUnavailableError): void;
  secretReread?(client: string): void;
  /** A refresh failed and the still-valid current token was served instead. */
  refreshFailed?(client: string, error: unknown): void;
}

export interface VendingServiceOptions {
  readonly config: ServiceConfig;
  readonly store: TokenStore;
  readonly credentials: CredentialsCache;
  readonly identityCloud: Pick<IdentityCloudClient, 'requestToken'>;
  readonly memory?: MemoryTokenCache;
  readonly settings?: Partial<VendingSettings>;
  readonly observer?: VendingObserver;
  /** Epoch milliseconds. */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Identifies this container as a lease holder. */
  readonly holderId?: string;
}

/** What one request needs from the cache. */
interface Want {
  readonly client: string;
  readonly cacheKey: string;
  readonly canonical: string;
  readonly scopes: readonly Scope[];
  readonly minTtl: number;
  readonly reject: string | undefined;
  /** Seconds before the refresh margin at which a token counts as due (pre-warm looks ahead). */
  readonly lookAhead: number;
  /** Epoch ms by which this request must be answered. */
  readonly deadline: number;
}

/** Outcome of one shared refresh. */
interface Refreshed {
  readonly token: CachedToken;
  readonly source: TokenSource;
  /** The refresh polled the table for another container's lease holder. */
  readonly waited?: boolean;
}

/**
 * Vends narrowed-scope tokens: authorizes the caller, then serves from the warm container's memory, the
 * shared table, or Identity Cloud, with one fetcher per cache key across containers (a lease in the
 * table) and refresh ahead of expiry.
 */
export class VendingService {
  readonly settings: VendingSettings;
  readonly memory: MemoryTokenCache;
  private readonly config: ServiceConfig;
  private readonly store: TokenStore;
  private readonly credentials: CredentialsCache;
  private readonly identityCloud: Pick<IdentityCloudClient, 'requestToken'>;
  private readonly observer: VendingObserver;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly holderId: string;
  private readonly inFlight = new Map<string, Promise<Refreshed>>();
  private storeSkippedUntil = 0;

  constructor(options: VendingServiceOptions) {
    this.config = options.config;
    this.store = options.store;
    this.credentials = options.credentials;
    this.identityCloud = options.identityCloud;
    this.memory = options.memory ?? new MemoryTokenCache();
    this.settings = { ...DEFAULT_VENDING_SETTINGS, ...options.settings };
    this.observer = options.observer ?? {};
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.holderId = options.holderId ?? randomUUID();
  }

  /** The clients and scopes `callerArn` may ask for (`GET /v1/clients`). */
  listClients(callerArn: string): { client: string; scopes: string[] }[] {
    return grantsForCaller(this.config, callerArn);
  }

  /** Serve `POST /v1/token` for `callerArn`. */
  async vend(callerArn: string, request: TokenRequest): Promise<VendResult> {
    const scopes = parseScopes(request.scope);
    if (!isAuthorized(this.config, callerArn, request.client, scopes)) {
      throw new AccessDeniedError('the caller has no grant for this client and scope');
    }
    return this.obtain(this.want(request.client, scopes, request.minTtl, request.reject, 0));
  }

  /**
   * Keep a (client, scope) token fresh for the scheduled pre-warm: refreshes it when it is due within
   * `lookAheadSeconds` of its refresh margin, so callers never wait on Identity Cloud.
   */
  async prewarm(client: string, scope: string, lookAheadSeconds: number): Promise<VendResult> {
    const scopes = parseScopes(scope);
    if (!isWithinAllowedScopes(this.config, client, scopes)) {
      throw new AccessDeniedError('pre-warm entry is outside its client allowedScopes');
    }
    return this.obtain(this.want(client, scopes, 0, undefined, lookAheadSeconds));
  }

  private want(
    client: string,
    scopes: readonly Scope[],
    minTtl: number,
    reject: string | undefined,
    lookAhead: number,
  ): Want {
    const canonical = canonicalScope(scopes);
    const deadline = this.now() + this.settings.requestDeadlineMs;
    return {
      client,
      cacheKey: cacheKeyFor(client, canonical),
      canonical,
      scopes,
      minTtl,
      reject,
      lookAhead,
      deadline,
    };
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /** The refresh margin of a token, seconds. */
  marginOf(token: CachedToken): number {
    return this.settings.refreshMarginSeconds ?? Math.min(300, (token.expiresAt - token.issuedAt) / 4);
  }

  /** May this token be handed out for this request at all (unexpired, long enough, not rejected, exact scope)? */
  private servable(token: CachedToken | undefined, want: Want): token is CachedToken {
    if (!token || token.scope !== want.canonical || token.fingerprint === want.reject) return false;
    const left = token.expiresAt - this.nowSeconds();
    return left > 0 && left >= want.minTtl;
  }

  /** Servable and outside its refresh margin: serve it without anyone refreshing. */
  private fresh(token: CachedToken | undefined, want: Want): token is CachedToken {
    if (!this.servable(token, want)) return false;
    return token.expiresAt - this.nowSeconds() > this.marginOf(token) + want.lookAhead;
  }

  /**
   * Refuse a `min_ttl` longer than the lifetime Identity Cloud grants this key, known from a token of it:
   * no fetch could satisfy it, and fetching anyway would let one caller hammer Identity Cloud. The first
   * request for a key learns the lifetime by fetching once.
   */
  private assertLifetimeAllows(token: CachedToken | undefined, want: Want): void {
    if (!token || token.scope !== want.canonical) return;
    const lifetime = token.expiresAt - token.issuedAt;
    if (lifetime < want.minTtl) {
      throw new InvalidRequestError(
        `min_ttl ${want.minTtl} is longer than the lifetime Identity Cloud grants for this client (${lifetime} s)`,
      );
    }
  }

  private async obtain(want: Want): Promise<VendResult> {
    const remembered = this.memory.get(want.cacheKey, this.nowSeconds());
    if (this.fresh(remembered, want)) return this.result(want, remembered, 'memory', false);
    this.assertLifetimeAllows(remembered, want);
    // Someone in this container is already refreshing: the still-valid token is served meanwhile.
    if (this.servable(remembered, want) && this.inFlight.has(want.cacheKey)) {
      return this.result(want, remembered, 'memory', false);
    }
    // Requests of one key share one refresh in this container. A request whose needs the shared outcome
    // does not meet (a larger min_ttl, a rejected token) runs the next refresh itself.
    for (let round = 0; round < 3; round++) {
      const shared = this.inFlight.get(want.cacheKey);
      if (shared) {
        const outcome = await shared;
        if (this.servable(outcome.token, want)) return this.result(want, outcome.token, outcome.source, true);
        continue;
      }
      const flight = this.refresh(want).finally(() => {
        if (this.inFlight.get(want.cacheKey) === flight) this.inFlight.delete(want.cacheKey);
      });
      this.inFlight.set(want.cacheKey, flight);
      const { token, source, waited = false } = await flight;
      if (this.servable(token, want)) return this.result(want, token, source, waited);
      this.assertLifetimeAllows(token, want);
    }
    throw new UpstreamUnavailableError('the token is being refreshed; try again', 'lease_wait', 1);
  }

  private result(want: Want, token: CachedToken, source: TokenSource, waited: boolean): VendResult {
    return { client: want.client, token, source, waited };
  }

  /** One refresh of a cache key in this container: table first, then the lease, then Identity Cloud. */
  private async refresh(want: Want): Promise<Refreshed> {
    if (this.now() < this.storeSkippedUntil) return this.fetchToken(want, this.rememberedCurrent(want), {});
    // Waiting for another holder ends in time to fetch ourselves within the request's deadline.
    const waitUntil = Math.min(
      this.now() + this.settings.leaseWaitMs,
      want.deadline - this.settings.fetchReserveMs,
    );
    let pause = this.settings.pollInitialMs;
    let polled = false;
    let entry: StoredEntry | undefined;
    try {
      for (;;) {
        entry = await this.store.get(want.cacheKey);
        const stored = entry?.token;
        if (this.servable(stored, want)) this.memory.set(want.cacheKey, stored);
        if (this.fresh(stored, want)) return { token: stored, source: 'table', waited: polled };
        this.assertLifetimeAllows(stored, want);

        const now = this.now();
        const leaseHeld = entry?.lease !== undefined && entry.lease.until >= now;
        if (
          !leaseHeld &&
          (await this.store.acquireLease(
            want.cacheKey,
            this.holderId,
            now,
            now + this.settings.leaseMs,
            entry?.fingerprint,
          ))
        ) {
          return await this.fetchToken(want, stored && { token: stored, source: 'table' }, { holder: true });
        }
        // Another container is refreshing: serve the still-valid token, or wait briefly for the new one.
        if (this.servable(stored, want)) return { token: stored, source: 'table' };
        if (this.now() + pause > waitUntil) break;
        await this.sleep(pause);
        polled = true;
        pause = Math.min(pause * 2, this.settings.pollMaxMs);
      }
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      this.storeFailed(error);
      return this.fetchToken(want, this.rememberedCurrent(want), {});
    }
    // The lease holder did not deliver in time (it may have died): fetch ourselves rather than fail, and
    // store the result over that holder's lease so other containers stop waiting on it.
    const current = entry?.token && { token: entry.token, source: 'table' as const };
    const supersede = entry?.lease?.holder;
    return { ...(await this.fetchToken(want, current, supersede ? { supersede } : {})), waited: true };
  }

  private rememberedCurrent(want: Want): Refreshed | undefined {
    const token = this.memory.get(want.cacheKey, this.nowSeconds());
    return token && { token, source: 'memory' };
  }

  private storeFailed(error: StoreUnavailableError): void {
    this.storeSkippedUntil = this.now() + this.settings.storeBackoffMs;
    this.observer.storeFailed?.(error);
  }

  /**
   * Fetch a token from Identity Cloud and store it. `holder`: this container holds the lease (released if
   * the fetch or the store fails); otherwise the fetch runs without it (the table is failing, or the holder
   * vanished — `supersede` names that holder) and is still one per key in this container, since callers
   * reach it only through the in-flight map.
   *
   * A failed refresh never turns a still-valid token into an error: whatever failed (Identity Cloud,
   * Secrets Manager, KMS), `current` is served if it still suits the request, and the failure is reported.
   */
  private async fetchToken(
    want: Want,
    current: Refreshed | undefined,
    lease: { holder?: boolean; supersede?: string },
  ): Promise<Refreshed> {
    const release = () =>
      lease.holder ? this.store.releaseLease(want.cacheKey, this.holderId).catch(() => undefined) : undefined;
    let token: CachedToken;
    try {
      token = await this.mint(want);
    } catch (error) {
      await release();
      if (current && this.servable(current.token, want) && !(error instanceof AccessDeniedError)) {
        this.observer.refreshFailed?.(want.client, error);
        return current;
      }
      throw error;
    }
    this.memory.set(want.cacheKey, token);
    if (this.now() >= this.storeSkippedUntil) {
      try {
        await this.store.put(want.cacheKey, token, this.holderId, this.now(), lease.supersede);
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) throw error;
        this.storeFailed(error);
        await release();
      }
    }
    return { token, source: 'upstream' };
  }

  /**
   * Ask Identity Cloud for a token. On `invalid_client` (what a rotated secret looks like), the secret is
   * re-read once, bypassing the cache, and the request retried once.
   */
  private async mint(want: Want): Promise<CachedToken> {
    const client = this.config.clients[want.client];
    if (!client) throw new AccessDeniedError('the caller has no grant for this client and scope');
    const issuedAt = this.nowSeconds();
    let credentials = this.credentials.get(client.secretId);
    let answer: Awaited<ReturnType<IdentityCloudClient['requestToken']>>;
    try {
      try {
        answer = await this.identityCloud.requestToken(
          client.tokenEndpoint,
          await credentials,
          want.canonical,
          want.deadline,
        );
      } catch (error) {
        if (!(error instanceof UpstreamRejectedError && error.reason === 'invalid_client')) throw error;
        this.observer.secretReread?.(want.client);
        this.credentials.invalidate(client.secretId, credentials);
        credentials = this.credentials.get(client.secretId);
        answer = await this.identityCloud.requestToken(
          client.tokenEndpoint,
          await credentials,
          want.canonical,
          want.deadline,
        );
      }
    } catch (error) {
      if (error instanceof UpstreamRejectedError) {
        this.observer.upstreamCall?.('rejected', { client: want.client, reason: error.reason });
      } else if (error instanceof UpstreamUnavailableError) {
        this.observer.upstreamCall?.('unavailable', { client: want.client, reason: error.reason });
      }
      throw error;
    }
    let granted: Scope[];
    try {
      granted = parseScopes(answer.grantedScope);
    } catch (error) {
      if (!(error instanceof InvalidScopeError)) throw error;
      this.observer.upstreamCall?.('rejected', { client: want.client, reason: 'invalid_response' });
      throw new UpstreamRejectedError(
        'Identity Cloud granted a scope that does not parse',
        'invalid_response',
      );
    }
    // The token must carry exactly the requested scope: less fails the caller, more is more power than
    // the caller was granted.
    if (!coversAll(granted, want.scopes) || !coversAll(want.scopes, granted)) {
      this.observer.upstreamCall?.('rejected', { client: want.client, reason: 'insufficient_scope' });
      throw new UpstreamRejectedError(
        'Identity Cloud granted a different scope than requested',
        'insufficient_scope',
      );
    }
    this.observer.upstreamCall?.('ok', { client: want.client });
    return {
      accessToken: answer.accessToken,
      scope: want.canonical,
      issuedAt,
      expiresAt: issuedAt + answer.expiresIn,
      fingerprint: sha256Hex(answer.accessToken),
    };
  }
}
