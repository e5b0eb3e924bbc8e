/**
 * The calling page's curl example and its Python client example (the client installed with pip into a
 * virtual environment of its own, as a user installs it), run as written against `tvs serve` (a child
 * process, with the Identity Cloud simulator) and a small API on 127.0.0.1 that refuses the first token
 * it sees, so each example must report that token with `reject` and end with the API's 200. Each runs
 * against both front doors: `tvs serve` as the REST API (signed for `execute-api`, the examples' default)
 * and as a function URL (`--endpoint-kind function-url`, signed for `lambda` with `TVS_SIGNING_SERVICE`).
 *
 * The examples report a token seconds after it was minted: under the default bounds of upstream use (30 s
 * between forced mints of a key) the service would rightly answer 503, so `tvs serve` is started with the
 * bounds lifted in its environment, as a deployment sets them.
 *
 * The service is reached through a pass-through proxy that records request bodies, because `reject` is
 * not in the service's log. The proxy forwards headers unchanged, `Host` included, so the signatures
 * the examples make for its address verify at the server as they would at API Gateway.
 *
 * Nothing is skipped: a missing curl, jq, sha256sum or botocore fails the test with the install command.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ENDPOINT_KINDS, type EndpointKind, fingerprintOf, SIGNING_SERVICE } from '@tvs/client/contract';
import type { IdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UNBOUNDED_MINTS_ENV } from '../support/mint-bounds';
import {
  childEnv,
  closedPort,
  ORDERS,
  ROOT,
  readBody,
  type ServeProcess,
  SIMULATED,
  spawnChild,
  startServe,
  startTestSimulator,
  TEST_SECRETS,
  tempDir,
  testDocument,
  writeJson,
} from '../support/processes';
import { installPythonClient, type PythonClientEnv } from '../support/python-client';
import { recordTraffic } from '../support/traffic-log';

/** The document whose examples are run: docs/calling.md, "From any language". */
const DOCUMENT = 'docs/calling.md';

type Language = 'curl' | 'python';

/** The fenced block between `<!-- any-language:<language>:start -->` and `…:end -->` in {@link DOCUMENT}. */
function example(language: Language): string {
  const text = readFileSync(join(ROOT, DOCUMENT), 'utf8');
  const marker = `any-language:${language}`;
  const section = new RegExp(`<!-- ${marker}:start -->([\\s\\S]*?)<!-- ${marker}:end -->`).exec(text)?.[1];
  if (section === undefined)
    throw new Error(`${DOCUMENT} has no <!-- ${marker}:start --> … <!-- ${marker}:end -->`);
  const fences = [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)];
  const expected = language === 'curl' ? 'sh' : 'python';
  if (fences.length !== 1 || fences[0]?.[1] !== expected) {
    throw new Error(`${DOCUMENT}: the ${marker} section must hold exactly one \`\`\`${expected} block`);
  }
  return fences[0]?.[2] as string;
}

/** Fail, with the command that installs it, when a tool an example needs is missing. */
function requireTool(
  command: string,
  args: string[],
  install: string,
  accept = (_out: string) => true,
): void {
  const run = spawnSync(command, args, { encoding: 'utf8' });
  if (run.error !== undefined || run.status !== 0 || !accept(run.stdout)) {
    throw new Error(
      `\`${[command, ...args].join(' ')}\` failed: the examples need it. Install it: ${install}`,
    );
  }
}

/** curl 7.76 or later: `--aws-sigv4` came in 7.75, `--fail-with-body` in 7.76. */
function curlIsRecentEnough(versionOutput: string): boolean {
  const [major = 0, minor = 0] = (/^curl (\d+)\.(\d+)/.exec(versionOutput) ?? []).slice(1).map(Number);
  return major > 7 || (major === 7 && minor >= 76);
}

function requireTools(language: Language): void {
  if (language === 'curl') {
    requireTool('curl', ['--version'], 'apt-get install curl (7.76 or later)', curlIsRecentEnough);
    requireTool('jq', ['--version'], 'apt-get install jq');
    requireTool('sha256sum', ['--version'], 'apt-get install coreutils');
  } else {
    requireTool('python3', ['-c', 'import botocore'], 'pip install botocore');
  }
}

async function listen(server: ReturnType<typeof createServer>): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function stop(server: ReturnType<typeof createServer> | undefined): Promise<void> {
  if (!server?.listening) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A caller of the test server that signs with temporary credentials: it must send this session token. */
const SESSION_CALLER = {
  accessKeyId: 'AKIDTVSTESTSESSION01',
  secretAccessKey: 'test-session-secret-000000000000000000001',
  sessionToken: 'test-session-token/with+characters=that/need+care==',
  arn: 'arn:aws:sts::111111111111:assumed-role/orders/any-language-test',
};

/** `tvs serve` emulating one front door, and the recording proxy in front of it. */
interface FrontDoor {
  readonly serve: ServeProcess;
  readonly proxy: ReturnType<typeof createServer>;
  readonly proxyUrl: string;
}

let sim: IdentityCloudSimulator;
const doors = new Map<EndpointKind, FrontDoor>();
let workDir: string;
let removeDir: () => Promise<void>;
let apiServer: ReturnType<typeof createServer> | undefined;
let apiUrl: string;
let python: PythonClientEnv;
/** Bodies of the requests that reached the service, in order. */
const serviceRequests: { method: string; path: string; body: string }[] = [];
/** The bearer tokens the API was called with, in order, and what it answered. */
const apiCalls: { token: string; status: number }[] = [];
/** Everything the examples printed, for the leak scan. */
let exampleOutput = '';

beforeAll(async () => {
  python = await installPythonClient();
  sim = await startTestSimulator();
  const dir = await tempDir();
  removeDir = dir.remove;
  workDir = dir.path;
  await writeJson(dir.path, 'secrets.json', TEST_SECRETS);
  const document = testDocument({
    tokenEndpoint: sim.tokenEndpoint,
    downEndpoint: `http://127.0.0.1:${await closedPort()}/x/login/token`,
    secretsFile: 'secrets.json',
  });
  const { accessKeyId, ...sessionCaller } = SESSION_CALLER;
  const config = {
    ...document,
    local: { ...document.local, callers: { ...document.local.callers, [accessKeyId]: sessionCaller } },
  };
  const configPath = await writeJson(dir.path, 'tvs.config.json', config);
  for (const kind of ENDPOINT_KINDS) {
    const serve = await startServe(configPath, childEnv(UNBOUNDED_MINTS_ENV), ['--endpoint-kind', kind]);
    const target = new URL(serve.url);
    const proxy = createServer(async (req, res) => {
      const body = await readBody(req);
      serviceRequests.push({ method: req.method ?? '', path: req.url ?? '', body });
      const forward = httpRequest(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.once('error', () => res.writeHead(502).end());
      forward.end(body);
    });
    doors.set(kind, { serve, proxy, proxyUrl: await listen(proxy) });
  }

  // The API being called: 401 to the first token it sees, 200 to any other.
  apiServer = createServer((req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const status = token !== '' && token !== (apiCalls[0]?.token ?? token) ? 200 : 401;
    apiCalls.push({ token, status });
    req.resume();
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ status }));
  });
  apiUrl = `${await listen(apiServer)}/webhooks/v3/subscriptions`;
});

afterAll(async () => {
  await python?.remove();
  await stop(apiServer);
  for (const door of doors.values()) {
    await stop(door.proxy);
    await door.serve.stop();
  }
  await sim?.close();
  await removeDir?.();
  if (doors.size > 0 && sim) {
    const serverOutput = [...doors.values()].map((door) => door.serve.stdout() + door.serve.stderr());
    recordTraffic({
      source: `test/docs/calling.any-language.e2e.test.ts (the local servers and the examples of ${DOCUMENT})`,
      logs: serverOutput.join('') + exampleOutput,
      bodies: [],
      tokens: sim.issuedTokens,
      secrets: [
        ...Object.values(SIMULATED).map((client) => client.clientSecret),
        ORDERS.secretAccessKey,
        SESSION_CALLER.secretAccessKey,
        SESSION_CALLER.sessionToken,
      ],
    });
  }
});

beforeEach(() => {
  serviceRequests.length = 0;
  apiCalls.length = 0;
});

const CREDENTIALS = {
  'long-term keys': { AWS_ACCESS_KEY_ID: ORDERS.accessKeyId, AWS_SECRET_ACCESS_KEY: ORDERS.secretAccessKey },
  'a session token': {
    AWS_ACCESS_KEY_ID: SESSION_CALLER.accessKeyId,
    AWS_SECRET_ACCESS_KEY: SESSION_CALLER.secretAccessKey,
    AWS_SESSION_TOKEN: SESSION_CALLER.sessionToken,
  },
} as const;

const CASES: { language: Language; credentials: keyof typeof CREDENTIALS; kind: EndpointKind }[] =
  ENDPOINT_KINDS.flatMap((kind) => [
    { language: 'curl' as const, credentials: 'long-term keys' as const, kind },
    { language: 'curl' as const, credentials: 'a session token' as const, kind },
    { language: 'python' as const, credentials: 'long-term keys' as const, kind },
    { language: 'python' as const, credentials: 'a session token' as const, kind },
  ]);

describe(`the examples of ${DOCUMENT}`, () => {
  for (const { language, credentials, kind } of CASES) {
    it(`the ${language} example reports the refused token once with reject, then gets 200 (${credentials}, ${kind})`, async () => {
      requireTools(language);
      const door = doors.get(kind) as FrontDoor;
      const file = join(workDir, language === 'curl' ? 'example.sh' : 'example.py');
      writeFileSync(file, example(language));
      const env = childEnv({
        TVS_ENDPOINT: door.proxyUrl,
        // The REST API's service is the examples' default; a function URL's is said.
        ...(kind === 'function-url' ? { TVS_SIGNING_SERVICE: SIGNING_SERVICE[kind] } : {}),
        AWS_REGION: 'us-east-1',
        ...CREDENTIALS[credentials],
        API_URL: apiUrl,
        // Only the environment's credentials: no profile of whoever runs the tests.
        AWS_CONFIG_FILE: join(workDir, 'no-aws-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(workDir, 'no-aws-credentials'),
      });

      const child = spawnChild(language === 'curl' ? 'bash' : python.python, [file], { env, cwd: workDir });
      const code = await Promise.race([
        child.exited,
        new Promise<string>((resolve) => setTimeout(() => resolve('timed out'), 20_000)),
      ]);
      if (code === 'timed out') child.process.kill('SIGKILL');
      const printed = { code, stdout: child.stdout(), stderr: child.stderr() };
      exampleOutput += printed.stdout + printed.stderr;

      expect(printed).toEqual({ code: 0, stdout: 'API answered 200\n', stderr: '' });
      const [refused, replacement] = apiCalls.map((call) => call.token);
      expect(apiCalls.map((call) => call.status)).toEqual([401, 200]);
      expect(replacement).not.toBe(refused);
      expect(sim.issuedTokens).toContain(refused);
      expect(sim.issuedTokens.at(-1)).toBe(replacement);
      const tokenRequests = serviceRequests.map((request) => ({
        route: `${request.method} ${request.path}`,
        body: JSON.parse(request.body) as unknown,
      }));
      const wanted = { client: 'webhooks-us', scope: '.:webhooks/**' };
      expect(tokenRequests).toEqual([
        { route: 'POST /v1/token', body: wanted },
        { route: 'POST /v1/token', body: { ...wanted, reject: fingerprintOf(refused as string) } },
      ]);
      for (const secret of [refused, replacement, CREDENTIALS[credentials].AWS_SECRET_ACCESS_KEY]) {
        expect(printed.stdout + printed.stderr).not.toContain(secret);
      }
    });
  }
});
