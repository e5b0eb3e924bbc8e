/**
 * One worker process of the callers' comparison (`callers.ts`): two callers side by side, each asking
 * for a token every `intervalMs` from `startAt` to `endAt` — one through this service's client, one with
 * simple-oauth2 and the secret of its own, as its documentation caches a token. Each operation's wait
 * and outcome is recorded, with the fingerprint of the token handed out, and sent to the parent at the
 * end. Bundled by the parent and run with plain Node, so 16 of them start in a second.
 */
import { performance } from 'node:perf_hooks';
import { createTokenClient } from '@tvs/client';
import { fingerprintOf } from '@tvs/client/contract';
import { ClientCredentials } from 'simple-oauth2';

/** What the parent passes in `TVS_BENCH_WORKER` (JSON); the times come in a message once every worker is up. */
export interface WorkerPlan {
  readonly intervalMs: number;
  /** Pause after a failed operation before the next, ms (both sides). */
  readonly failurePauseMs: number;
  readonly service: {
    readonly endpoint: string;
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly client: string;
    readonly scope: string;
  };
  readonly peer: {
    readonly tokenHost: string;
    readonly tokenPath: string;
    readonly clientId: string;
    readonly clientSecret: string;
    readonly scope: string;
    /** simple-oauth2's `expired(window)`: refresh this long before the token's expiry, seconds. */
    readonly expirationWindowSeconds: number;
  };
}

/** One operation: when it started and ended (epoch ms), how long it waited, and what it got. */
export interface Operation {
  readonly startedAt: number;
  readonly waitMs: number;
  readonly ok: boolean;
  /** SHA-256 hex of the token handed out. */
  readonly fingerprint?: string;
  readonly retryAfter?: number;
}

/** When to run, epoch ms: sent by the parent once every worker has said it is ready. */
export interface WorkerStart {
  readonly startAt: number;
  readonly endAt: number;
}

export interface WorkerReport {
  readonly service: Operation[];
  readonly peer: Operation[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function loop(
  plan: WorkerPlan,
  times: WorkerStart,
  getToken: () => Promise<string>,
): Promise<Operation[]> {
  const operations: Operation[] = [];
  await sleep(times.startAt - Date.now());
  while (Date.now() < times.endAt) {
    const startedAt = Date.now();
    const started = performance.now();
    try {
      const token = await getToken();
      operations.push({
        startedAt,
        waitMs: performance.now() - started,
        ok: true,
        fingerprint: fingerprintOf(token),
      });
      await sleep(plan.intervalMs);
    } catch (error) {
      const retryAfter = (error as { retryAfter?: number }).retryAfter;
      operations.push({
        startedAt,
        waitMs: performance.now() - started,
        ok: false,
        ...(retryAfter === undefined ? {} : { retryAfter }),
      });
      await sleep(plan.failurePauseMs);
    }
  }
  return operations;
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.env.TVS_BENCH_WORKER ?? '') as WorkerPlan;
  const tokens = createTokenClient({
    endpoint: plan.service.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: plan.service.accessKeyId, secretAccessKey: plan.service.secretAccessKey },
  });
  const peer = new ClientCredentials({
    client: { id: plan.peer.clientId, secret: plan.peer.clientSecret },
    auth: { tokenHost: plan.peer.tokenHost, tokenPath: plan.peer.tokenPath },
  });
  // simple-oauth2's documented cache: keep the token, fetch a new one once it is within the window.
  let peerToken: Awaited<ReturnType<typeof peer.getToken>> | undefined;
  const times = await new Promise<WorkerStart>((resolve) => {
    process.once('message', (message) => resolve(message as WorkerStart));
    process.send?.('ready');
  });
  const [service, peerOperations] = await Promise.all([
    loop(
      plan,
      times,
      async () =>
        (await tokens.getToken({ client: plan.service.client, scope: plan.service.scope })).accessToken,
    ),
    loop(plan, times, async () => {
      if (peerToken === undefined || peerToken.expired(plan.peer.expirationWindowSeconds)) {
        peerToken = await peer.getToken({ scope: plan.peer.scope });
      }
      return String(peerToken.token.access_token);
    }),
  ]);
  const report: WorkerReport = { service, peer: peerOperations };
  process.send?.(report, () => process.exit(0));
}

await main();
