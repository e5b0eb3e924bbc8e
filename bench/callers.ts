/**
 * The callers' side of the service against what a team does without it, side by side in one run:
 * `WORKERS` processes, each with two callers asking for a token every `INTERVAL_MS` — one through this
 * service's client (two `tvs serve` processes on one moto table hold the secret), one with simple-oauth2
 * and a copy of the secret, caching its token as simple-oauth2's documentation shows (`expired(window)`).
 * Each side has its own Identity Cloud simulator: 30 s tokens, 100 ms latency, and the same outage (every
 * token request answered 503) at the same moment in the middle of the run.
 *
 * Figures per side: upstream requests; time-to-token p50/p99/p99.9/max in the steady phase; operations
 * that waited on the network; the longest wait during the outage; how long after the upstream's return
 * every worker was served again; tokens handed out that expire within 1 s (by the simulator's own
 * record of each token's expiry). Ratios are service ÷ peer. The goals are only reported, never asserted.
 *
 * Run alone: `npx tsx --conditions=tvs-source bench/callers.ts` (starts its own moto server); `npm run bench` runs it too.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fingerprintOf, sleep } from '@tvs/client/contract';
import { type IdentityCloudSimulator, startIdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { buildSync } from 'esbuild';
import { sendSigned } from '../packages/client/src/signed-request';
import { startMoto } from '../test/support/moto';
import type { Operation, WorkerPlan, WorkerReport } from './callers-worker';
import { startServe, stop } from './serve-process';

const ROOT = resolve(import.meta.dirname, '..');
const WORKERS = Number(process.env.BENCH_CALLER_WORKERS ?? 16);
const SERVE_PROCESSES = 2;
const TOKEN_LIFETIME_SECONDS = 30;
const UPSTREAM_LATENCY_MS = 100;
const INTERVAL_MS = 100;
const FAILURE_PAUSE_MS = 250;
/** simple-oauth2's `expired(window)`: its documentation's 300 s would refresh 30 s tokens every time. */
const PEER_EXPIRATION_WINDOW_SECONDS = 5;
const WARMUP_SECONDS = 3;
const STEADY_SECONDS = Number(process.env.BENCH_CALLER_STEADY_SECONDS ?? 35);
const OUTAGE_SECONDS = Number(process.env.BENCH_CALLER_OUTAGE_SECONDS ?? 35);
const AFTER_SECONDS = Number(process.env.BENCH_CALLER_AFTER_SECONDS ?? 15);
/** An operation waited on the network when it took longer than this (a memory hit takes well under 1 ms). */
const WAITED_MS = 20;
/** A token handed out with less than this left counts as expired: the caller could not use it. */
const USE_ALLOWANCE_MS = 1_000;

const CALLER = {
  accessKeyId: 'AKIDTVSBENCHCALLERS1',
  secretAccessKey: 'tvsBenchCallersSecretNotAnAwsSecret00001',
  arn: 'arn:aws:sts::111111111111:assumed-role/bench-callers/bench',
};
const SIM_CLIENT = {
  clientId: 'benchcallers000000000000000000001',
  clientSecret: 'bench callers secret',
  allowedScopes: ['*:bench/**'],
  accessTokenLifetime: TOKEN_LIFETIME_SECONDS,
};
const SCOPE = '.:bench/callers/**';

/** The figures of one side. */
export interface SideFigures {
  operations: number;
  upstream_requests: number;
  /** Of those, the ones made while the upstream was down (each one failed). */
  upstream_requests_in_outage: number;
  secret_in_processes: number;
  steady_p50_ms: number;
  steady_p99_ms: number;
  steady_p999_ms: number;
  steady_max_ms: number;
  waited_operations: number;
  failed_operations: number;
  outage_longest_wait_ms: number;
  recovery_ms: number;
  expired_tokens_handed_out: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

/** The worker bundled into one file for plain Node (tsx would take seconds per process on 2 cores). */
function bundleWorker(dir: string): string {
  const outfile = join(dir, 'callers-worker.mjs');
  buildSync({
    entryPoints: [join(ROOT, 'bench', 'callers-worker.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
  return outfile;
}

interface Timeline {
  readonly startAt: number;
  readonly steadyFrom: number;
  readonly outageFrom: number;
  readonly outageUntil: number;
  readonly endAt: number;
}

function figuresOf(
  reports: readonly Operation[][],
  sim: IdentityCloudSimulator,
  timeline: Timeline,
  secretHolders: number,
  inOutage: number,
): SideFigures {
  const expiry = new Map(sim.issuedTokens.map((token) => [fingerprintOf(token), sim.expiryOf(token)]));
  const all = reports.flat();
  const ended = (op: Operation) => op.startedAt + op.waitMs;
  const steady = all.filter(
    (op) => op.startedAt >= timeline.steadyFrom && op.startedAt < timeline.outageFrom,
  );
  const steadyWaits = steady.map((op) => op.waitMs);
  const outage = all.filter(
    (op) => op.startedAt >= timeline.outageFrom && op.startedAt < timeline.outageUntil,
  );
  // Per worker: from the upstream's return until the first token handed out after a failure.
  const recoveries = reports.map((ops) => {
    const before = ops.filter((op) => ended(op) < timeline.outageUntil).at(-1);
    if (before?.ok) return 0;
    const served = ops.find((op) => op.ok && ended(op) >= timeline.outageUntil);
    return served === undefined
      ? timeline.endAt - timeline.outageUntil
      : ended(served) - timeline.outageUntil;
  });
  const expired = all.filter((op) => {
    if (!op.ok || op.fingerprint === undefined) return false;
    const at = expiry.get(op.fingerprint);
    return at === undefined || at < ended(op) + USE_ALLOWANCE_MS;
  });
  return {
    operations: all.length,
    upstream_requests: sim.tokenRequests,
    upstream_requests_in_outage: inOutage,
    secret_in_processes: secretHolders,
    steady_p50_ms: round(percentile(steadyWaits, 50), 3),
    steady_p99_ms: round(percentile(steadyWaits, 99), 3),
    steady_p999_ms: round(percentile(steadyWaits, 99.9), 3),
    steady_max_ms: round(Math.max(0, ...steadyWaits), 3),
    waited_operations: all.filter((op) => op.waitMs > WAITED_MS).length,
    failed_operations: all.filter((op) => !op.ok).length,
    outage_longest_wait_ms: round(Math.max(0, ...outage.map((op) => op.waitMs)), 1),
    recovery_ms: Math.round(Math.max(0, ...recoveries)),
    expired_tokens_handed_out: expired.length,
  };
}

/** The comparison, against the moto server at `motoEndpoint`. */
export async function measureCallers(motoEndpoint: string, progress: (line: string) => void) {
  const serviceSim = await startIdentityCloudSimulator({
    clients: [{ ...SIM_CLIENT }],
    latencyMs: UPSTREAM_LATENCY_MS,
  });
  const peerSim = await startIdentityCloudSimulator({
    clients: [{ ...SIM_CLIENT }],
    latencyMs: UPSTREAM_LATENCY_MS,
  });
  const children: ChildProcess[] = [];
  try {
    const dir = mkdtempSync(join(tmpdir(), 'tvs-bench-callers-'));
    const secret = JSON.stringify({ client_id: SIM_CLIENT.clientId, client_secret: SIM_CLIENT.clientSecret });
    writeFileSync(join(dir, 'secrets.json'), JSON.stringify({ 'tvs/callers-us': secret }));
    const configPath = join(dir, 'tvs.config.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        clients: {
          'callers-us': {
            tokenEndpoint: serviceSim.tokenEndpoint,
            secretId: 'tvs/callers-us',
            allowedScopes: ['*:bench/**'],
          },
        },
        grants: [
          {
            principal: 'arn:aws:iam::111111111111:role/bench-callers',
            client: 'callers-us',
            scopes: ['*:bench/**'],
          },
        ],
        local: {
          secretsFile: 'secrets.json',
          region: 'us-east-1',
          callers: { [CALLER.accessKeyId]: { secretAccessKey: CALLER.secretAccessKey, arn: CALLER.arn } },
        },
      }),
    );
    progress(
      `callers: ${SERVE_PROCESSES} tvs serve processes on one table, the production bounds of upstream use`,
    );
    const serveEnv = {
      ...process.env,
      AWS_ENDPOINT_URL: motoEndpoint,
      TVS_TABLE_NAME: `tvs-bench-callers-${randomUUID().slice(0, 8)}`,
      POWERTOOLS_LOG_LEVEL: 'WARN',
      NODE_NO_WARNINGS: '1',
    };
    const servers = await Promise.all(
      Array.from({ length: SERVE_PROCESSES }, async () => {
        const server = await startServe(configPath, serveEnv);
        children.push(server.child);
        return server;
      }),
    );
    // Deployed, the service is warm: one token through each process (its secret, data key and table).
    for (const server of servers) {
      const answer = await sendSigned(
        { endpoint: server.url, region: 'us-east-1', credentials: CALLER },
        { method: 'POST', path: '/v1/token', body: JSON.stringify({ client: 'callers-us', scope: SCOPE }) },
      );
      if (answer.status !== 200) throw new Error(`warming tvs serve answered ${answer.status}`);
    }
    const worker = bundleWorker(dir);

    const reports = Array.from({ length: WORKERS }, (_, index) => {
      const plan: WorkerPlan = {
        intervalMs: INTERVAL_MS,
        failurePauseMs: FAILURE_PAUSE_MS,
        service: {
          endpoint: servers[index % SERVE_PROCESSES]?.url ?? '',
          accessKeyId: CALLER.accessKeyId,
          secretAccessKey: CALLER.secretAccessKey,
          client: 'callers-us',
          scope: SCOPE,
        },
        peer: {
          tokenHost: peerSim.url,
          tokenPath: new URL(peerSim.tokenEndpoint).pathname,
          clientId: SIM_CLIENT.clientId,
          clientSecret: SIM_CLIENT.clientSecret,
          scope: SCOPE,
          expirationWindowSeconds: PEER_EXPIRATION_WINDOW_SECONDS,
        },
      };
      const child = fork(worker, [], {
        env: { ...process.env, TVS_BENCH_WORKER: JSON.stringify(plan), NODE_NO_WARNINGS: '1' },
        execArgv: [],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      // The first message says the worker is up; the second is its report.
      const ready = new Promise<void>((up) => child.once('message', () => up()));
      const report = ready.then(
        () =>
          new Promise<WorkerReport>((done, fail) => {
            child.once('message', (message) => done(message as WorkerReport));
            child.once('exit', (code) =>
              fail(new Error(`a callers' worker exited with ${code} before reporting`)),
            );
          }),
      );
      report.catch(() => {});
      return { child, ready, report };
    });
    await Promise.all(reports.map((worker) => worker.ready));
    const startAt = Date.now() + 500;
    const timeline: Timeline = {
      startAt,
      steadyFrom: startAt + WARMUP_SECONDS * 1000,
      outageFrom: startAt + STEADY_SECONDS * 1000,
      outageUntil: startAt + (STEADY_SECONDS + OUTAGE_SECONDS) * 1000,
      endAt: startAt + (STEADY_SECONDS + OUTAGE_SECONDS + AFTER_SECONDS) * 1000,
    };
    progress(
      `callers: ${WORKERS} workers × (this service's client, simple-oauth2), a token every ${INTERVAL_MS} ms each, ` +
        `${TOKEN_LIFETIME_SECONDS} s tokens, ${UPSTREAM_LATENCY_MS} ms upstream; outage from ${STEADY_SECONDS} s for ${OUTAGE_SECONDS} s, then ${AFTER_SECONDS} s`,
    );
    for (const worker of reports) worker.child.send({ startAt, endAt: timeline.endAt });
    await sleep(startAt - Date.now());
    serviceSim.resetCounters();
    peerSim.resetCounters();
    await sleep(timeline.outageFrom - Date.now());
    progress('callers: outage — both upstreams answer every token request 503');
    const before = [serviceSim.tokenRequests, peerSim.tokenRequests];
    for (const sim of [serviceSim, peerSim]) sim.setPersistentFault({ kind: 'status', status: 503 });
    await sleep(timeline.outageUntil - Date.now());
    for (const sim of [serviceSim, peerSim]) sim.setPersistentFault(undefined);
    const [serviceInOutage, peerInOutage] = [
      serviceSim.tokenRequests - (before[0] ?? 0),
      peerSim.tokenRequests - (before[1] ?? 0),
    ];
    progress('callers: the upstreams are back');
    const done = await Promise.all(reports.map((worker) => worker.report));
    const throttled = servers
      .flatMap((server) => server.lines)
      .filter((line) => /throttled/i.test(String(line.message))).length;

    const service = figuresOf(
      done.map((report) => report.service),
      serviceSim,
      timeline,
      SERVE_PROCESSES,
      serviceInOutage,
    );
    const peer = figuresOf(
      done.map((report) => report.peer),
      peerSim,
      timeline,
      WORKERS,
      peerInOutage,
    );
    const ratio = (ours: number, theirs: number) => (theirs === 0 ? null : round(ours / theirs, 3));
    const ratios = Object.fromEntries(
      (Object.keys(service) as (keyof SideFigures)[]).map((name) => [name, ratio(service[name], peer[name])]),
    );
    const goals = {
      upstream_under_a_tenth_of_peer: service.upstream_requests < peer.upstream_requests / 10,
      steady_p999_no_worse_than_peer: service.steady_p999_ms <= peer.steady_p999_ms,
      no_expired_token: service.expired_tokens_handed_out === 0,
      outage_longest_wait_under_2_s: service.outage_longest_wait_ms < 2_000,
      every_worker_served_within_3_s_of_return: service.recovery_ms < 3_000,
    };
    for (const [name, met] of Object.entries(goals)) if (!met) progress(`callers: GOAL MISSED: ${name}`);
    return {
      workers: WORKERS,
      token_lifetime_s: TOKEN_LIFETIME_SECONDS,
      upstream_latency_ms: UPSTREAM_LATENCY_MS,
      interval_ms: INTERVAL_MS,
      peer_expiration_window_s: PEER_EXPIRATION_WINDOW_SECONDS,
      phases_s: {
        warmup: WARMUP_SECONDS,
        steady: STEADY_SECONDS,
        outage: OUTAGE_SECONDS,
        after: AFTER_SECONDS,
      },
      service,
      peer,
      service_over_peer: ratios,
      service_mint_throttled_log_lines: throttled,
      goals,
    };
  } finally {
    await Promise.all(children.map((child) => (child.exitCode === null ? stop(child) : undefined)));
    await serviceSim.close();
    await peerSim.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const moto = await startMoto();
  process.env.AWS_REGION ??= 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID ??= 'bench';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';
  try {
    const figures = await measureCallers(moto.endpoint, (line) => process.stderr.write(`bench: ${line}\n`));
    console.log(JSON.stringify(figures, null, 2));
  } finally {
    await moto.stop();
  }
}
