/**
 * The harness both clients' behaviour tests run against (`behaviours.json`): `tvs serve`'s server in this
 * process (the real handler, an in-process table) over the Identity Cloud simulator, behind a proxy that
 * counts and can hold the requests that reach the service, with a small control API on the same port:
 *
 * - `POST /_harness/reset` — a new scenario: real time, upstream up, nothing held, requests forgotten
 * - `POST /_harness/clock {"at": ms}` — move the clock of the service and of Identity Cloud to `at`
 * - `POST /_harness/upstream {"down": bool}` — Identity Cloud answers every token request 503, or not
 * - `POST /_harness/hold {"on": bool}` — keep requests to the service waiting until released
 * - `GET /_harness/requests` — `{arrived, answered, bodies}` of the scenario's requests to `/v1/token`
 *
 * The clock is faked (`Date` only, advancing with real time) before the server starts, so every part of
 * the service reads it; a client outside this process follows it with an offset of its own clock.
 */
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type LocalServer, startLocalServer } from '@tvs/local/server';
import { type IdentityCloudSimulator, startIdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { vi } from 'vitest';
import { UNBOUNDED_MINTS } from './mint-bounds';
import { ORDERS, ORDERS_ARN, readBody, tempDir, writeJson } from './processes';

/** The simulated configuration client of the behaviours: 120 s tokens. */
const BEHAVIOUR_CLIENT = {
  clientId: 'behaviour00000000000000000000001',
  clientSecret: 'behaviour secret',
  allowedScopes: ['*:behaviour/**'],
  accessTokenLifetime: 120,
};

/** A running harness. */
export interface BehaviourHarness {
  /** Where clients send their requests (the proxy) and where the control API is. */
  readonly url: string;
  readonly sim: IdentityCloudSimulator;
  close(): Promise<void>;
}

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/** Start the harness; call {@link BehaviourHarness.close} when done (it restores the real clock). */
export async function startBehaviourHarness(): Promise<BehaviourHarness> {
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
  const sim = await startIdentityCloudSimulator({ clients: [{ ...BEHAVIOUR_CLIENT }] });
  const dir = await tempDir();
  await writeJson(dir.path, 'secrets.json', {
    'tvs/behaviour-us': {
      client_id: BEHAVIOUR_CLIENT.clientId,
      client_secret: BEHAVIOUR_CLIENT.clientSecret,
    },
  });
  const config = {
    clients: {
      'behaviour-us': {
        tokenEndpoint: sim.tokenEndpoint,
        secretId: 'tvs/behaviour-us',
        allowedScopes: ['*:behaviour/**'],
      },
    },
    grants: [{ principal: ORDERS_ARN, client: 'behaviour-us', scopes: ['.:behaviour/**'] }],
    local: {
      secretsFile: 'secrets.json',
      region: 'us-east-1',
      callers: { [ORDERS.accessKeyId]: { secretAccessKey: ORDERS.secretAccessKey, arn: ORDERS.arn } },
    },
  };
  const startServer = () =>
    startLocalServer({
      config,
      configDir: dir.path,
      port: 0,
      env: {},
      log: quiet,
      settings: UNBOUNDED_MINTS,
    });
  let server: LocalServer = await startServer();
  let target = new URL(server.url);

  let held: (() => void)[] = [];
  let holding = false;
  let arrived = 0;
  let answered = 0;
  const bodies: string[] = [];
  const control: Record<string, (body: Record<string, unknown>) => unknown> = {
    'POST /_harness/reset': async () => {
      vi.setSystemTime(vi.getRealSystemTime());
      sim.setPersistentFault(undefined);
      // A new service too: an upstream circuit an earlier scenario opened (at a clock this reset moved
      // back) would otherwise refuse this scenario's mints.
      await server.close();
      server = await startServer();
      target = new URL(server.url);
      holding = false;
      for (const release of held.splice(0)) release();
      arrived = 0;
      answered = 0;
      bodies.length = 0;
      return { now: Date.now() };
    },
    'POST /_harness/clock': (body) => {
      vi.setSystemTime(Number(body.at));
      return { now: Date.now() };
    },
    'GET /_harness/clock': () => ({ now: Date.now() }),
    'POST /_harness/upstream': (body) => {
      sim.setPersistentFault(body.down === true ? { kind: 'status', status: 503 } : undefined);
      return {};
    },
    'POST /_harness/hold': (body) => {
      holding = body.on === true;
      if (!holding) for (const release of held.splice(0)) release();
      return {};
    },
    'GET /_harness/requests': () => ({ arrived, answered, bodies }),
  };

  const proxy = createServer(async (req, res) => {
    const body = await readBody(req);
    const route = `${req.method} ${req.url}`;
    const handle = control[route];
    if (handle) {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(await handle(body ? (JSON.parse(body) as Record<string, unknown>) : {})));
      return;
    }
    const counted = req.url === '/v1/token';
    if (counted) {
      arrived++;
      bodies.push(body);
    }
    if (holding) await new Promise<void>((resolve) => held.push(resolve));
    // Headers go on unchanged, Host included, so the signature made for the proxy's address verifies.
    const forward = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.once('end', () => {
          if (counted) answered++;
        });
      },
    );
    forward.once('error', () => res.writeHead(502).end());
    forward.end(body);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  return {
    url,
    sim,
    async close() {
      holding = false;
      for (const release of held.splice(0)) release();
      held = [];
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await server.close();
      await sim.close();
      await dir.remove();
      vi.useRealTimers();
    },
  };
}
