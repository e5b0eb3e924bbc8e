/**
 * One fetcher per cache key across every container: the whole lease protocol, over any
 * {@link RecordStore}.
 *
 * - **Serve**: a fresh token in the store is served at once.
 * - **Take**: with no live lease, a request that needs a new token writes a lease (holder, until) into the
 *   record it read. The write lands only if the record is unchanged since the read, so of many takers one
 *   wins; the others read again. A request that rejects a token takes the lease only while that token is
 *   still the stored one: many callers rejecting one token cause one mint, and late ones get the new token.
 * - **Wait**: while another holder's lease is live, the still-valid current token is served; with none,
 *   the request polls (20 ms doubling to 250 ms) until the new token lands, or answers 503 with
 *   `Retry-After` before its own deadline.
 * - **Take over**: a lease whose `until` has passed belongs to a holder that is gone (a lease outlives
 *   everything its holder can do, see `timing.ts`), so it is taken like a free one. A live lease is never
 *   taken over: there are never two fetchers of a key.
 * - **Release**: after a failed fetch the holder removes its lease, so the next request may try at once;
 *   after a successful one it writes the token and removes the lease in the same write.
 * - **Serve on failure**: a failed refresh never turns a still-valid token into an error.
 */
import {
  AccessDeniedError,
  type Clock,
  MintThrottledError,
  StoreUnavailableError,
  sleep,
  UpstreamUnavailableError,
} from '@tvs/client/contract';
import {
  fresh,
  lifetimeOf,
  minTtlRefusal,
  type Need,
  type PolicySettings,
  secondsUntilKeyMayMint,
  servable,
} from '../policy/cache-policy.js';
import { withSettlingDeadline } from '../policy/request-deadline.js';
import { leaseEnd, settlingEnd, type Timing } from '../policy/timing.js';
import type { CachedToken, CacheRecord, Lease, RecordStore } from '../record/cache-record.js';

/** Where a served token came from. */
export type TokenSource = 'memory' | 'table' | 'upstream';

/** The outcome of {@link LeaseCoordinator.obtain}. */
export interface Obtained {
  readonly token: CachedToken;
  readonly source: TokenSource;
  /** The request waited for another request's fetch instead of being served at once or fetching itself. */
  readonly waited: boolean;
  /** Set when this request's refresh failed and the still-valid current token is served instead. */
  readonly refreshError?: unknown;
  /** Set when the fetched token could not be stored (it is served anyway). */
  readonly storeError?: StoreUnavailableError;
}

/**
 * Fetch a new token, as the lease holder. `current` is the token being replaced, if any. Bounded by the
 * request's deadline (the caller's business: it knows the deadline it passed to `obtain`).
 */
export type FetchToken = (current: CachedToken | undefined) => Promise<CachedToken>;

/** What {@link LeaseCoordinator.obtain} needs to know of one request. */
export interface ObtainRequest {
  readonly key: string;
  readonly need: Need;
  /** Epoch ms by this container's clock; everything ends by then. */
  readonly deadline: number;
  /** A token of this key known outside the store (the container's memory), served if a refresh fails. */
  readonly known?: CachedToken;
  /**
   * Called once before this request first waits for another holder's token; what it throws ends the
   * request (the flow refuses to wait for a mint that cannot come while Identity Cloud is failing).
   */
  readonly beforeWaiting?: () => Promise<void>;
  /**
   * Called before this request takes a free lease to fetch; what it throws ends the request, unless a
   * still-valid token is at hand (it is served instead, with the error as `refreshError`).
   */
  readonly beforeFetching?: () => void;
}

/** Dependencies of a {@link LeaseCoordinator}. */
export interface LeaseCoordinatorOptions {
  readonly store: RecordStore;
  /** This container's id in leases. */
  readonly holder: string;
  readonly timing: Timing;
  readonly policy: PolicySettings;
  readonly now?: Clock;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** One read of a key's record, as one request sees it. */
interface Reading {
  readonly record: CacheRecord;
  /** This container's clock right after the read. */
  readonly now: number;
  /** The store's token, if it is of the asked scope. */
  readonly stored: CachedToken | undefined;
  /** The token at hand: the store's, else the one known outside it. */
  readonly current: CachedToken | undefined;
  /** Where {@link Reading.current} came from. */
  readonly source: TokenSource;
}

/** A request's polling for another holder's token: the pause before its next read, and whether it waited. */
interface Polling {
  pause: number;
  waited: boolean;
}

/** The lease of `reading`'s record while it is live; an expired one's holder is gone, so it is free. */
function liveLease(reading: Reading): Lease | undefined {
  const { lease } = reading.record;
  return lease !== undefined && lease.until >= reading.now ? lease : undefined;
}

/** The lease protocol over one store; see the module comment. */
export class LeaseCoordinator {
  private readonly store: RecordStore;
  private readonly holder: string;
  private readonly timing: Timing;
  private readonly policy: PolicySettings;
  private readonly now: Clock;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: LeaseCoordinatorOptions) {
    this.store = options.store;
    this.holder = options.holder;
    this.timing = options.timing;
    this.policy = options.policy;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? sleep;
  }

  /**
   * A token for `request`: the store's if it is fresh, else one fetched by exactly one request across all
   * containers (this one, if it takes the lease). Throws `MinTtlUnattainableError` for a `min_ttl` tokens of
   * this key cannot promise, `MintThrottledError` when a forced refresh comes too soon after the last
   * mint, `UpstreamUnavailableError` (`lease_wait`) when another holder's token did not land in time, and
   * whatever `fetch` throws when no valid token can be served instead. Store failures propagate as
   * `StoreUnavailableError`, except when storing a fetched token (the token is served, with `storeError`).
   */
  async obtain(request: ObtainRequest, fetch: FetchToken): Promise<Obtained> {
    const { need } = request;
    const polling: Polling = { pause: this.timing.pollInitialMs, waited: false };
    for (;;) {
      const reading = await this.read(request);
      this.refuseUnattainableMinTtl(reading, need);
      if (fresh(reading.stored, need, reading.now, this.policy)) {
        return { token: reading.stored, source: 'table', waited: polling.waited };
      }
      const lease = liveLease(reading);
      if (lease !== undefined) {
        const meanwhile = await this.waitForHolder(reading, lease, request, polling);
        if (meanwhile) return meanwhile;
        continue;
      }
      // The lease is free (or its holder is gone): this request fetches, if it may and has time to.
      const refused = this.fetchRefusal(reading, request);
      if (refused) return this.serveOnFailure(reading, need, polling.waited, refused.error);
      this.refuseEarlyMint(reading, need);
      const taken = await this.takeLease(reading.record, request.deadline);
      if (taken === undefined) continue; // another writer came first: read again
      const { current, source } = reading;
      const served = current && { token: current, source, waited: polling.waited };
      return this.fetchAsHolder(taken, request, served, fetch, polling.waited);
    }
  }

  /** Read the key's record: its token of the asked scope, else the one known outside the store. */
  private async read(request: ObtainRequest): Promise<Reading> {
    const record = await this.store.read(request.key);
    const now = this.now();
    const stored = record.token?.scope === request.need.scope ? record.token : undefined;
    const current = stored ?? request.known;
    return { record, now, stored, current, source: stored ? 'table' : 'memory' };
  }

  /** A min_ttl tokens of this key cannot promise is refused whatever the age of the token at hand. */
  private refuseUnattainableMinTtl(reading: Reading, need: Need): void {
    const refusal = reading.current && minTtlRefusal(lifetimeOf(reading.current), need, this.policy);
    if (refusal) throw refusal;
  }

  /**
   * Another holder is fetching: the still-valid current token is served meanwhile. With none, this request
   * polls (undefined: read again), or answers 503 with `Retry-After` when the next read would come too
   * close to its deadline.
   */
  private async waitForHolder(
    reading: Reading,
    lease: Lease,
    request: ObtainRequest,
    polling: Polling,
  ): Promise<Obtained | undefined> {
    const { current, source, now } = reading;
    if (servable(current, request.need, now)) return { token: current, source, waited: polling.waited };
    if (now + polling.pause > request.deadline - this.timing.pollMaxMs) {
      throw new UpstreamUnavailableError(
        'another request is fetching this token; try again',
        'lease_wait',
        Math.max(1, Math.ceil((lease.until - now) / 1000)),
      );
    }
    if (!polling.waited) await request.beforeWaiting?.();
    await this.sleep(polling.pause);
    polling.waited = true;
    polling.pause = Math.min(polling.pause * 2, this.timing.pollMaxMs);
    return undefined;
  }

  /**
   * Why this request may not fetch now, if it may not: the flow refuses (`beforeFetching` throws), or too
   * little of its time is left.
   */
  private fetchRefusal(reading: Reading, request: ObtainRequest): { readonly error: unknown } | undefined {
    try {
      request.beforeFetching?.();
    } catch (error) {
      return { error };
    }
    // A store that answered late spent the time: the still-valid token at hand is served all the same.
    if (request.deadline - reading.now < this.timing.fetchReserveMs) {
      return {
        error: new UpstreamUnavailableError('no time left to fetch this token; try again', 'deadline', 1),
      };
    }
    return undefined;
  }

  /**
   * A refresh that cannot happen never turns a still-valid token into an error: the token at hand is
   * served, with `error` as its `refreshError`; with none, `error` is thrown.
   */
  private serveOnFailure(reading: Reading, need: Need, waited: boolean, error: unknown): Obtained {
    const { current, source, now } = reading;
    if (servable(current, need, now)) return { token: current, source, waited, refreshError: error };
    throw error;
  }

  /** A forced refresh too soon after the key's last mint is refused (`MintThrottledError`). */
  private refuseEarlyMint(reading: Reading, need: Need): void {
    const wait = secondsUntilKeyMayMint(reading.current, need, reading.now, this.policy);
    if (wait > 0) {
      throw new MintThrottledError(
        `this token was minted less than ${this.policy.minMintIntervalSeconds} s ago; a replacement may be minted in ${wait} s`,
        'mint_interval',
        wait,
      );
    }
  }

  /**
   * Write this holder's lease into the record read, a free one or one whose holder is gone. The write
   * lands only if the record is unchanged since the read: undefined when another writer came first.
   */
  private takeLease(record: CacheRecord, deadline: number): Promise<CacheRecord | undefined> {
    return this.store.replace(record, {
      token: record.token,
      mints: record.mints,
      lease: { holder: this.holder, until: leaseEnd(this.timing, deadline) },
    });
  }

  /** Fetch under the lease `taken`, then store the token and drop the lease, or release it on failure. */
  private async fetchAsHolder(
    taken: CacheRecord,
    request: ObtainRequest,
    current: Obtained | undefined,
    fetch: FetchToken,
    waited: boolean,
  ): Promise<Obtained> {
    let token: CachedToken;
    try {
      token = await fetch(current?.token);
    } catch (error) {
      await this.settle(request, () => this.release(taken));
      const usable = current !== undefined && servable(current.token, request.need, this.now());
      if (usable && !(error instanceof AccessDeniedError)) return { ...current, refreshError: error };
      throw error;
    }
    let storeError: StoreUnavailableError | undefined;
    try {
      // A fetch may end at the request's deadline: the token it minted is stored all the same.
      await this.settle(request, () => this.store.replace(taken, { token, mints: taken.mints }));
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      storeError = error;
      // Storing may fail where releasing does not (sealing needs KMS, a lease does not): let others try.
      await this.settle(request, () => this.release(taken));
    }
    // The new token serves others; this request learns only now what its lifetime can promise.
    const refusal = minTtlRefusal(lifetimeOf(token), request.need, this.policy);
    if (refusal) throw refusal;
    if (!servable(token, request.need, this.now())) {
      throw new UpstreamUnavailableError('the new token would not last min_ttl; try again', 'timeout', 1);
    }
    return { token, source: 'upstream', waited, ...(storeError ? { storeError } : {}) };
  }

  /** Run the writes after a fetch by the request's settling end (`withSettlingDeadline`). */
  private settle<T>(request: ObtainRequest, work: () => Promise<T>): Promise<T> {
    return withSettlingDeadline(settlingEnd(this.timing, request.deadline) - this.now(), work);
  }

  /** Drop this holder's lease early; if the store fails or someone else wrote, the lease simply expires. */
  private async release(taken: CacheRecord): Promise<void> {
    try {
      await this.store.replace(taken, { token: taken.token, mints: taken.mints });
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
    }
  }
}
