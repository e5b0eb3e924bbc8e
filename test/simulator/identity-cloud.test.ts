import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  DEFAULT_CUSTOMER_ID,
  type IdentityCloudSimulator,
  parseSimulatorConfig,
  startIdentityCloudSimulator,
} from '@tvs/simulator/identity-cloud';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

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
  it('answers the documented success shape', async () => {
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
    expect(JSON.parse(stats.text)).toEqual({
      tokenRequests: 2,
      issued: 1,
      resetRequests: 0,
      secretResets: 0,
    });
    expect(stats.text).not.toContain(token);
    expect((await admin('POST', '/_sim/reset')).status).toBe(200);
    expect(JSON.parse((await admin('GET', '/_sim/stats')).text)).toEqual({
      tokenRequests: 0,
      issued: 0,
      resetRequests: 0,
      secretResets: 0,
    });
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

describe('secret reset', () => {
  const ROTATOR = { id: 'rotator', secret: 'rotator-secret' };
  const LIFETIME_S = 600;
  let clock: number;

  beforeEach(async () => {
    await sim.close();
    clock = Date.UTC(2030, 0, 1);
    sim = await startIdentityCloudSimulator({
      now: () => clock,
      clients: [
        { clientId: 'webhooks', clientSecret: 'webhooks-secret', allowedScopes: ['*:webhooks/**'] },
        { clientId: 'other', clientSecret: 'other-secret', allowedScopes: ['*:webhooks/**'] },
        {
          clientId: ROTATOR.id,
          clientSecret: ROTATOR.secret,
          allowedScopes: ['*:config/**'],
          accessTokenLifetime: LIFETIME_S,
        },
      ],
    });
  });

  /** A token from the token endpoint, granted exactly `scope`. */
  async function mint(scope: string, client = ROTATOR): Promise<string> {
    const res = await postJson({ id: client.id, secret: client.secret, scope });
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe(scope);
    return res.body.access_token as string;
  }

  async function resetSecret(clientId: string, authorization: string | null) {
    const res = await request(sim.secretEndpoint(clientId), {
      method: 'POST',
      headers: authorization === null ? {} : { authorization },
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      body: JSON.parse(text) as Record<string, unknown>,
    };
  }

  /** The status the token endpoint answers to `webhooks` with this secret. */
  async function webhooksLogin(secret: string): Promise<number> {
    return (await postJson({ id: 'webhooks', secret })).status;
  }

  it('answers 201 with a new secret, not to be cached, to a token scoped *:config/**', async () => {
    const token = await mint('*:config/**');
    const res = await resetSecret('webhooks', `Bearer ${token}`);
    expect(sim.secretEndpoint('webhooks')).toBe(
      `${sim.url}/${DEFAULT_CUSTOMER_ID}/config/clients/webhooks/secret`,
    );
    expect(res.status).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(Object.keys(res.body)).toEqual(['secret']);
    const secret = res.body.secret as string;
    expect(secret).toHaveLength(43);
    // Every generated secret needs form-urlencoding in a Basic header.
    expect(secret).toMatch(/\+/);
    expect(secret).toMatch(/%/);
    expect(secret).toMatch(/:/);
    expect(sim.issuedSecrets).toEqual([secret]);
  });

  it('makes the old secret fail with invalid_client at once and the new one work, form-urlencoded', async () => {
    const token = await mint('*:config/**');
    const secret = (await resetSecret('webhooks', `Bearer ${token}`)).body.secret as string;
    const old = await postJson({ id: 'webhooks', secret: 'webhooks-secret' });
    expect(old.status).toBe(401);
    expect(old.body.error).toBe('invalid_client');
    expect(await webhooksLogin(secret)).toBe(200);
    const raw = await postJson({ id: 'webhooks', secret, encode: false });
    expect(raw.status).toBe(401);
    // The other clients keep their secrets.
    expect((await postJson({ id: 'other', secret: 'other-secret' })).status).toBe(200);
  });

  it('gives a different secret on each reset', async () => {
    const token = await mint('*:config/**');
    const first = (await resetSecret('webhooks', `Bearer ${token}`)).body.secret as string;
    const second = (await resetSecret('webhooks', `Bearer ${token}`)).body.secret as string;
    expect(second).not.toBe(first);
    expect(sim.issuedSecrets).toEqual([first, second]);
    expect(await webhooksLogin(first)).toBe(401);
    expect(await webhooksLogin(second)).toBe(200);
  });

  it('keeps tokens minted before a reset valid: they reset again, even after their own client’s reset', async () => {
    const token = await mint('*:config/**');
    expect((await resetSecret('webhooks', `Bearer ${token}`)).status).toBe(201);
    // The rotator's own secret: its token stays valid although the secret that minted it is gone.
    const own = await resetSecret(ROTATOR.id, `Bearer ${token}`);
    expect(own.status).toBe(201);
    expect((await postJson({ id: ROTATOR.id, secret: ROTATOR.secret, scope: '*:config/**' })).status).toBe(
      401,
    );
    const again = await resetSecret('webhooks', `Bearer ${token}`);
    expect(again.status).toBe(201);
    expect(await webhooksLogin(again.body.secret as string)).toBe(200);
    expect(sim.secretResets).toBe(3);
  });

  it('answers 403 insufficient_scope to a read-only .:config/** token and leaves the secret', async () => {
    const token = await mint('.:config/**');
    const res = await resetSecret('webhooks', `Bearer ${token}`);
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('insufficient_scope');
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="identity-cloud-simulator", error="insufficient_scope", scope="*:config/clients/webhooks"',
    );
    expect(await webhooksLogin('webhooks-secret')).toBe(200);
    expect(sim.issuedSecrets).toEqual([]);
  });

  it('answers 403 to a token for *:config/clients/other, which resets other but not webhooks', async () => {
    const token = await mint('*:config/clients/other');
    const webhooks = await resetSecret('webhooks', `Bearer ${token}`);
    expect(webhooks.status).toBe(403);
    expect(webhooks.body.error).toBe('insufficient_scope');
    expect(await webhooksLogin('webhooks-secret')).toBe(200);
    expect((await resetSecret('other', `Bearer ${token}`)).status).toBe(201);
  });

  it('answers 403 to a token whose scope the token policy refused (it was granted no scope)', async () => {
    const res = await postJson({ id: 'webhooks', secret: 'webhooks-secret', scope: '*:config/**' });
    expect(res.body.scope).toBe('');
    expect((await resetSecret('other', `Bearer ${res.body.access_token as string}`)).status).toBe(403);
  });

  it('refuses, fail closed, a client id that cannot stand in a scope path, even to *:config/**', async () => {
    sim.upsertClient({ clientId: 'a*', clientSecret: 'glob-secret', allowedScopes: ['*:webhooks/**'] });
    const token = await mint('*:config/**');
    const res = await resetSecret('a*', `Bearer ${token}`);
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="identity-cloud-simulator", error="insufficient_scope"',
    );
    expect(sim.issuedSecrets).toEqual([]);
  });

  it.each([
    ['no Authorization header', null, 'Bearer realm="identity-cloud-simulator"'],
    ['a Basic header', basic(ROTATOR.id, ROTATOR.secret), 'Bearer realm="identity-cloud-simulator"'],
    [
      'a token it never issued',
      'Bearer bm90LWEtdG9rZW4tdGhpcy1zaW11bGF0b3ItaXNzdWVk',
      'Bearer realm="identity-cloud-simulator", error="invalid_token"',
    ],
  ])('answers 401 invalid_token to %s', async (_name, authorization, challenge) => {
    await mint('*:config/**');
    const res = await resetSecret('webhooks', authorization);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_token');
    expect(typeof res.body.error_description).toBe('string');
    expect(res.headers['www-authenticate']).toBe(challenge);
    expect(await webhooksLogin('webhooks-secret')).toBe(200);
  });

  it('answers 401 invalid_token once the token’s lifetime has passed on the injected clock', async () => {
    const token = await mint('*:config/**');
    clock += LIFETIME_S * 1000 - 1;
    expect((await resetSecret('other', `Bearer ${token}`)).status).toBe(201);
    clock += 1;
    const res = await resetSecret('webhooks', `Bearer ${token}`);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_token');
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="identity-cloud-simulator", error="invalid_token"',
    );
    expect(await webhooksLogin('webhooks-secret')).toBe(200);
    // A token minted now lives from now.
    expect((await resetSecret('webhooks', `Bearer ${await mint('*:config/**')}`)).status).toBe(201);
  });

  it('answers 404 to a reset of an unknown client by a token that covers it', async () => {
    const token = await mint('*:config/**');
    const res = await resetSecret('ghost', `Bearer ${token}`);
    expect(res.status).toBe(404);
    expect(res.body.error).toBeTypeOf('string');
    expect(sim.issuedSecrets).toEqual([]);
  });

  it('answers 405 to other methods, without counting them', async () => {
    const token = await mint('*:config/**');
    for (const method of ['PUT', 'DELETE'] as const) {
      const res = await request(sim.secretEndpoint('webhooks'), {
        method,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.statusCode).toBe(405);
      expect(res.headers.allow).toBe('GET, POST');
      await res.body.dump();
    }
    expect(sim.resetRequests).toBe(0);
    expect(await webhooksLogin('webhooks-secret')).toBe(200);
  });

  it('answers GET with the live secret, after a reset too, to a token covering .:config/clients/<id>', async () => {
    const token = await mint('*:config/clients/webhooks');
    const read = async (authorization: string) => {
      const res = await request(sim.secretEndpoint('webhooks'), {
        method: 'GET',
        headers: { authorization },
      });
      return { status: res.statusCode, body: JSON.parse(await res.body.text()) as Record<string, unknown> };
    };

    expect(await read(`Bearer ${token}`)).toEqual({ status: 200, body: { secret: 'webhooks-secret' } });
    const reset = (await resetSecret('webhooks', `Bearer ${token}`)).body.secret;
    expect(await read(`Bearer ${token}`)).toEqual({ status: 200, body: { secret: reset } });
    expect(sim.secretReads).toBe(2);
    expect(sim.resetRequests).toBe(1);
    // A token for another client's reset does not read this one.
    expect((await read(`Bearer ${await mint('*:config/clients/other')}`)).status).toBe(403);
    expect((await read('Bearer not-a-token')).status).toBe(401);
  });

  it('lets a reset with a lands-late fault take effect only after the wait, answered or not', async () => {
    const token = await mint('*:config/**');
    sim.injectResetFaults({ kind: 'lands-late', delayMs: 300 });
    const controller = new AbortController();
    const pending = request(sim.secretEndpoint('webhooks'), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      signal: controller.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    await expect(pending).rejects.toThrow();

    expect(await webhooksLogin('webhooks-secret')).toBe(200); // not landed yet
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(sim.secretResets).toBe(1);
    expect(await webhooksLogin('webhooks-secret')).toBe(401);
    expect(await webhooksLogin(sim.issuedSecrets.at(-1) as string)).toBe(200);
  });

  it('counts every reset request and, apart, the resets that took effect, until reset', async () => {
    const token = await mint('*:config/**');
    const secret = (await resetSecret('webhooks', `Bearer ${token}`)).body.secret as string;
    await resetSecret('webhooks', null);
    await resetSecret('ghost', `Bearer ${token}`);
    sim.injectResetFaults({ kind: 'close-after-reset' });
    await expect(resetSecret('other', `Bearer ${token}`)).rejects.toThrow();
    expect(sim.resetRequests).toBe(4);
    expect(sim.secretResets).toBe(2);
    expect(sim.tokenRequests).toBe(1);
    const stats = await request(`${sim.url}/_sim/stats`);
    const text = await stats.body.text();
    expect(JSON.parse(text)).toEqual({ tokenRequests: 1, issued: 1, resetRequests: 4, secretResets: 2 });
    expect(text).not.toContain(secret);
    sim.resetCounters();
    expect([sim.resetRequests, sim.secretResets]).toEqual([0, 0]);
    expect(sim.issuedSecrets).toHaveLength(2);
    expect(sim.issuedSecrets[0]).toBe(secret);
  });
});

describe('secret reset faults', () => {
  let token: string;

  beforeEach(async () => {
    sim.upsertClient({ clientId: 'rotator', clientSecret: 'rotator-secret', allowedScopes: ['*:config/**'] });
    const res = await postJson({ id: 'rotator', secret: 'rotator-secret', scope: '*:config/**' });
    token = res.body.access_token as string;
  });

  async function reset(clientId = 'webhooks') {
    return request(sim.secretEndpoint(clientId), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
  }

  async function webhooksLogin(secret: string): Promise<number> {
    return (await postJson({ id: 'webhooks', secret })).status;
  }

  it('answers a queued status fault without resetting, then behaves normally', async () => {
    sim.injectResetFaults(
      { kind: 'status', status: 503 },
      { kind: 'status', status: 429, headers: { 'Retry-After': '7' } },
    );
    // Reset faults leave the token endpoint alone.
    expect(await webhooksLogin('webhooks-secret')).toBe(200);
    const a = await reset();
    expect(a.statusCode).toBe(503);
    expect(((await a.body.json()) as { error: string }).error).toBe('temporarily_unavailable');
    const b = await reset();
    expect(b.statusCode).toBe(429);
    expect(b.headers['retry-after']).toBe('7');
    await b.body.dump();
    expect(await webhooksLogin('webhooks-secret')).toBe(200);
    expect(sim.issuedSecrets).toEqual([]);
    const c = await reset();
    expect(c.statusCode).toBe(201);
    expect(((await c.body.json()) as { secret: string }).secret).toBe(sim.issuedSecrets[0]);
    expect([sim.resetRequests, sim.secretResets]).toEqual([3, 1]);
  });

  it('answers a 401 status fault with a Bearer challenge and invalid_token', async () => {
    sim.injectResetFaults({ kind: 'status', status: 401 });
    const res = await reset();
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer .*error="invalid_token"/);
    expect(((await res.body.json()) as { error: string }).error).toBe('invalid_token');
  });

  it('close-before-reset: no answer, and the secret is unchanged', async () => {
    sim.injectResetFaults({ kind: 'close-before-reset' });
    await expect(reset()).rejects.toThrow();
    expect(await webhooksLogin('webhooks-secret')).toBe(200);
    expect(sim.issuedSecrets).toEqual([]);
    expect([sim.resetRequests, sim.secretResets]).toEqual([1, 0]);
  });

  it('close-after-reset: no answer, yet the secret changed to one only issuedSecrets knows', async () => {
    sim.injectResetFaults({ kind: 'close-after-reset' });
    await expect(reset()).rejects.toThrow();
    expect(await webhooksLogin('webhooks-secret')).toBe(401);
    expect(sim.issuedSecrets).toHaveLength(1);
    expect(await webhooksLogin(sim.issuedSecrets[0] as string)).toBe(200);
    expect([sim.resetRequests, sim.secretResets]).toEqual([1, 1]);
  });

  it('close-after-reset does not reset a secret the request was not allowed to reset', async () => {
    const readOnly = (await postJson({ id: 'rotator', secret: 'rotator-secret', scope: '.:config/**' })).body
      .access_token as string;
    sim.injectResetFaults({ kind: 'close-after-reset' });
    const pending = request(sim.secretEndpoint('webhooks'), {
      method: 'POST',
      headers: { authorization: `Bearer ${readOnly}` },
    });
    await expect(pending).rejects.toThrow();
    expect(await webhooksLogin('webhooks-secret')).toBe(200);
    expect(sim.secretResets).toBe(0);
  });

  it('slow-headers: the new secret is live before the late answer brings it', async () => {
    sim.injectResetFaults({ kind: 'slow-headers', delayMs: 300 });
    let answered = false;
    const pending = reset().then(async (res) => {
      answered = true;
      return { status: res.statusCode, body: (await res.body.json()) as { secret: string } };
    });
    while (sim.secretResets === 0) await new Promise((r) => setTimeout(r, 5));
    expect(await webhooksLogin('webhooks-secret')).toBe(401);
    expect(answered).toBe(false);
    const res = await pending;
    expect(res.status).toBe(201);
    expect(res.body.secret).toBe(sim.issuedSecrets[0]);
    expect(await webhooksLogin(res.body.secret)).toBe(200);
  });

  it('reset-mid-body: a 201 arrives but not its whole secret, which is nonetheless live', async () => {
    sim.injectResetFaults({ kind: 'reset-mid-body' });
    const res = await reset();
    expect(res.statusCode).toBe(201);
    await expect(res.body.text()).rejects.toThrow();
    expect(await webhooksLogin('webhooks-secret')).toBe(401);
    expect(await webhooksLogin(sim.issuedSecrets[0] as string)).toBe(200);
  });

  it('applies a persistent reset fault after the queued ones until cleared', async () => {
    sim.setPersistentResetFault({ kind: 'status', status: 500 });
    sim.injectResetFaults({ kind: 'status', status: 502 });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const res = await reset();
      statuses.push(res.statusCode);
      await res.body.dump();
    }
    expect(statuses).toEqual([502, 500, 500]);
    expect(await webhooksLogin('webhooks-secret')).toBe(200);
    sim.setPersistentResetFault(undefined);
    const ok = await reset();
    expect(ok.statusCode).toBe(201);
    await ok.body.dump();
  });

  it('keeps token faults and reset faults apart', async () => {
    sim.injectFaults({ kind: 'status', status: 503 });
    sim.injectResetFaults({ kind: 'status', status: 500 });
    const resetRes = await reset();
    expect(resetRes.statusCode).toBe(500);
    await resetRes.body.dump();
    expect(await webhooksLogin('webhooks-secret')).toBe(503);
    const ok = await reset();
    expect(ok.statusCode).toBe(201);
    await ok.body.dump();
  });

  it('rejects a malformed reset fault, and a token-only kind', () => {
    expect(() => sim.injectResetFaults({ kind: 'empty-200' } as never)).toThrow(TypeError);
    expect(() => sim.setPersistentResetFault({ kind: 'status', status: 700 })).toThrow(TypeError);
    expect(() => sim.injectResetFaults({ kind: 'slow-headers', delayMs: -1 })).toThrow(TypeError);
  });

  it('takes the reset endpoint’s persistent fault over HTTP, apart from the token endpoint’s', async () => {
    const admin = async (body: unknown) => {
      const res = await request(`${sim.url}/_sim/fault`, { method: 'POST', body: JSON.stringify(body) });
      return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
    };
    const set = await admin({ endpoint: 'reset', kind: 'close-after-reset' });
    expect(set).toEqual({ status: 200, body: { endpoint: 'reset', fault: { kind: 'close-after-reset' } } });
    expect(await webhooksLogin('webhooks-secret')).toBe(200);
    await expect(reset()).rejects.toThrow();
    expect(sim.issuedSecrets).toHaveLength(1);
    const secret = sim.issuedSecrets[0] as string;
    expect(await webhooksLogin(secret)).toBe(200);

    expect((await admin({ kind: 'status', status: 503 })).body).toEqual({
      endpoint: 'token',
      fault: { kind: 'status', status: 503 },
    });
    expect((await admin({ endpoint: 'reset' })).body).toEqual({ endpoint: 'reset', fault: null });
    const ok = await reset('other');
    expect(ok.statusCode).toBe(404);
    await ok.body.dump();
    expect(await webhooksLogin(secret)).toBe(503);
    expect((await admin({})).body).toEqual({ endpoint: 'token', fault: null });
    expect(await webhooksLogin(secret)).toBe(200);

    expect((await admin({ endpoint: 'both', kind: 'status', status: 500 })).status).toBe(400);
    expect((await admin({ endpoint: 'reset', kind: 'empty-200' })).status).toBe(400);
    expect((await admin([])).status).toBe(400);
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
        [
          '--conditions=tvs-source',
          '--import',
          'tsx',
          'packages/simulator/src/main.ts',
          '--port',
          '0',
          '--config',
          config,
        ],
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
