import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  DEFAULT_CUSTOMER_ID,
  type IdentityCloudSimulator,
  parseSimulatorConfig,
  startIdentityCloudSimulator,
} from '../../src/simulator/identity-cloud';

const SPECIAL_SECRET = 's3cr+t:with%20 space';

/** RFC 6749 §2.3.1: form-urlencode, then join with ':' and Base64. */
function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

function basic(id: string, secret: string, encode = true): string {
  const pair = encode ? `${formEncode(id)}:${formEncode(secret)}` : `${id}:${secret}`;
  return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
}

interface Call {
  id?: string;
  secret?: string;
  scope?: string;
  grantType?: string;
  encode?: boolean;
  authorization?: string | null;
  contentType?: string;
  body?: string;
}

let sim: IdentityCloudSimulator;

async function post(call: Call = {}) {
  const params = new URLSearchParams({ grant_type: call.grantType ?? 'client_credentials' });
  if (call.scope !== undefined) params.set('scope', call.scope);
  const authorization =
    call.authorization === undefined
      ? basic(call.id ?? 'webhooks', call.secret ?? 'webhooks-secret', call.encode)
      : call.authorization;
  return request(sim.tokenEndpoint, {
    method: 'POST',
    headers: {
      'content-type': call.contentType ?? 'application/x-www-form-urlencoded',
      ...(authorization === null ? {} : { authorization }),
    },
    body: call.body ?? params.toString(),
  });
}

async function postJson(call: Call = {}) {
  const res = await post({ scope: '*:webhooks/**', ...call });
  return {
    status: res.statusCode,
    headers: res.headers,
    body: (await res.body.json()) as Record<string, unknown>,
  };
}

beforeEach(async () => {
  sim = await startIdentityCloudSimulator({
    clients: [
      { clientId: 'webhooks', clientSecret: 'webhooks-secret', allowedScopes: ['*:webhooks/**'] },
      {
        clientId: 'cfg client:1',
        clientSecret: SPECIAL_SECRET,
        allowedScopes: ['*:config/**', '.:webhooks/**'],
      },
      { clientId: 'short', clientSecret: 'short-secret', allowedScopes: ['*:**'], accessTokenLifetime: 900 },
    ],
  });
});

afterEach(async () => {
  await sim.close();
});

describe('token endpoint', () => {
  it('answers the seeds’ success shape', async () => {
    const res = await post({ scope: '*:webhooks/**' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = (await res.body.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    expect(body.access_token).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(body).toMatchObject({ expires_in: 3600, token_type: 'Bearer', scope: '*:webhooks/**' });
    expect(sim.tokenEndpoint).toBe(`${sim.url}/${DEFAULT_CUSTOMER_ID}/login/token`);
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sim.issuedTokens).toEqual([body.access_token]);
    expect(sim.tokenRequests).toBe(1);
  });

  it('issues a fresh token each time, with the policy’s lifetime', async () => {
    const a = await postJson();
    const b = await postJson();
    expect(a.body.access_token).not.toBe(b.body.access_token);
    const c = await postJson({ id: 'short', secret: 'short-secret', scope: '.:config/clients/x' });
    expect(c.body).toMatchObject({ expires_in: 900, scope: '.:config/clients/x' });
    expect(sim.issuedTokens).toHaveLength(3);
  });

  it('echoes several scopes as sent when each lies within the policy', async () => {
    const scope = '*:config/tokenPolicies** .:config/loginPolicies/abc .:webhooks/**';
    const res = await postJson({ id: 'cfg client:1', secret: SPECIAL_SECRET, scope });
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe(scope);
  });

  it('accepts a special-character id and secret only when form-urlencoded before Base64', async () => {
    const ok = await postJson({ id: 'cfg client:1', secret: SPECIAL_SECRET, scope: '.:config/**' });
    expect(ok.status).toBe(200);
    expect(ok.body.scope).toBe('.:config/**');

    // %20 for a space is also valid form-urlencoding.
    const pct = `${encodeURIComponent('cfg client:1')}:${encodeURIComponent(SPECIAL_SECRET)}`;
    const alt = await postJson({ authorization: `Basic ${Buffer.from(pct).toString('base64')}` });
    expect(alt.status).toBe(200);

    const raw = await postJson({
      id: 'cfg client:1',
      secret: SPECIAL_SECRET,
      encode: false,
      scope: '.:config/**',
    });
    expect(raw.status).toBe(401);
    expect(raw.body.error).toBe('invalid_client');
  });

  it.each([
    ['a wrong secret', basic('webhooks', 'nope')],
    ['an unknown client', basic('ghost', 'webhooks-secret')],
    ['no Authorization header', null],
    ['a Bearer header', 'Bearer abc'],
    ['malformed Base64', 'Basic !!!!'],
    ['no colon', `Basic ${Buffer.from('webhooks').toString('base64')}`],
    ['a bad percent escape', `Basic ${Buffer.from('webhooks:%zz').toString('base64')}`],
  ])('answers 401 invalid_client for %s', async (_name, authorization) => {
    const res = await postJson({ authorization });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
    expect(typeof res.body.error_description).toBe('string');
    expect(res.headers['www-authenticate']).toMatch(/^Basic realm="/);
    expect(sim.issuedTokens).toHaveLength(0);
  });

  it.each([
    ['outside the policy', '*:config/**'],
    ['partly outside the policy', '*:webhooks/** .:config/**'],
    ['wider access than the policy', '*:webhooks/**'],
  ])('answers a scope %s with 200 and an empty scope (Identity Cloud quirk)', async (_name, scope) => {
    const id = scope === '*:webhooks/**' ? 'cfg client:1' : 'webhooks';
    const secret = id === 'webhooks' ? 'webhooks-secret' : SPECIAL_SECRET;
    const res = await postJson({ id, secret, scope });
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('');
    expect(res.body.access_token).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(sim.issuedTokens).toEqual([res.body.access_token]);
  });

  it('refuses a grant type other than client_credentials', async () => {
    const res = await postJson({ grantType: 'password' });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('unsupported_grant_type');
  });

  it('refuses a missing or empty scope with invalid_request', async () => {
    const missing = await post({});
    expect(missing.statusCode).toBe(400);
    expect(((await missing.body.json()) as { error: string }).error).toBe('invalid_request');
    const empty = await postJson({ scope: '  ' });
    expect(empty.status).toBe(400);
    expect(empty.body.error).toBe('invalid_request');
  });

  it.each(['webhooks/**', 'x:webhooks/**'])(
    'refuses the unparsable scope %j with invalid_scope',
    async (scope) => {
      const res = await postJson({ scope });
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_scope');
    },
  );

  it('takes only a form-urlencoded body, each parameter once', async () => {
    const multipart = await postJson({ contentType: 'multipart/form-data; boundary=x' });
    expect(multipart.status).toBe(400);
    expect(multipart.body.error).toBe('invalid_request');
    const repeated = await postJson({ body: 'grant_type=client_credentials&scope=a&scope=b' });
    expect(repeated.status).toBe(400);
    expect(repeated.body.error).toBe('invalid_request');
    const charset = await postJson({ contentType: 'application/x-www-form-urlencoded; charset=UTF-8' });
    expect(charset.status).toBe(200);
  });

  it('answers 405 to other methods and 404 to another customer', async () => {
    const get = await request(sim.tokenEndpoint, { method: 'GET' });
    expect(get.statusCode).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect(((await get.body.json()) as { error: string }).error).toBeTypeOf('string');
    const other = await request(`${sim.url}/02000000-0000-3000-9000-000000000000/login/token`, {
      method: 'POST',
      headers: { authorization: basic('webhooks', 'webhooks-secret') },
      body: 'grant_type=client_credentials&scope=*:webhooks/**',
    });
    expect(other.statusCode).toBe(404);
    expect(((await other.body.json()) as { error: string }).error).toBeTypeOf('string');
    expect(sim.tokenRequests).toBe(0);
  });

  it('stops accepting the old secret at once after rotation', async () => {
    expect((await postJson()).status).toBe(200);
    sim.setClientSecret('webhooks', 'rotated');
    expect((await postJson()).status).toBe(401);
    expect((await postJson({ secret: 'rotated' })).status).toBe(200);
    expect(() => sim.setClientSecret('ghost', 'x')).toThrow();
  });

  it('adds and replaces clients with upsertClient', async () => {
    sim.upsertClient({
      clientId: 'new',
      clientSecret: 'n',
      allowedScopes: ['.:config/**'],
      accessTokenLifetime: 60,
    });
    const res = await postJson({ id: 'new', secret: 'n', scope: '.:config/x' });
    expect(res.body).toMatchObject({ expires_in: 60, scope: '.:config/x' });
    sim.upsertClient({ clientId: 'new', clientSecret: 'm', allowedScopes: ['*:webhooks/**'] });
    expect((await postJson({ id: 'new', secret: 'n' })).status).toBe(401);
    expect((await postJson({ id: 'new', secret: 'm' })).body.scope).toBe('*:webhooks/**');
  });

  it('counts every POST to the token endpoint, whatever its outcome, until reset', async () => {
    await postJson();
    await postJson({ secret: 'bad' });
    await postJson({ grantType: 'nope' });
    expect(sim.tokenRequests).toBe(3);
    sim.resetCounters();
    expect(sim.tokenRequests).toBe(0);
    expect(sim.issuedTokens).toHaveLength(1);
  });

  it('delays each answer by latencyMs', async () => {
    await sim.close();
    sim = await startIdentityCloudSimulator({
      clients: [{ clientId: 'webhooks', clientSecret: 'webhooks-secret', allowedScopes: ['*:webhooks/**'] }],
      latencyMs: 80,
    });
    const t0 = performance.now();
    expect((await postJson()).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(75);
  });

  it('serves another customer id when configured', async () => {
    await sim.close();
    sim = await startIdentityCloudSimulator({ customerId: 'abc-123', clients: [] });
    expect(sim.tokenEndpoint).toBe(`${sim.url}/abc-123/login/token`);
    expect((await postJson()).status).toBe(401);
  });
});

describe('faults', () => {
  it('answers a queued status fault, then behaves normally', async () => {
    sim.injectFaults(
      { kind: 'status', status: 503 },
      { kind: 'status', status: 429, headers: { 'Retry-After': '7' } },
    );
    const a = await postJson();
    expect(a.status).toBe(503);
    expect(a.body.error).toBe('temporarily_unavailable');
    const b = await postJson();
    expect(b.status).toBe(429);
    expect(b.headers['retry-after']).toBe('7');
    expect((await postJson()).status).toBe(200);
    expect(sim.tokenRequests).toBe(3);
    expect(sim.issuedTokens).toHaveLength(1);
  });

  it('sends a given status body as is', async () => {
    sim.injectFaults({ kind: 'status', status: 502, body: '<html>Bad Gateway</html>' });
    const res = await post({ scope: '*:webhooks/**' });
    expect(res.statusCode).toBe(502);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(await res.body.text()).toBe('<html>Bad Gateway</html>');
  });

  it('applies a persistent fault after the queued ones until cleared', async () => {
    sim.setPersistentFault({ kind: 'status', status: 500 });
    sim.injectFaults({ kind: 'empty-200' });
    const first = await post({ scope: '*:webhooks/**' });
    expect(first.statusCode).toBe(200);
    expect(await first.body.text()).toBe('');
    expect((await postJson()).status).toBe(500);
    expect((await postJson()).status).toBe(500);
    sim.setPersistentFault(undefined);
    expect((await postJson()).status).toBe(200);
  });

  it('rejects a malformed fault', () => {
    expect(() => sim.injectFaults({ kind: 'nope' } as never)).toThrow(TypeError);
    expect(() => sim.setPersistentFault({ kind: 'status', status: 99 })).toThrow(TypeError);
  });

  it('slow-headers: the status line comes only after the delay', async () => {
    sim.injectFaults({ kind: 'slow-headers', delayMs: 150 });
    const t0 = performance.now();
    const res = await post({ scope: '*:webhooks/**' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { scope: string }).scope).toBe('*:webhooks/**');
  });

  it('slow-body: headers come at once, the body after the delay', async () => {
    sim.injectFaults({ kind: 'slow-body', delayMs: 200 });
    const t0 = performance.now();
    const res = await post({ scope: '*:webhooks/**' });
    expect(res.statusCode).toBe(200);
    expect(performance.now() - t0).toBeLessThan(150);
    const body = JSON.parse(await res.body.text()) as { access_token: string };
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    expect(sim.issuedTokens).toEqual([body.access_token]);
  });

  it('reset-mid-body: the headers arrive, reading the body fails', async () => {
    sim.injectFaults({ kind: 'reset-mid-body' });
    const res = await post({ scope: '*:webhooks/**' });
    expect(res.statusCode).toBe(200);
    await expect(res.body.text()).rejects.toThrow();
    expect((await postJson()).status).toBe(200);
  });

  it('close-without-answer: the request fails without a response', async () => {
    sim.injectFaults({ kind: 'close-without-answer' });
    await expect(post({ scope: '*:webhooks/**' })).rejects.toThrow();
    expect(sim.tokenRequests).toBe(1);
  });

  it('non-json-200 and json-200 answer 200 with the given body', async () => {
    sim.injectFaults(
      { kind: 'non-json-200' },
      { kind: 'json-200', body: { access_token: 'planted-token', expires_in: -5, token_type: 'Bearer' } },
    );
    const a = await post({ scope: '*:webhooks/**' });
    expect(a.statusCode).toBe(200);
    const text = await a.body.text();
    expect(() => JSON.parse(text)).toThrow();
    const b = await postJson();
    expect(b.status).toBe(200);
    expect(b.body).toEqual({ access_token: 'planted-token', expires_in: -5, token_type: 'Bearer' });
    expect(sim.issuedTokens).toEqual(['planted-token']);
  });

  it.each([
    { kind: 'slow-headers', delayMs: 60_000 },
    { kind: 'slow-body', delayMs: 60_000 },
  ] as const)('close() does not hang on a stalled $kind request', async (fault) => {
    sim.injectFaults(fault);
    const pending = post({ scope: '*:webhooks/**' }).then((res) => res.body.text());
    const caught = pending.catch((error: unknown) => error);
    while (sim.tokenRequests === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    await sim.close();
    expect(performance.now() - t0).toBeLessThan(500);
    expect(await caught).toBeInstanceOf(Error);
  });
});

describe('admin endpoints', () => {
  async function admin(method: 'GET' | 'POST', path: string, body?: string) {
    const res = await request(`${sim.url}${path}`, { method, ...(body === undefined ? {} : { body }) });
    return { status: res.statusCode, text: await res.body.text() };
  }

  it('reports counts but never tokens, and resets them', async () => {
    const token = (await postJson()).body.access_token as string;
    await postJson({ secret: 'bad' });
    const stats = await admin('GET', '/_sim/stats');
    expect(stats.status).toBe(200);
    expect(JSON.parse(stats.text)).toEqual({ tokenRequests: 2, issued: 1 });
    expect(stats.text).not.toContain(token);
    expect((await admin('POST', '/_sim/reset')).status).toBe(200);
    expect(JSON.parse((await admin('GET', '/_sim/stats')).text)).toEqual({ tokenRequests: 0, issued: 0 });
    expect(sim.tokenRequests).toBe(0);
  });

  it('sets and clears the persistent fault', async () => {
    expect((await admin('POST', '/_sim/fault', JSON.stringify({ kind: 'status', status: 503 }))).status).toBe(
      200,
    );
    expect((await postJson()).status).toBe(503);
    expect((await postJson()).status).toBe(503);
    expect((await admin('POST', '/_sim/fault', '{}')).status).toBe(200);
    expect((await postJson()).status).toBe(200);
  });

  it('refuses a malformed fault and wrong methods', async () => {
    expect((await admin('POST', '/_sim/fault', '{"kind":"explode"}')).status).toBe(400);
    expect((await admin('POST', '/_sim/fault', 'not json')).status).toBe(400);
    expect((await admin('GET', '/_sim/fault')).status).toBe(405);
    expect((await admin('POST', '/_sim/stats')).status).toBe(405);
    expect((await postJson()).status).toBe(200);
  });
});

describe('configuration', () => {
  it('resolves token policies and inline scopes', () => {
    const options = parseSimulatorConfig({
      customerId: 'c-1',
      latencyMs: 50,
      tokenPolicies: { hooks: { allowedScopes: ['*:webhooks/**'], accessTokenLifetime: 1200 } },
      clients: [
        { clientId: 'a', clientSecret: 'sa', tokenPolicy: 'hooks' },
        { clientId: 'b', clientSecret: 'sb', allowedScopes: ['.:config/**'] },
      ],
    });
    expect(options).toEqual({
      customerId: 'c-1',
      latencyMs: 50,
      clients: [
        { clientId: 'a', clientSecret: 'sa', allowedScopes: ['*:webhooks/**'], accessTokenLifetime: 1200 },
        { clientId: 'b', clientSecret: 'sb', allowedScopes: ['.:config/**'] },
      ],
    });
  });

  it.each([
    [null],
    [{ clients: [] }],
    [{ clients: [{ clientId: 'a', clientSecret: 'top-secret', tokenPolicy: 'missing' }] }],
    [{ clients: [{ clientId: 'a', clientSecret: 'top-secret', allowedScopes: ['nonsense'] }] }],
    [{ clients: [{ clientId: 'a', clientSecret: 'top-secret', allowedScopes: [], accessTokenLifetime: 0 }] }],
  ])('refuses %j without echoing a secret', (document) => {
    expect(() => parseSimulatorConfig(document)).toThrow(/invalid simulator config/);
    try {
      parseSimulatorConfig(document);
    } catch (error) {
      expect((error as Error).message).not.toContain('top-secret');
    }
  });

  it('runs as a CLI that prints its URL and stops on SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ic-sim-'));
    try {
      const config = join(dir, 'sim.json');
      await writeFile(
        config,
        JSON.stringify({
          clients: [{ clientId: 'cli', clientSecret: 'cli-secret', allowedScopes: ['*:**'] }],
        }),
      );
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'src/simulator/main.ts', '--port', '0', '--config', config],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /identity-cloud simulator listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out);
          if (match?.[1]) resolve(match[1]);
        });
        child.on('exit', () => reject(new Error(`exited early: ${out}`)));
      });
      const res = await request(`${url}/${DEFAULT_CUSTOMER_ID}/login/token`, {
        method: 'POST',
        headers: {
          authorization: basic('cli', 'cli-secret'),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials&scope=.%3Aconfig%2F**',
      });
      expect(res.statusCode).toBe(200);
      expect(((await res.body.json()) as { scope: string }).scope).toBe('.:config/**');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
