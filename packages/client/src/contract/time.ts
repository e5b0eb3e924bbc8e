/** Epoch milliseconds; injected wherever time matters so tests can move it. */
export type Clock = () => number;

/** Wait `ms` milliseconds (a timer; injectable as `(ms) => Promise<void>` where tests need control). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
