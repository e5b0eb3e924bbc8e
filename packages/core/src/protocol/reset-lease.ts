import type { RecordStore, TokenFacts } from '../record/cache-record.js';

/**
 * One `createSecret` per secret at a time, across containers: two containers running the same step at
 * once (Secrets Manager retrying a step that is still running) would otherwise both see the live secret
 * unchanged and both reset it, and the second reset kills the first one's stored secret.
 */
export interface ResetLease {
  /** Take the lease `name` for `holder` until `untilMs` (epoch ms); false while another holds it. */
  take(name: string, holder: string, untilMs: number): Promise<boolean>;
  /** Give the lease back, if `holder` still holds it. */
  release(name: string, holder: string): Promise<void>;
}

/**
 * A {@link ResetLease} as a record of the token table (the DynamoDB one in AWS, memory locally), taken
 * and released with the store's one condition: the record is still the one that was read. A lease whose
 * holder crashed frees itself at `until`.
 */
export class RecordStoreResetLease<T extends TokenFacts> implements ResetLease {
  constructor(
    private readonly store: RecordStore<T>,
    private readonly now: () => number = Date.now,
  ) {}

  async take(name: string, holder: string, untilMs: number): Promise<boolean> {
    const record = await this.store.read(name);
    if (record.lease !== undefined && record.lease.holder !== holder && record.lease.until > this.now()) {
      return false;
    }
    return (await this.store.replace(record, { lease: { holder, until: untilMs } })) !== undefined;
  }

  async release(name: string, holder: string): Promise<void> {
    const record = await this.store.read(name);
    if (record.lease?.holder === holder) await this.store.replace(record, {});
  }
}
