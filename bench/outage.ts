/**
 * An Identity Cloud outage under traffic, seen from the service's side: workers keep asking `tvs serve`
 * processes (which share one table) for a short-lived token while the simulator answers every token
 * request 503, then the simulator is healthy again. Workers ask every 60 ms whatever `Retry-After`
 * says, so the figures are the service's, not a client's retry policy.
 */
import { sleep } from '@tvs/client/contract';
import type { IdentityCloudSimulator } from '@tvs/simulator/identity-cloud';

/** What {@link measureOutage} counts. Times are ms. */
export interface OutageFigures {
  readonly outage_seconds: number;
  readonly outage_workers: number;
  readonly outage_requests: number;
  /** Answered 200 during the outage (a still-valid token). */
  readonly outage_served: number;
  /** Answered 503 with `Retry-After` during the outage. */
  readonly outage_refused: number;
  /** Requests that reached Identity Cloud during the outage. */
  readonly outage_upstream_requests: number;
  readonly outage_wait_p50_ms: number;
  /** The longest any single request took during the outage. */
  readonly outage_longest_wait_ms: number;
  /** From Identity Cloud's return until every worker had been served again. */
  readonly recovery_ms: number;
}

const PAUSE_MS = 60;
/** A worker not served this long after the return is reported as never served. */
const GIVE_UP_MS = 60_000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/**
 * Run `workersPerServer` workers against each of `urls` through an outage of `outageMs`; `ask` makes one
 * request and answers its HTTP status.
 */
export async function measureOutage(
  urls: readonly string[],
  sim: IdentityCloudSimulator,
  ask: (url: string) => Promise<number>,
  outageMs: number,
  workersPerServer = 2,
): Promise<OutageFigures> {
  const workers = urls.flatMap((url) => Array.from({ length: workersPerServer }, () => url));
  sim.resetCounters();
  sim.setPersistentFault({ kind: 'status', status: 503 });
  const returnsAt = Date.now() + outageMs;
  let upstreamDuringOutage = 0;
  const waits: number[] = [];
  let served = 0;
  let refused = 0;
  const back = (async () => {
    await sleep(outageMs);
    upstreamDuringOutage = sim.tokenRequests;
    sim.setPersistentFault(undefined);
  })();
  const recovered = await Promise.all(
    workers.map(async (url) => {
      for (;;) {
        const started = Date.now();
        const status = await ask(url);
        const ended = Date.now();
        if (started < returnsAt) {
          waits.push(ended - started);
          if (status === 200) served += 1;
          else refused += 1;
        } else if (status === 200) {
          return ended - returnsAt;
        }
        if (ended - returnsAt > GIVE_UP_MS) return Number.POSITIVE_INFINITY;
        await sleep(PAUSE_MS);
      }
    }),
  );
  await back;
  return {
    outage_seconds: outageMs / 1000,
    outage_workers: workers.length,
    outage_requests: waits.length,
    outage_served: served,
    outage_refused: refused,
    outage_upstream_requests: upstreamDuringOutage,
    outage_wait_p50_ms: median(waits),
    outage_longest_wait_ms: Math.max(...waits),
    recovery_ms: Math.max(...recovered),
  };
}
