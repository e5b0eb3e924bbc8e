import type { Clock } from '@tvs/client/contract';
import {
  absentRecord,
  type CachedToken,
  type CacheRecord,
  keepUntil,
  type RecordContent,
  type RecordStore,
  storedRecord,
  type TokenFacts,
} from '../record/cache-record.js';

/** Options of {@link MemoryRecordStore}. */
export interface MemoryRecordStoreOptions {
  /**
   * Hold at most this many records; past it, a record nobody needs (expired, or else the oldest write
   * without a live lease) is dropped, as DynamoDB's TTL deletion could drop it. @default unbounded
   */
  readonly maxRecords?: number;
  /** Epoch ms, for expiry and live leases. @default Date.now */
  readonly now?: Clock;
}

/**
 * Records in this process's memory, with exactly the conditional semantics of the DynamoDB store: a
 * replace lands only on the version that was read. Used by the protocol tests (many simulated containers
 * sharing one instance, under an injected clock) and, per container, as the fallback when the table fails.
 */
export class MemoryRecordStore<T extends TokenFacts = CachedToken> implements RecordStore<T> {
  private readonly records = new Map<string, CacheRecord<T>>();
  private readonly maxRecords: number;
  private readonly now: Clock;

  constructor(options: MemoryRecordStoreOptions = {}) {
    this.maxRecords = options.maxRecords ?? Number.POSITIVE_INFINITY;
    this.now = options.now ?? Date.now;
  }

  async read(key: string): Promise<CacheRecord<T>> {
    return this.records.get(key) ?? absentRecord(key);
  }

  async replace(current: CacheRecord<T>, next: RecordContent<T>): Promise<CacheRecord<T> | undefined> {
    if ((this.records.get(current.key)?.version ?? 0) !== current.version) return undefined;
    const record = storedRecord(current.key, current.version + 1, next);
    // Re-inserted, so the map's order is the order of last writes.
    this.records.delete(current.key);
    this.records.set(current.key, record);
    if (this.records.size > this.maxRecords) this.evictOne();
    return record;
  }

  /** Drop every record whose {@link keepUntil} has passed: what DynamoDB's TTL deletion may do any time after. */
  sweep(nowMs: number = this.now()): void {
    for (const [key, record] of this.records) {
      if (keepUntil(record) * 1000 <= nowMs) this.records.delete(key);
    }
  }

  get size(): number {
    return this.records.size;
  }

  private evictOne(): void {
    const nowMs = this.now();
    let victim: string | undefined;
    for (const [key, record] of this.records) {
      if (keepUntil(record) * 1000 <= nowMs) {
        victim = key;
        break;
      }
      if (victim === undefined && !(record.lease && record.lease.until >= nowMs)) victim = key;
    }
    this.records.delete(victim ?? (this.records.keys().next().value as string));
  }
}
