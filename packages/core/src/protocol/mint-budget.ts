/**
 * How many upstream mints a client may spend (docs/contract.md "Bounded upstream use"): at most `mintsPerMinute`
 * per client across every key and container, counted in one record per client in the store
 * (`<client>#mints`: the mints of the last minute), and of those at most `mintsPerCallerPerMinute`
 * charged to one spender — a caller, or one wildcard grant — for its new keys, its forced refreshes and
 * the upkeep of its keys beyond a small free allowance, so no spender can spend the budget of the others
 * however many keys it keeps alive. A sliding window, so the bound holds for any 60 s.
 */
import { type Clock, MintThrottledError, StoreUnavailableError, sleep } from '@tvs/client/contract';
import { type Charge, decideBudget, type PolicySettings } from '../policy/cache-policy.js';
import type { Mint, RecordStore } from '../record/cache-record.js';

/** The key of a client's budget record. Client names never contain `#`, so it cannot meet a token key. */
export function budgetKey(client: string): string {
  return `${client}#mints`;
}

/**
 * Concurrent charges of one client that lose the race read again after a jittered pause (full jitter,
 * 10 ms doubling, at most 200 ms); this many tries in all, about two seconds at worst.
 */
const MAX_TRIES = 16;
const FIRST_PAUSE_MS = 10;
const LONGEST_PAUSE_MS = 200;

/** Counts mints per client in a store; see the module comment. */
export class MintBudget {
  constructor(
    private readonly store: RecordStore,
    private readonly policy: PolicySettings,
    private readonly now: Clock = Date.now,
    private readonly pause: (ms: number) => Promise<void> = sleep,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Count one mint of `client`, as `charge` says (see `Charge`), or charged to nobody for the scheduled
   * pre-warm. Throws {@link MintThrottledError}, naming the spender, when the client's budget, or that
   * spender's share of it, is spent for the current minute. Answers the mint counted, to
   * {@link refund} if no token comes of it.
   */
  async charge(client: string, charge: Charge | undefined): Promise<Mint> {
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      const record = await this.store.read(budgetKey(client));
      const decision = decideBudget(record.mints ?? [], charge, this.now(), this.policy);
      if (!decision.allowed) {
        const whose = decision.reason === 'caller_budget' ? "this caller's share of " : '';
        throw new MintThrottledError(
          `${whose}the upstream budget of client ${client} is spent for this minute; try again in ${decision.retryAfterSeconds} s`,
          decision.reason,
          decision.retryAfterSeconds,
          decision.spender,
        );
      }
      if (await this.store.replace(record, { mints: decision.mints })) return decision.mints.at(-1) as Mint;
      await this.pause(this.random() * Math.min(LONGEST_PAUSE_MS, FIRST_PAUSE_MS * 2 ** attempt));
    }
    throw new MintThrottledError(`too many mints of client ${client} at once; try again`, 'client_budget', 1);
  }

  /**
   * Take back `mint` of `client`: the upstream request it paid for minted nothing (Identity Cloud was
   * unreachable, failed or throttled, or the secret could not be read), so an outage does not spend the
   * budget. Best effort: on a store failure the mint stays counted, as it was.
   */
  async refund(client: string, mint: Mint): Promise<void> {
    try {
      for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
        const record = await this.store.read(budgetKey(client));
        const mints = record.mints ?? [];
        const index = mints.findIndex(
          (counted) => counted.at === mint.at && counted.by === mint.by && counted.upkeep === mint.upkeep,
        );
        if (index < 0) return;
        if (await this.store.replace(record, { mints: mints.toSpliced(index, 1) })) return;
        await this.pause(this.random() * Math.min(LONGEST_PAUSE_MS, FIRST_PAUSE_MS * 2 ** attempt));
      }
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
    }
  }
}
