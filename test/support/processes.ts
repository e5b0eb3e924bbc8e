/**
 * Helpers for the end-to-end tests: `tvs serve` and `tvs token` as child processes, a test configuration
 * on disk, and an environment without stray AWS settings. Every process is stopped by its own pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { processTokenAnswer, sendSigned } from '@tvs/client';
import { type IdentityCloudSimulator, startIdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { freePort } from './moto';
import { recordTraffic } from './traffic-log';

/** The project root: children run from here, as a newcomer would. */
export const ROOT = resolve(import.meta.dirname, '..', '..');

export const ORDERS_ARN = 'arn:aws:iam::111111111111:role/orders';
export const STRANGER_ARN = 'arn:aws:sts::222222222222:assumed-role/somebody/session';

/** A caller known to the test servers. */
export interface TestCaller {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly arn: string;
}

export const ORDERS: TestCaller = {
  accessKeyId: 'AKIDTVSTESTORDERS001',
  secretAccessKey: 'test-orders-secret-0000000000000000000001',
  arn: ORDERS_ARN,
};
export const STRANGER: TestCaller = {
  accessKeyId: 'AKIDTVSTESTSTRANGER1',
  secretAccessKey: 'test-stranger-secret-00000000000000000001',
  arn: STRANGER_ARN,
};

/** The environment children get: this one without AWS endpoints, credentials or profiles, plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('AWS_') || name.startsWith('TVS_')) continue;
    env[name] = value;
  }
  return { ...env, POWERTOOLS_METRICS_DISABLED: 'true', AWS_EC2_METADATA_DISABLED: 'true', ...extra };
}

/** A temporary folder, removed by the returned function. */
export async function tempDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'tvs-e2e-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Write `document` as JSON into `dir/name` and return its path. */
export async function writeJson(dir: string, name: string, document: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `${JSON.stringify(document, null, 2)}\n`);
  return path;
}

/** A child process whose output is collected. */
export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or signal name) once the child has exited. */
  readonly exited: Promise<number | string>;
  /** Wait until stdout has a line matching `pattern`; rejects if the child exits or time runs out. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

/** Spawn a child with collected output. */
export function spawnChild(
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; detached?: boolean; cwd?: string },
): Child {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  return {
    process: child,
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitFor(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      let ended = false;
      exited.then(() => {
        ended = true;
      });
      for (;;) {
        const match = firstLineMatch(out, pattern);
        if (match) return match;
        if (ended || Date.now() > deadline) {
          throw new Error(
            `${ended ? 'exited' : 'timed out'} before printing ${pattern}\nstdout:\n${out}\nstderr:\n${err}`,
          );
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

/** The match of the first line of `text` that `pattern` matches. */
function firstLineMatch(text: string, pattern: RegExp): RegExpMatchArray | undefined {
  for (const line of text.split('\n')) {
    const match = line.match(pattern);
    if (match) return match;
  }
  return undefined;
}

/** `tvs serve` as a child process, listening. */
export interface ServeProcess extends Child {
  readonly url: string;
  /** SIGTERM, then wait for the exit; resolves with the exit code. */
  stop(): Promise<number | string>;
  /** The JSON log lines printed so far. */
  logLines(): Record<string, unknown>[];
  /** Wait until `count` log lines satisfy `predicate` (output arrives a little after the answer). */
  waitForLogLines(
    predicate: (line: Record<string, unknown>) => boolean,
    count?: number,
  ): Promise<Record<string, unknown>[]>;
}

/**
 * Node's arguments that run the `tvs` command from its TypeScript source (as `npm run tvs` does): the
 * repository's packages resolved to their sources, TypeScript through tsx. Append the command line.
 */
export const TVS_FROM_SOURCE: readonly string[] = Object.freeze([
  '--conditions=tvs-source',
  '--import',
  'tsx',
  'packages/client/src/cli/main.ts',
]);

/**
 * Start `tvs serve --config FILE --port 0 [args…]` (from its source, as `npm run tvs` would) and wait until it
 * listens.
 */
export async function startServe(
  configPath: string,
  env: NodeJS.ProcessEnv,
  args: readonly string[] = [],
): Promise<ServeProcess> {
  const child = spawnChild(
    process.execPath,
    [...TVS_FROM_SOURCE, 'serve', '--config', configPath, '--port', '0', ...args],
    { env },
  );
  const match = await child.waitFor(/^listening on (http:\/\/127\.0\.0\.1:\d+)$/);
  const url = match[1] as string;
  const logLines = () =>
    child
      .stdout()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    ...child,
    url,
    logLines,
    async waitForLogLines(predicate, count = 1) {
      const deadline = Date.now() + 5_000;
      for (;;) {
        const lines = logLines().filter(predicate);
        if (lines.length >= count || Date.now() > deadline) return lines;
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      if (child.process.exitCode === null && child.process.signalCode === null) {
        process.kill(child.pid, 'SIGTERM');
      }
      const killer = setTimeout(() => {
        if (child.process.exitCode === null) process.kill(child.pid, 'SIGKILL');
      }, 8_000);
      const code = await child.exited;
      clearTimeout(killer);
      return code;
    },
  };
}

/** The outcome of one CLI run. */
export interface CliRun {
  readonly code: number | string;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `tvs …` as a child process (from its source) as `caller`, or with no credentials at all. */
export async function runCli(
  args: string[],
  caller: TestCaller | undefined,
  extraEnv: Record<string, string> = {},
): Promise<CliRun> {
  const env = childEnv({
    ...(caller
      ? { AWS_ACCESS_KEY_ID: caller.accessKeyId, AWS_SECRET_ACCESS_KEY: caller.secretAccessKey }
      : {}),
    AWS_REGION: 'us-east-1',
    ...extraEnv,
  });
  const child = spawnChild(process.execPath, [...TVS_FROM_SOURCE, ...args], { env });
  const code = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

/** A TCP port nothing listens on (bound, then released). */
export { freePort as closedPort } from './moto';

/** Identity Cloud clients of the test simulator. */
export const SIMULATED = {
  webhooks: {
    clientId: 'e2ewebhooks000000000000000000001',
    clientSecret: 'e2e-webhooks-secret',
    allowedScopes: ['*:webhooks/**'],
  },
  config: {
    clientId: 'e2econfig00000000000000000000002',
    clientSecret: 'e2e config+secret:with%odd chars',
    allowedScopes: ['*:config/**'],
    accessTokenLifetime: 1200,
  },
  broken: {
    clientId: 'e2ebroken00000000000000000000003',
    clientSecret: 'the-real-secret',
    allowedScopes: ['*:webhooks/**'],
  },
} as const;

/**
 * The test configuration: one client per outcome. `webhooks-us` and `config-us` work; `broken-us` has a
 * wrong secret in the secrets file (502); `down-us` points at a port nothing listens on (503);
 * `missing-us` names a secret the file does not have (500).
 */
export function testDocument(options: { tokenEndpoint: string; downEndpoint: string; secretsFile: string }) {
  const webhooks = (client: string, secretId: string, tokenEndpoint = options.tokenEndpoint) => ({
    [client]: { tokenEndpoint, secretId, allowedScopes: ['*:webhooks/**'] },
  });
  return {
    clients: {
      ...webhooks('webhooks-us', 'tvs/webhooks-us'),
      'config-us': {
        tokenEndpoint: options.tokenEndpoint,
        secretId: 'tvs/config-us',
        allowedScopes: ['*:config/**'],
      },
      ...webhooks('broken-us', 'tvs/broken-us'),
      ...webhooks('down-us', 'tvs/webhooks-us', options.downEndpoint),
      ...webhooks('missing-us', 'tvs/not-in-the-file'),
    },
    grants: [
      { principal: ORDERS_ARN, client: 'webhooks-us', scopes: ['.:webhooks/**'] },
      { principal: ORDERS_ARN, client: 'config-us', scopes: ['*:config/**'] },
      { principal: ORDERS_ARN, client: 'broken-us', scopes: ['*:webhooks/**'] },
      { principal: ORDERS_ARN, client: 'down-us', scopes: ['*:webhooks/**'] },
      { principal: ORDERS_ARN, client: 'missing-us', scopes: ['*:webhooks/**'] },
    ],
    local: {
      secretsFile: options.secretsFile,
      region: 'us-east-1',
      callers: {
        [ORDERS.accessKeyId]: { secretAccessKey: ORDERS.secretAccessKey, arn: ORDERS.arn },
        [STRANGER.accessKeyId]: { secretAccessKey: STRANGER.secretAccessKey, arn: STRANGER.arn },
      },
    },
  };
}

/** What a `tvs serve` test starts from: a simulator, a folder holding the secrets file, the document. */
export interface ServeFixture {
  readonly sim: IdentityCloudSimulator;
  readonly dir: { path: string; remove: () => Promise<void> };
  /** {@link testDocument} for the simulator, its secrets file `secrets.json` in `dir`. */
  readonly document: ReturnType<typeof testDocument>;
}

/** Start a {@link ServeFixture}; close `sim` and remove `dir` when done. */
export async function serveFixture(): Promise<ServeFixture> {
  const sim = await startTestSimulator();
  const dir = await tempDir();
  await writeJson(dir.path, 'secrets.json', TEST_SECRETS);
  const document = testDocument({
    tokenEndpoint: sim.tokenEndpoint,
    downEndpoint: `http://127.0.0.1:${await freePort()}/x/login/token`,
    secretsFile: 'secrets.json',
  });
  return { sim, dir, document };
}

/** An Identity Cloud simulator with the {@link SIMULATED} clients (copied: tests may rotate their secrets). */
export function startTestSimulator(): Promise<IdentityCloudSimulator> {
  return startIdentityCloudSimulator({
    clients: Object.values(SIMULATED).map((client) => ({
      ...client,
      allowedScopes: [...client.allowedScopes],
    })),
  });
}

/** The secrets file matching {@link SIMULATED}, with a wrong secret for `broken-us`. */
export const TEST_SECRETS = {
  'tvs/webhooks-us': {
    client_id: SIMULATED.webhooks.clientId,
    client_secret: SIMULATED.webhooks.clientSecret,
  },
  // The secret's JSON string, as Secrets Manager holds it: the file takes both forms.
  'tvs/config-us': JSON.stringify({
    client_id: SIMULATED.config.clientId,
    client_secret: SIMULATED.config.clientSecret,
  }),
  'tvs/broken-us': { client_id: SIMULATED.broken.clientId, client_secret: 'a-stale-secret' },
};

/**
 * Record the traffic of a {@link serveFixture}'s `tvs serve` for the leak scan: its output (and `logs`
 * more), the tokens its simulator issued, and every secret in play — the clients', the stale one of
 * `broken-us`, and the callers' secret keys.
 */
export function recordServeTraffic(
  source: string,
  serve: Pick<ServeProcess, 'stdout' | 'stderr'>,
  sim: IdentityCloudSimulator,
  logs = '',
): void {
  recordTraffic({
    source,
    logs: serve.stdout() + serve.stderr() + logs,
    bodies: [],
    tokens: sim.issuedTokens,
    secrets: [
      ...Object.values(SIMULATED).map((client) => client.clientSecret),
      TEST_SECRETS['tvs/broken-us'].client_secret,
      ORDERS.secretAccessKey,
      STRANGER.secretAccessKey,
    ],
  });
}

/** A request's whole body, as text (for the small servers the tests stand up). */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

/**
 * Ask `server`, as {@link ORDERS}, for a webhooks-us token of a scope never asked before: a real mint
 * with the secret the server holds. Answers the status (a 200's body is checked as the client checks it).
 */
export async function mintFresh(server: { url: string }): Promise<number> {
  const answer = await sendSigned(
    { endpoint: server.url, region: 'us-east-1', credentials: ORDERS },
    {
      method: 'POST',
      path: '/v1/token',
      body: JSON.stringify({ client: 'webhooks-us', scope: `*:webhooks/${randomUUID()}/**` }),
    },
  );
  if (answer.status === 200) processTokenAnswer(answer);
  return answer.status;
}

/** `tvs serve` processes sharing one moto table, as Lambda containers share the deployed one. */
export interface SharedTableServers {
  readonly sim: IdentityCloudSimulator;
  readonly servers: readonly ServeProcess[];
  readonly tableName: string;
  /** Stop the servers and the simulator, remove the files. */
  close(): Promise<void>;
}

/**
 * Start `count` `tvs serve` processes at once, in endpoint mode against moto at `motoEndpoint`, on one
 * table of a fresh name (they create or find it without tripping over each other), with the
 * {@link testDocument} configuration and a simulator of the webhooks client.
 */
export async function startServersOnOneTable(
  motoEndpoint: string,
  count: number,
): Promise<SharedTableServers> {
  const sim = await startIdentityCloudSimulator({
    clients: [{ ...SIMULATED.webhooks, allowedScopes: ['*:webhooks/**'] }],
  });
  const dir = await tempDir();
  const secretsFile = await writeJson(dir.path, 'secrets.json', TEST_SECRETS);
  const configPath = await writeJson(
    dir.path,
    'tvs.config.json',
    testDocument({
      tokenEndpoint: sim.tokenEndpoint,
      downEndpoint: `http://127.0.0.1:${await freePort()}/x/login/token`,
      secretsFile,
    }),
  );
  const tableName = `tvs-e2e-${randomUUID().slice(0, 8)}`;
  const env = childEnv({
    AWS_ENDPOINT_URL: motoEndpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    TVS_TABLE_NAME: tableName,
  });
  const servers = await Promise.all(Array.from({ length: count }, () => startServe(configPath, env)));
  return {
    sim,
    servers,
    tableName,
    async close() {
      await Promise.all(servers.map((server) => server.stop()));
      await sim.close();
      await dir.remove();
    },
  };
}
