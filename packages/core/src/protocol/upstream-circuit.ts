/**
 * A per-client circuit in front of Identity Cloud, across every container: the whole protocol, over any
 * {@link RecordStore}, in one record per client (`<client>#circuit`).
 *
 * - **Closed** (no record): every mint goes to Identity Cloud. Reading the record is the only cost.
 * - **Open**: a mint failed upstream (network, timeout, 5xx, 429). The record says when the next probe
 *   may start: `probeInterval` after the failure, or later if Identity Cloud asked so (`Retry-After`).
 * - **Probe**: the first mint at or after that time takes the probe slot with a conditional write (of
 *   many containers, one wins); it makes one upstream attempt. While it runs, the slot is held until the
 *   probe's own request can no longer be running (its deadline plus the lease slack, `timing.ts`), so a
 *   probe that hangs is never joined by a second one, and one whose container died is replaced then.
 * - **Refused**: every other mint of the client while the circuit is open is refused at once — 503
 *   `temporarily_unavailable` with `Retry-After` — without reaching Identity Cloud. (A still-valid
 *   token is served before a mint is ever asked for: that is the flow's business, not this module's.)
 * - **Closed again**: a probe that succeeds removes the record; a failed probe sets the next probe time.
 *
 * Like the lease, every rule is decided in TypeScript on the record that was read, and the store's one
 * condition (the version) makes it atomic, so the in-memory store has exactly the DynamoDB semantics.
 */

import {
  CircuitOpenError,
  type Clock,
  clampRetryAfter,
  StoreUnavailableError,
  UpstreamUnavailableError,
} from '@tvs/client/contract';
import type { PolicySettings } from '../policy/cache-policy.js';
import { leaseEnd, type Timing } from '../policy/timing.js';
import type { CacheRecord, Circuit, RecordStore } from '../record/cache-record.js';

/** The key of a client's circuit record. Client names never contain `#`, so it cannot meet a token key. */
export function circuitKey(client: string): string {
  return `${client}#circuit`;
}

/** What the circuit lets one mint do: go ahead (closed), or go ahead as the one probe (open). */
export type Admission = 'closed' | 'probe';

/** Failures of a mint that open the circuit: Identity Cloud did not answer, or answered 5xx or 429. */
const UPSTREAM_OUTAGES: ReadonlySet<string> = new Set(['network', 'timeout', 'http_5xx', 'http_429']);

/** Whether `error` is Identity Cloud failing (what opens the circuit), not a bound or another dependency. */
export function isUpstreamOutage(error: unknown): error is UpstreamUnavailableError {
  return error instanceof UpstreamUnavailableError && UPSTREAM_OUTAGES.has(error.reason);
}

/** Conditional writes that lose a race read again; this many tries in all. */
const MAX_TRIES = 8;

/** Dependencies of an {@link UpstreamCircuit}. */
export interface UpstreamCircuitOptions {
  readonly store: RecordStore;
  /** This container's id as a prober. */
  readonly holder: string;
  readonly timing: Timing;
  readonly policy: PolicySettings;
  readonly now?: Clock;
}

/** The circuit protocol over one store; see the module comment. */
export class UpstreamCircuit {
  private readonly store: RecordStore;
  private readonly holder: string;
  private readonly timing: Timing;
  private readonly policy: PolicySettings;
  private readonly now: Clock;

  constructor(options: UpstreamCircuitOptions) {
    this.store = options.store;
    this.holder = options.holder;
    this.timing = options.timing;
    this.policy = options.policy;
    this.now = options.now ?? Date.now;
  }

  /**
   * May a mint of `client` go to Identity Cloud now, for a request whose deadline is `deadline` (epoch
   * ms)? `closed`, or `probe` when this request took the probe slot; throws the 503
   * {@link CircuitOpenError} when the circuit is open and the slot is not free. Store failures
   * propagate as `StoreUnavailableError`.
   */
  async admit(client: string, deadline: number): Promise<Admission> {
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      const record = await this.store.read(circuitKey(client));
      const circuit = record.circuit;
      if (circuit === undefined) return 'closed';
      const now = this.now();
      if (circuit.probeAt > now) throw this.refusal(client, circuit, now);
      const probing: Circuit = {
        openedAt: circuit.openedAt,
        probeAt: leaseEnd(this.timing, deadline),
        prober: this.holder,
      };
      if (await this.store.replace(record, { circuit: probing })) return 'probe';
    }
    throw new CircuitOpenError(
      `Identity Cloud is being probed for client ${client}; try again`,
      clampRetryAfter(Math.ceil(this.policy.probeIntervalMs / 1000)),
      this.now() + this.policy.probeIntervalMs,
    );
  }

  /**
   * Throws the 503 `circuit_open` while the circuit of `client` is open: for a request about to wait
   * for another request's mint, which cannot come while Identity Cloud is failing.
   */
  async refuseWhileOpen(client: string): Promise<void> {
    const circuit = (await this.store.read(circuitKey(client))).circuit;
    if (circuit !== undefined) throw this.refusal(client, circuit, this.now());
  }

  /**
   * A mint of `client`, admitted as `admission`, failed upstream with `error`: open the circuit (if it
   * was closed), or, after this container's probe, set when the next probe may start — a probe interval
   * from now, or the `Retry-After` Identity Cloud asked for when that is longer. Best effort: a store
   * failure leaves the record as it was (an open circuit stays open; a closed one opens on the next
   * failure). Answers the pause before the next probe, ms.
   */
  async failed(client: string, admission: Admission, error: UpstreamUnavailableError): Promise<number> {
    const pauseMs = Math.max(this.policy.probeIntervalMs, error.retryAfterSeconds * 1000);
    await this.update(client, (current, now) => {
      const next: Circuit = { openedAt: current?.openedAt ?? now, probeAt: now + pauseMs };
      if (admission === 'probe') return current?.prober === this.holder ? next : undefined;
      // Opened already (by another container, maybe probing now): left as it is.
      return current === undefined ? next : undefined;
    });
    return pauseMs;
  }

  /**
   * This container's probe of `client` ended without reaching Identity Cloud (a bound of upstream use
   * refused it, or another dependency failed first): the slot is free again at once.
   */
  async abandon(client: string): Promise<void> {
    await this.update(client, (current, now) =>
      current?.prober === this.holder ? { openedAt: current.openedAt, probeAt: now } : undefined,
    );
  }

  /** This container's probe of `client` succeeded: the circuit is closed for every container. */
  async succeeded(client: string): Promise<void> {
    await this.update(client, (current) => (current === undefined ? undefined : null));
  }

  /**
   * Write what `change` makes of the circuit read (`null`: remove it; undefined: leave the record),
   * reading again when another writer came first. Store failures are swallowed: see {@link failed}.
   */
  private async update(
    client: string,
    change: (current: Circuit | undefined, now: number) => Circuit | null | undefined,
  ): Promise<void> {
    try {
      for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
        const record: CacheRecord = await this.store.read(circuitKey(client));
        const next = change(record.circuit, this.now());
        if (next === undefined) return;
        if (await this.store.replace(record, next === null ? {} : { circuit: next })) return;
      }
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
    }
  }

  /** The 503 for a mint refused while the circuit is open; `Retry-After` is when a retry may be served. */
  private refusal(client: string, circuit: Circuit, now: number): CircuitOpenError {
    // While a probe runs, its success closes the circuit at once: a caller may come back a probe
    // interval later, not at the end of the probe's slot.
    const untilProbe = circuit.prober === undefined ? circuit.probeAt - now : this.policy.probeIntervalMs;
    return new CircuitOpenError(
      `Identity Cloud is failing for client ${client}; it is probed every ${this.policy.probeIntervalMs / 1000} s and this token can be minted once it answers`,
      clampRetryAfter(Math.ceil(untilProbe / 1000)),
      now + untilProbe,
    );
  }
}
