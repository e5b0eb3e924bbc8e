/**
 * One deadline for everything a request does. The flow (`vending-service.ts`) runs each request inside
 * {@link withRequestDeadline}; every call to DynamoDB, KMS and Secrets Manager passes
 * {@link requestSignal} to the SDK as its `abortSignal`, so the SDK's attempts and retries all end by the
 * request's deadline, and a dependency that does not answer in time fails like one that refused.
 *
 * The deadline travels in an `AsyncLocalStorage` rather than as a parameter because the calls that need
 * it sit behind interfaces that know nothing of requests (a record store, a data-key provider, a secret
 * source) and are shared by concurrent requests; work one request starts and others share (a data key, a
 * cached secret read) ends by the deadline of the request that started it. The signal is in real time
 * (`AbortSignal.timeout`), whatever clock the flow is given: it bounds waiting on the network.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { UpstreamUnavailableError } from '@tvs/client/contract';

const current = new AsyncLocalStorage<AbortSignal>();

/** Run `work` with a deadline `budgetMs` from now; calls made inside it end by then. */
export function withRequestDeadline<T>(budgetMs: number, work: () => Promise<T>): Promise<T> {
  return current.run(AbortSignal.timeout(Math.max(0, budgetMs)), work);
}

/**
 * Run `work` — the writes that settle what a request did: storing the token it minted, releasing its
 * lease, refunding a mint that minted nothing, the upstream circuit's record — with a deadline of its own,
 * `budgetMs` from now (what is left until `settlingEnd` in `timing.ts`), in place of the request's. An
 * upstream call may run until the request's deadline; the writes after it must still land, or a hanging
 * Identity Cloud would never open the circuit, an outage would spend the mint budget and a lease would
 * hold the key's other requests off. Outside a request, `work` runs as it is.
 */
export function withSettlingDeadline<T>(budgetMs: number, work: () => Promise<T>): Promise<T> {
  if (current.getStore() === undefined) return work();
  return current.run(AbortSignal.timeout(Math.max(0, budgetMs)), work);
}

/**
 * The abort signal of the running request's deadline, as SDK `send` options (`{ abortSignal }`), or no
 * options outside a request (the rotation's own steps, tests of a store alone).
 */
export function requestSignal(): { abortSignal?: AbortSignal } {
  const signal = current.getStore();
  return signal ? { abortSignal: signal } : {};
}

/** Throttling codes of the AWS services the function calls (DynamoDB, KMS, Secrets Manager). */
const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'RequestThrottled',
  'RequestThrottledException',
]);

/**
 * Whether an AWS SDK error is an outage of the dependency — it did not answer in time, could not be
 * reached, throttled, or failed on its side (5xx) — rather than a refusal that retrying cannot fix
 * (access denied, no such secret or key: a defect of the deployment). An error without an HTTP answer
 * (a refused connection, a reset, the deadline's abort) is an outage.
 */
export function isDependencyOutage(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, $fault, $metadata } = error as {
    name?: unknown;
    $fault?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  if (typeof name === 'string' && THROTTLING.has(name)) return true;
  if ($fault === 'server') return true;
  const status = $metadata?.httpStatusCode;
  if (typeof status !== 'number') return $fault !== 'client';
  return status === 429 || status >= 500;
}

/**
 * The 503 a caller sees when a dependency needed to mint (Secrets Manager) is out: `Retry-After: 1`,
 * the cause kept for the log.
 */
export function dependencyUnavailable(what: string, cause: unknown): UpstreamUnavailableError {
  const name = cause instanceof Error ? cause.name : 'Error';
  return new UpstreamUnavailableError(`${what} is unavailable (${name}); try again`, 'dependency', 1, {
    cause,
  });
}
