/**
 * How long each part of a request may take, as one value derived from the function's timeout, with the
 * invariants between the parts checked where it is built: at synth (the construct) and at cold start (the
 * runtime). Nothing else in the service invents a duration.
 *
 * The invariant that matters most: **a refresh lease outlives everything the request holding it can do.**
 * A lease runs until the holder's request deadline plus `leaseSlackMs`, and `leaseSlackMs` covers the
 * gap between that deadline and the function's timeout (when Lambda stops the holder whatever it is
 * doing) plus twice the clock skew between containers (the holder writes `until` by its clock, others
 * read it by theirs). So no other container can take the lease while the holder may still be fetching.
 */
import { ConfigError } from '@tvs/client/contract';

/** Largest difference between two containers' clocks the lease tolerates, ms (Lambda hosts use Amazon Time Sync). */
export const MAX_CLOCK_SKEW_MS = 500;

/** The shortest function timeout the service accepts, seconds: a 3 s request deadline plus 2 s to answer. */
export const MIN_FUNCTION_TIMEOUT_SECONDS = 5;

/** Lambda's own limit, seconds. */
export const MAX_FUNCTION_TIMEOUT_SECONDS = 900;

/** The durations of one request. All ms. */
export interface Timing {
  /** The function's timeout: Lambda stops the function then, whatever it is doing. */
  readonly functionTimeoutMs: number;
  /**
   * Everything one request does — waiting for another container's lease holder, reading the secret, asking
   * Identity Cloud, the one retry after a rotated secret — ends by its start plus this; past it the answer
   * is 503. Below the function timeout, so the function always answers itself.
   */
  readonly requestDeadlineMs: number;
  /** A lease lasts until its holder's request deadline plus this. See the module comment. */
  readonly leaseSlackMs: number;
  /**
   * A request waiting for another container's holder stops waiting this long before its own deadline, so
   * that after taking over a lease that expired it still has time to fetch.
   */
  readonly fetchReserveMs: number;
  /** First and largest pause between reads of the table while waiting for a holder. */
  readonly pollInitialMs: number;
  readonly pollMaxMs: number;
  /** After a failure of the table, requests skip it this long (memory and a per-container protocol instead). */
  readonly storeBackoffMs: number;
}

/** The parts of {@link Timing} a caller may set; the rest are derived from the function timeout. */
export type TimingOverrides = Partial<Omit<Timing, 'functionTimeoutMs'>>;

/**
 * The timing for a function timeout of `functionTimeoutSeconds`: the request deadline 2 s below it, the
 * lease slack that keeps every lease past the timeout (plus skew), waits of 20 ms doubling to 250 ms.
 * `overrides` (tests, the local server) are checked by the same rules. Throws {@link ConfigError} listing
 * every broken rule.
 */
export function timingFor(functionTimeoutSeconds: number, overrides: TimingOverrides = {}): Timing {
  if (
    !Number.isFinite(functionTimeoutSeconds) ||
    functionTimeoutSeconds < MIN_FUNCTION_TIMEOUT_SECONDS ||
    functionTimeoutSeconds > MAX_FUNCTION_TIMEOUT_SECONDS
  ) {
    throw new ConfigError([
      `function timeout: ${functionTimeoutSeconds} s is outside ${MIN_FUNCTION_TIMEOUT_SECONDS} to ${MAX_FUNCTION_TIMEOUT_SECONDS} s; a request needs at least a 3 s deadline and 2 s to answer`,
    ]);
  }
  const functionTimeoutMs = Math.round(functionTimeoutSeconds * 1000);
  const requestDeadlineMs = overrides.requestDeadlineMs ?? functionTimeoutMs - 2_000;
  const timing: Timing = {
    functionTimeoutMs,
    requestDeadlineMs,
    leaseSlackMs: overrides.leaseSlackMs ?? functionTimeoutMs - requestDeadlineMs + 2 * MAX_CLOCK_SKEW_MS,
    fetchReserveMs: overrides.fetchReserveMs ?? Math.min(3_000, Math.floor(requestDeadlineMs / 2)),
    pollInitialMs: overrides.pollInitialMs ?? 20,
    pollMaxMs: overrides.pollMaxMs ?? 250,
    storeBackoffMs: overrides.storeBackoffMs ?? 5_000,
  };
  const problems = timingProblems(timing);
  if (problems.length > 0) throw new ConfigError(problems.map((problem) => `timing: ${problem}`));
  return Object.freeze(timing);
}

/** Every rule `timing` breaks, as sentences; empty when it is sound. */
export function timingProblems(timing: Timing): string[] {
  const problems: string[] = [];
  const {
    functionTimeoutMs,
    requestDeadlineMs,
    leaseSlackMs,
    fetchReserveMs,
    pollInitialMs,
    pollMaxMs,
    storeBackoffMs,
  } = timing;
  const whole = Object.entries(timing).filter(([, value]) => !Number.isInteger(value) || value < 0);
  for (const [name] of whole) problems.push(`${name} must be a whole number of ms ≥ 0`);
  if (requestDeadlineMs < 500 || requestDeadlineMs > functionTimeoutMs - 1_000) {
    problems.push(
      `requestDeadlineMs ${requestDeadlineMs} must be at least 500 and at least 1000 below the function timeout (${functionTimeoutMs}), so the function answers before Lambda stops it`,
    );
  }
  const neededSlack = functionTimeoutMs - requestDeadlineMs + 2 * MAX_CLOCK_SKEW_MS;
  if (leaseSlackMs < neededSlack) {
    problems.push(
      `leaseSlackMs ${leaseSlackMs} must be at least ${neededSlack} (function timeout − request deadline + twice the ${MAX_CLOCK_SKEW_MS} ms clock skew), or a lease could end while its holder is still fetching`,
    );
  }
  if (fetchReserveMs <= 0 || fetchReserveMs >= requestDeadlineMs) {
    problems.push(`fetchReserveMs ${fetchReserveMs} must be above 0 and below the request deadline`);
  }
  if (pollInitialMs <= 0 || pollMaxMs < pollInitialMs) {
    problems.push(`pollInitialMs must be above 0 and pollMaxMs at least pollInitialMs`);
  }
  if (storeBackoffMs <= 0) problems.push('storeBackoffMs must be above 0');
  return problems;
}

/**
 * Until when the writes that settle a request whose deadline is `requestDeadline` (epoch ms) may run
 * (`withSettlingDeadline` in `request-deadline.ts`): past the deadline by half the time between the
 * request deadline and the function timeout, at most 1 s, so the function still answers before Lambda
 * stops it.
 */
export function settlingEnd(timing: Timing, requestDeadline: number): number {
  return (
    requestDeadline + Math.min(1_000, Math.floor((timing.functionTimeoutMs - timing.requestDeadlineMs) / 2))
  );
}

/** The end of a lease taken by a request whose deadline is `requestDeadline` (epoch ms, the holder's clock). */
export function leaseEnd(timing: Timing, requestDeadline: number): number {
  return requestDeadline + timing.leaseSlackMs;
}
