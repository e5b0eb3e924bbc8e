/**
 * The flow of one token request, like Powertools Idempotency's `IdempotencyHandler`: authorize, then the
 * warm container's memory, then one refresh per key in this container, then the lease protocol over the
 * shared table (or, while the table fails, over a store in this container's memory), minting through the
 * budget. The rules live elsewhere: what may be served and minted in `cache-policy.ts`, the one-fetcher
 * protocol in `lease-coordinator.ts`, the budget in `mint-budget.ts`, the upstream circuit in
 * `upstream-circuit.ts`, minting in `minter.ts`. Every request runs inside one deadline
 * (`request-deadline.ts`) that bounds each call it makes to DynamoDB, KMS and Secrets Manager.
 */
import { randomUUID } from 'node:crypto';
import {
  AccessDeniedError,
  CircuitOpenError,
  type Clock,
  cacheKeyFor,
  canonicalScope,
  clampRetryAfter,
  MintThrottledError,
  parseScopes,
  type Scope,
  StoreUnavailableError,
  sleep,
  UpstreamRejectedError,
  UpstreamUnavailableError,
} from '@tvs/client/contract';
import type { ConfiguredClient, ServiceConfig } from '../config/service-config.js';
import {
  type Charge,
  fresh,
  isForcedRefresh,
  lifetimeOf,
  minTtlRefusal,
  type Need,
  type PolicySettings,
  servable,
} from '../policy/cache-policy.js';
import { callerPrincipal } from '../policy/principals.js';
import { withRequestDeadline, withSettlingDeadline } from '../policy/request-deadline.js';
import { checkSettings, type VendingSettings } from '../policy/settings.js';
import { settlingEnd, type Timing } from '../policy/timing.js';
import {
  type FetchToken,
  LeaseCoordinator,
  type Obtained,
  type TokenSource,
} from '../protocol/lease-coordinator.js';
import { MintBudget } from '../protocol/mint-budget.js';
import { type Admission, isUpstreamOutage, UpstreamCircuit } from '../protocol/upstream-circuit.js';
import type { CachedToken, Mint, RecordStore } from '../record/cache-record.js';
import { MemoryTokenCache } from '../stores/memory-cache.js';
import { MemoryRecordStore } from '../stores/memory-store.js';
import type { Minter } from '../upstream/minter.js';

export type { TokenSource };

/** What a caller asks for: a validated `POST /v1/token` body. */
export interface TokenRequest {
  readonly client: string;
  readonly scope: string;
  readonly minTtl: number;
  /** SHA-256 hex of a token the caller saw rejected upstream. */
  readonly reject?: string;
}

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

/** What the flow reports; it neither logs nor counts by itself. */
export interface VendingObserver {
  /** The table failed; the flow skips it for `storeBackoffMs`. */
  storeFailed?(error: StoreUnavailableError): void;
  /** A refresh failed and the still-valid current token was served instead. */
  refreshFailed?(client: string, error: unknown): void;
  /**
   * A mint was refused by a bound of upstream use; `caller` is who asked (absent for the pre-warm),
   * `spender` whoever spent the budget that is spent (a caller's principal or a wildcard grant's pattern).
   */
  mintThrottled?(detail: {
    readonly client: string;
    readonly caller?: string;
    readonly spender?: string;
    readonly reason: string;
    readonly retryAfterSeconds: number;
  }): void;
  /** Identity Cloud failed for `client`: its circuit is open (one probe per probe interval). */
  circuitOpened?(client: string, error: UpstreamUnavailableError): void;
  /** A probe succeeded: the circuit of `client` is closed, every mint goes upstream again. */
  circuitClosed?(client: string): void;
}

/** Dependencies of a {@link VendingService}; each but the first three has a default. */
export interface VendingServiceOptions {
  readonly config: ServiceConfig;
  /** The shared cache (sealed DynamoDB in AWS). */
  readonly store: RecordStore;
  readonly minter: Pick<Minter, 'mint'>;
  readonly memory?: MemoryTokenCache;
  readonly settings?: VendingSettings;
  readonly observer?: VendingObserver;
  /** Epoch milliseconds. */
  readonly now?: Clock;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Identifies this container as a lease holder. */
  readonly holderId?: string;
  /**
   * Prefix of this service's token keys: empty for the vend function; the rotation function's reset
   * tokens live under `ROTATION_KEY_PREFIX` (`hashing.ts`), apart from every vended token. @default ''
   */
  readonly keyPrefix?: string;
}

/** What one request wants. */
interface Want {
  readonly client: ConfiguredClient;
  readonly scopes: readonly Scope[];
  readonly key: string;
  readonly need: Need;
  /** Epoch ms by which this request is answered. */
  readonly deadline: number;
  /** Who asked (the caller's ARN), for reports; absent for the pre-warm. */
  readonly caller?: string;
  /**
   * The spender new keys and forced refreshes of this request are charged to (see `Charge`); absent for
   * the pre-warm, whose mints are the service's own.
   */
  readonly chargedTo?: string;
}

/** The protocols and the budget over one store: the shared table, or this container's memory. */
interface Lane {
  readonly coordinator: LeaseCoordinator;
  readonly budget: MintBudget;
  readonly circuit: UpstreamCircuit;
}

/** How many records the per-container fallback store keeps while the table fails. */
const LOCAL_RECORDS = 1_000;

/** Refreshes of one key a request joins or runs before it answers 503 (`lease_wait`). */
const REFRESH_ROUNDS = 3;

/**
 * Vends narrowed-scope tokens; see the module comment. One authorized request goes through these steps:
 *
 * 1. The token remembered in this container's memory, re-read from the table when the table has not
 *    confirmed it recently; served at once while fresh.
 * 2. A `min_ttl` the client's tokens cannot promise (their lifetime learned from every token seen) is
 *    refused.
 * 3. While a refresh of the key is in flight here, or the client's circuit is known open, a still-valid
 *    remembered token is served meanwhile; with none, both at once answer the circuit's 503.
 * 4. The refresh in flight here is joined, or this request runs one: the lease protocol over the table, or
 *    over memory while the table fails. A request the shared outcome does not satisfy runs the next one,
 *    up to three rounds.
 * 5. Then 503 (`lease_wait`): try again.
 */
export class VendingService {
  readonly memory: MemoryTokenCache;
  readonly timing: Timing;
  readonly policy: PolicySettings;
  private readonly config: ServiceConfig;
  private readonly minter: Pick<Minter, 'mint'>;
  private readonly observer: VendingObserver;
  private readonly now: Clock;
  private readonly shared: Lane;
  private readonly local: Lane;
  private readonly inFlight = new Map<string, Promise<Obtained>>();
  /** Table reads confirming a remembered token, one per key. */
  private readonly rechecks = new Map<string, Promise<boolean>>();
  private readonly store: RecordStore;
  /** Token lifetime per client (its token policy's), learned from every token seen. */
  private readonly lifetimes = new Map<string, number>();
  /**
   * Clients whose circuit this container saw open, and until when no probe may start: until then a
   * request serves a still-valid token at once, or answers 503 without taking a lease or waiting for a
   * refresh in flight here — one read of the table, to serve a token another container may have.
   */
  private readonly openCircuits = new Map<string, number>();
  private storeSkippedUntil = 0;
  private readonly keyPrefix: string;

  constructor(options: VendingServiceOptions) {
    ({ timing: this.timing, policy: this.policy } = checkSettings(options.settings));
    this.config = options.config;
    this.keyPrefix = options.keyPrefix ?? '';
    this.minter = options.minter;
    this.store = options.store;
    this.memory = options.memory ?? new MemoryTokenCache();
    this.observer = options.observer ?? {};
    this.now = options.now ?? Date.now;
    const holder = options.holderId ?? randomUUID();
    const lane = (store: RecordStore): Lane => ({
      coordinator: new LeaseCoordinator({
        store,
        holder,
        timing: this.timing,
        policy: this.policy,
        now: this.now,
        sleep: options.sleep ?? sleep,
      }),
      budget: new MintBudget(store, this.policy, this.now),
      circuit: new UpstreamCircuit({
        store,
        holder,
        timing: this.timing,
        policy: this.policy,
        now: this.now,
      }),
    });
    this.shared = lane(options.store);
    this.local = lane(new MemoryRecordStore({ maxRecords: LOCAL_RECORDS, now: this.now }));
  }

  /** The clients and scopes `callerArn` may ask for (`GET /v1/clients`). */
  listClients(callerArn: string): { client: string; scopes: string[] }[] {
    return this.config.clientsFor(callerArn);
  }

  /** Serve `POST /v1/token` for `callerArn`. */
  async vend(callerArn: string, request: TokenRequest): Promise<VendResult> {
    const scopes = parseScopes(request.scope);
    const client = this.config.client(request.client);
    if (client === undefined || !this.config.authorize(callerArn, request.client, scopes)) {
      throw new AccessDeniedError('the caller has no grant for this client and scope');
    }
    const spender =
      this.config.spenderFor(callerArn, request.client) ?? callerPrincipal(callerArn) ?? callerArn;
    return this.obtainInTime(
      this.want(client, scopes, {
        minTtl: request.minTtl,
        reject: request.reject,
        lookAhead: 0,
        caller: callerArn,
        chargedTo: spender,
      }),
    );
  }

  /**
   * Keep a (client, scope) token fresh for the scheduled pre-warm: refreshes it when it is due within
   * `lookAheadSeconds` of its refresh margin, so callers never wait on Identity Cloud. Its mints are the
   * service's own upkeep, charged to no caller (the deployer lists the keys it keeps).
   */
  async prewarm(clientName: string, scope: string, lookAheadSeconds: number): Promise<VendResult> {
    const scopes = parseScopes(scope);
    const client = this.config.client(clientName);
    if (client === undefined || !this.config.withinAllowedScopes(clientName, scopes)) {
      throw new AccessDeniedError('pre-warm entry is outside its client allowedScopes');
    }
    return this.obtainInTime(this.want(client, scopes, { minTtl: 0, lookAhead: lookAheadSeconds }));
  }

  private want(
    client: ConfiguredClient,
    scopes: readonly Scope[],
    asked: { minTtl: number; reject?: string; lookAhead: number; caller?: string; chargedTo?: string },
  ): Want {
    const canonical = canonicalScope(scopes);
    return {
      client,
      scopes,
      key: `${this.keyPrefix}${cacheKeyFor(client.name, canonical)}`,
      need: {
        scope: canonical,
        minTtl: asked.minTtl,
        lookAhead: asked.lookAhead,
        ...(asked.reject ? { reject: asked.reject } : {}),
      },
      deadline: this.now() + this.timing.requestDeadlineMs,
      ...(asked.caller ? { caller: asked.caller } : {}),
      ...(asked.chargedTo ? { chargedTo: asked.chargedTo } : {}),
    };
  }

  /** {@link obtain}, every call to a dependency bounded by the request's deadline. */
  private obtainInTime(want: Want): Promise<VendResult> {
    return withRequestDeadline(want.deadline - this.now(), () => this.obtain(want));
  }

  /** The flow of one request; see the class comment. */
  private async obtain(want: Want): Promise<VendResult> {
    const remembered = await this.rememberedToken(want);
    if (fresh(remembered, want.need, this.now(), this.policy)) {
      return this.result(want, remembered, 'memory', false);
    }
    this.refuseUnattainableMinTtl(want);
    const meanwhile = this.serveWhileRefreshBlocked(want, remembered);
    if (meanwhile) return meanwhile;
    const refreshed = await this.joinOrRunRefresh(want, remembered);
    if (refreshed) return refreshed;
    throw new UpstreamUnavailableError('the token is being refreshed; try again', 'lease_wait', 1);
  }

  /**
   * The token memory holds for `want`'s key, if the table still holds it: memory serves a token only
   * while the table confirmed it recently, since a purge removes it there (see {@link recheck}). A
   * remembered token teaches the lifetime of its client's tokens.
   */
  private async rememberedToken(want: Want): Promise<CachedToken | undefined> {
    const remembered = this.memory.get(want.key, Math.floor(this.now() / 1000));
    if (remembered === undefined) return undefined;
    if (!this.memory.confirmed(want.key, remembered, this.now())) {
      if (!(await this.recheck(want.key, remembered))) return undefined;
    }
    this.lifetimes.set(want.client.name, lifetimeOf(remembered));
    return remembered;
  }

  /** Throws the refusal of a `min_ttl` the client's tokens cannot promise, once their lifetime is known. */
  private refuseUnattainableMinTtl(want: Want): void {
    const lifetime = this.lifetimes.get(want.client.name);
    const refusal = lifetime === undefined ? undefined : minTtlRefusal(lifetime, want.need, this.policy);
    if (refusal) throw refusal;
  }

  /**
   * While someone in this container is already refreshing the key, or Identity Cloud is failing for its
   * client, the still-valid remembered token is served meanwhile. Without one, a refresh in flight here
   * while the circuit is open is a probe, or fails: not worth waiting for, the circuit's 503 is thrown.
   * Undefined when this request goes on to refresh.
   */
  private serveWhileRefreshBlocked(want: Want, remembered: CachedToken | undefined): VendResult | undefined {
    const circuitOpen = this.knownOpen(want.client.name);
    const refreshing = this.inFlight.has(want.key);
    if (servable(remembered, want.need, this.now()) && (circuitOpen || refreshing)) {
      return this.result(want, remembered, 'memory', false);
    }
    if (circuitOpen && refreshing) throw this.circuitRefusal(want.client.name);
    return undefined;
  }

  /**
   * Requests of one key share one refresh in this container: this request joins the one in flight, or
   * runs one. One whose needs the shared outcome does not meet (a larger min_ttl, a rejected token) runs
   * the next refresh itself, for at most {@link REFRESH_ROUNDS} rounds in all; undefined when none served
   * it. A refused mint is reported as it propagates.
   */
  private async joinOrRunRefresh(
    want: Want,
    remembered: CachedToken | undefined,
  ): Promise<VendResult | undefined> {
    try {
      for (let round = 0; round < REFRESH_ROUNDS; round++) {
        const shared = this.inFlight.get(want.key);
        const served = shared
          ? await this.joinRefresh(want, shared)
          : await this.runRefresh(want, remembered);
        if (served) return served;
      }
      return undefined;
    } catch (error) {
      if (error instanceof MintThrottledError) this.throttled(want, error);
      throw error;
    }
  }

  /** Wait for the refresh of the key another request runs here: its token, if it meets this request's needs. */
  private async joinRefresh(want: Want, shared: Promise<Obtained>): Promise<VendResult | undefined> {
    const outcome = await shared;
    if (!servable(outcome.token, want.need, this.now())) return undefined;
    return this.result(want, outcome.token, outcome.source, true);
  }

  /**
   * Run the refresh of the key that other requests here may join, and report it: its token, if it meets
   * this request's needs.
   */
  private async runRefresh(want: Want, remembered: CachedToken | undefined): Promise<VendResult | undefined> {
    const flight = this.refresh(want, remembered).finally(() => {
      if (this.inFlight.get(want.key) === flight) this.inFlight.delete(want.key);
    });
    this.inFlight.set(want.key, flight);
    const outcome = await flight;
    this.report(want, outcome);
    if (!servable(outcome.token, want.need, this.now())) return undefined;
    return this.result(want, outcome.token, outcome.source, outcome.waited);
  }

  /**
   * Whether the table still holds `remembered` (one read per key at a time in this container): then it is
   * confirmed for another `MEMORY_RECHECK_MS`; if not (purged or replaced), memory forgets it. While the
   * table fails, memory is trusted as before.
   */
  private recheck(key: string, remembered: CachedToken): Promise<boolean> {
    if (this.now() < this.storeSkippedUntil) return Promise.resolve(true);
    const pending = this.rechecks.get(key);
    if (pending) return pending;
    const askedAt = this.now();
    const check = this.store
      .read(key)
      .then(
        (record) => {
          const held = record.token?.fingerprint === remembered.fingerprint;
          if (held) this.memory.confirm(key, remembered, askedAt);
          else this.memory.forget(key, remembered);
          return held;
        },
        (error: unknown) => {
          if (!(error instanceof StoreUnavailableError)) throw error;
          this.storeFailed(error);
          return true;
        },
      )
      .finally(() => this.rechecks.delete(key));
    this.rechecks.set(key, check);
    return check;
  }

  /** One refresh of a key in this container: over the table, or over memory while the table fails. */
  private async refresh(want: Want, remembered: CachedToken | undefined): Promise<Obtained> {
    if (this.now() >= this.storeSkippedUntil) {
      try {
        return await this.refreshIn(this.shared, want, remembered);
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) throw error;
        this.storeFailed(error);
      }
    }
    return this.refreshIn(this.local, want, remembered);
  }

  private async refreshIn(lane: Lane, want: Want, remembered: CachedToken | undefined): Promise<Obtained> {
    const fetch: FetchToken = async (current) => {
      const charge = this.chargeFor(want, current);
      const admission = await this.admit(lane, want);
      let charged: Mint;
      try {
        charged = await lane.budget.charge(want.client.name, charge);
      } catch (error) {
        if (admission === 'probe') await this.settle(want, () => lane.circuit.abandon(want.client.name));
        throw error;
      }
      const minted = await this.mint(lane, want, admission, charged);
      const madeBy = charge?.spender ?? current?.madeBy;
      return madeBy === undefined ? minted : { ...minted, madeBy };
    };
    const askedAt = this.now();
    const outcome = await lane.coordinator.obtain(
      {
        key: want.key,
        need: want.need,
        deadline: want.deadline,
        ...(remembered ? { known: remembered } : {}),
        beforeWaiting: () => this.refuseWhileOpen(lane, want.client.name),
        beforeFetching: () => {
          if (this.knownOpen(want.client.name)) throw this.circuitRefusal(want.client.name);
        },
      },
      fetch,
    );
    // A token read from or written to the table is confirmed as of before the read.
    if (outcome.source !== 'memory')
      this.memory.set(want.key, outcome.token, lane === this.shared ? askedAt : undefined);
    this.lifetimes.set(want.client.name, lifetimeOf(outcome.token));
    return outcome;
  }

  /**
   * Whom a mint of `want`'s key is charged to. A new key (none, or only an expired one), or a refresh
   * this request forces, is charged to the request's spender, who then made the key; refreshing a key
   * still in use is upkeep, charged to the spender that made it (free within its allowance, then
   * counted in its share), so keeping keys alive is paid by whoever made them. The pre-warm's mints are
   * charged to no one.
   */
  private chargeFor(want: Want, current: CachedToken | undefined): Charge | undefined {
    if (want.chargedTo === undefined) return undefined;
    const now = this.now();
    const ordinary: Need = { scope: want.need.scope, minTtl: 0, lookAhead: 0 };
    const forced: boolean = isForcedRefresh(current, want.need, now, this.policy);
    if (current === undefined || forced || !servable(current, ordinary, now)) {
      return { spender: want.chargedTo, upkeep: false };
    }
    // A key made before keys named their maker, or kept by the pre-warm: its upkeep is the requester's.
    return { spender: current.madeBy ?? want.chargedTo, upkeep: true };
  }

  /** Whether this request may ask Identity Cloud (and as the one probe), or the 503 of an open circuit. */
  private async admit(lane: Lane, want: Want): Promise<Admission> {
    try {
      const admission = await lane.circuit.admit(want.client.name, want.deadline);
      if (admission === 'closed') this.openCircuits.delete(want.client.name);
      return admission;
    } catch (error) {
      this.learnOpen(want.client.name, error);
      throw error;
    }
  }

  private async refuseWhileOpen(lane: Lane, client: string): Promise<void> {
    try {
      await lane.circuit.refuseWhileOpen(client);
    } catch (error) {
      this.learnOpen(client, error);
      throw error;
    }
  }

  /**
   * Mint as admitted. A request that reached nobody or met a failing Identity Cloud minted nothing: its
   * charge is refunded, so an outage does not spend the budget. Identity Cloud failing opens the
   * circuit (or, after a probe, sets the next one); any answer from it, a refusal included, closes it.
   */
  private async mint(lane: Lane, want: Want, admission: Admission, charged: Mint): Promise<CachedToken> {
    const client = want.client.name;
    try {
      const token = await this.minter.mint({
        client,
        tokenEndpoint: want.client.tokenEndpoint,
        secretId: want.client.secretId,
        scopes: want.scopes,
        canonical: want.need.scope,
        deadline: want.deadline,
        ...(admission === 'probe' ? { attempts: 1 } : {}),
      });
      await this.settle(want, () => this.closeAfter(lane, client, admission));
      return token;
    } catch (error) {
      // The attempt may have ended at the request's deadline: what it leaves in the table still lands.
      if (error instanceof UpstreamUnavailableError)
        await this.settle(want, () => lane.budget.refund(client, charged));
      if (isUpstreamOutage(error)) {
        const pauseMs = await this.settle(want, () => lane.circuit.failed(client, admission, error));
        this.openCircuits.set(client, this.now() + pauseMs);
        if (admission === 'closed') this.observer.circuitOpened?.(client, error);
        // The caller may come back when the next probe may start, not before.
        throw new UpstreamUnavailableError(error.message, error.reason, clampRetryAfter(pauseMs / 1000), {
          cause: error.cause,
        });
      }
      if (error instanceof UpstreamRejectedError) {
        await this.settle(want, () => this.closeAfter(lane, client, admission));
      } else if (admission === 'probe') {
        await this.settle(want, () => lane.circuit.abandon(client));
      }
      throw error;
    }
  }

  /** Run the writes that settle a mint by the request's settling end (`withSettlingDeadline`). */
  private settle<T>(want: Want, work: () => Promise<T>): Promise<T> {
    return withSettlingDeadline(settlingEnd(this.timing, want.deadline) - this.now(), work);
  }

  /** Identity Cloud answered: after a probe, the circuit closes for every container. */
  private async closeAfter(lane: Lane, client: string, admission: Admission): Promise<void> {
    this.openCircuits.delete(client);
    if (admission !== 'probe') return;
    await lane.circuit.succeeded(client);
    this.observer.circuitClosed?.(client);
  }

  private learnOpen(client: string, error: unknown): void {
    if (error instanceof CircuitOpenError) this.openCircuits.set(client, error.probeAt);
  }

  /** Whether this container saw the circuit of `client` open, and no probe may have started since. */
  private knownOpen(client: string): boolean {
    return (this.openCircuits.get(client) ?? 0) > this.now();
  }

  /** The 503 of a circuit this container knows is open, without reading the table. */
  private circuitRefusal(client: string): CircuitOpenError {
    const probeAt = this.openCircuits.get(client) ?? this.now();
    return new CircuitOpenError(
      `Identity Cloud is failing for client ${client}; try again`,
      Math.max(1, Math.ceil((probeAt - this.now()) / 1000)),
      probeAt,
    );
  }

  /** What the request that ran a refresh reports of it (requests that shared it report nothing). */
  private report(want: Want, outcome: Obtained): void {
    if (outcome.storeError) this.storeFailed(outcome.storeError);
    if (outcome.refreshError instanceof MintThrottledError) this.throttled(want, outcome.refreshError);
    else if (outcome.refreshError !== undefined)
      this.observer.refreshFailed?.(want.client.name, outcome.refreshError);
  }

  private throttled(want: Want, error: MintThrottledError): void {
    this.observer.mintThrottled?.({
      client: want.client.name,
      ...(want.caller ? { caller: want.caller } : {}),
      // A forced refresh refused by the mint interval is the asking spender's; a budget names its own.
      ...((error.spender ?? want.chargedTo) ? { spender: error.spender ?? want.chargedTo } : {}),
      reason: error.reason,
      retryAfterSeconds: error.retryAfterSeconds,
    });
  }

  private storeFailed(error: StoreUnavailableError): void {
    this.storeSkippedUntil = this.now() + this.timing.storeBackoffMs;
    this.observer.storeFailed?.(error);
  }

  private result(want: Want, token: CachedToken, source: TokenSource, waited: boolean): VendResult {
    return { client: want.client.name, token, source, waited };
  }
}
