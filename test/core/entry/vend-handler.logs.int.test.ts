import { cacheKeyFor, ENDPOINT_KINDS, type ErrorCode, sha256Hex } from '@tvs/client/contract';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  bodyOf,
  CONFIG_CLIENT,
  CountingMetrics,
  eventsOf,
  Harness,
  ORDERS_CALLER,
  ROTATION_CALLER,
  STRANGER_CALLER,
  WEBHOOKS_CLIENT,
} from '../../support/harness';

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start({
    configure: (config) => {
      // A client whose Identity Cloud token policy is narrower than what the service believes it allows:
      // Identity Cloud then answers a token with no scope, which must become a 502.
      (config.clients as Record<string, unknown>)['narrow-us'] = {
        ...(config.clients['webhooks-us'] as object),
        allowedScopes: ['*:**'],
      };
      config.grants.push({
        principal: 'arn:aws:iam::111111111111:role/orders-service',
        client: 'narrow-us',
        scopes: ['*:config/**'],
      });
    },
  });
});

afterAll(async () => {
  await harness?.close();
});

beforeEach(async () => {
  await harness.upstreamHealthy();
});

const WEBHOOKS_READ = { client: 'webhooks-us', scope: '.:webhooks/**' };

// The whole table runs once per front door: the same requests as the REST API's proxy events and as a
// function URL's events must get the same answers (docs/contract.md "Endpoint kinds").
describe.each(ENDPOINT_KINDS)('through the %s front door', (shape) => {
  const { apiEvent, tokenEvent } = eventsOf(shape);

  describe('POST /v1/token', () => {
    it('fetches a token on a miss, stores it encrypted with ttl = expires_at, and answers the contract shape', async () => {
      const container = harness.container();
      const scope = '.:webhooks/**';
      await harness.deleteItem(cacheKeyFor('webhooks-us', scope));

      const response = await container.handle(tokenEvent(WEBHOOKS_READ));

      expect(response.statusCode).toBe(200);
      expect(response.headers).toMatchObject({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
      const body = bodyOf(response);
      expect(Object.keys(body).sort()).toEqual([
        'access_token',
        'client',
        'expires_at',
        'expires_in',
        'issued_at',
        'scope',
        'token_type',
      ]);
      expect(body).toMatchObject({ token_type: 'Bearer', scope, client: 'webhooks-us' });
      expect(harness.sim.issuedTokens).toContain(body.access_token);
      expect(body.expires_in).toBeGreaterThan(3590);
      expect(body.expires_in).toBeLessThanOrEqual(3600);
      expect(Date.parse(body.expires_at as string)).toBeGreaterThan(Date.now() + 3_500_000);
      // The whole lifetime, whatever is left of it: what a caller counts its refresh margin from.
      expect(Date.parse(body.expires_at as string) - Date.parse(body.issued_at as string)).toBe(3_600_000);
      expect(harness.sim.tokenRequests).toBe(1);

      const item = await harness.rawItem(cacheKeyFor('webhooks-us', scope));
      expect(item?.ttl?.N).toBe(item?.expires_at?.N);
      expect(Number(item?.expires_at?.N) - Number(item?.issued_at?.N)).toBe(3600);
      expect(item?.fingerprint?.S).toBe(sha256Hex(body.access_token as string));
      expect(item?.scope?.S).toBe(scope);
      expect(item?.lease_holder).toBeUndefined();
      expect(JSON.stringify(item)).not.toContain(body.access_token);
      expect(Buffer.from(item?.tok?.B ?? []).toString('latin1')).not.toContain(body.access_token);
    });

    it('serves from memory on a repeat request in the same container, without asking Identity Cloud', async () => {
      const container = harness.container();
      const first = bodyOf(await container.handle(tokenEvent(WEBHOOKS_READ)));
      harness.sim.resetCounters();

      const second = bodyOf(await container.handle(tokenEvent(WEBHOOKS_READ)));

      expect(second.access_token).toBe(first.access_token);
      expect(harness.sim.tokenRequests).toBe(0);
      const line = harness.capture.lines.filter((l) => l.message === 'token served').at(-1);
      expect(line?.source).toBe('memory');
    });

    it("serves the table's token to another container, decrypting it with KMS", async () => {
      const first = bodyOf(await harness.container().handle(tokenEvent(WEBHOOKS_READ)));
      harness.sim.resetCounters();

      const other = harness.container();
      const second = bodyOf(await other.handle(tokenEvent(WEBHOOKS_READ)));

      expect(second.access_token).toBe(first.access_token);
      expect(harness.sim.tokenRequests).toBe(0);
      const line = harness.capture.lines.filter((l) => l.message === 'token served').at(-1);
      expect(line).toMatchObject({ source: 'table', client: 'webhooks-us', scope: '.:webhooks/**' });
    });

    it('never serves an expired item that TTL deletion has not removed yet', async () => {
      const scope = '*:webhooks/**';
      const request = { client: 'webhooks-us', scope };
      await harness.deleteItem(cacheKeyFor('webhooks-us', scope));
      const first = bodyOf(await harness.container().handle(tokenEvent(request, ROTATION_CALLER)));
      const expiresAt = Date.parse(first.expires_at as string);
      harness.sim.resetCounters();

      // A container whose clock is one second past the token's expiry; the item is still in the table.
      const later = harness.container({ now: () => expiresAt + 1_000 });
      expect(await harness.rawItem(cacheKeyFor('webhooks-us', scope))).toBeDefined();
      const second = bodyOf(await later.handle(tokenEvent(request, ROTATION_CALLER)));

      expect(second.access_token).not.toBe(first.access_token);
      expect(harness.sim.tokenRequests).toBe(1);
    });

    it('canonicalises the scope: order and duplicates do not change the cache key or the answer', async () => {
      const container = harness.container();
      const a = bodyOf(
        await container.handle(
          tokenEvent(
            { client: 'config-us', scope: '.:config/tokenPolicies** .:config/loginPolicies**' },
            ROTATION_CALLER,
          ),
        ),
      );
      const b = bodyOf(
        await container.handle(
          tokenEvent(
            {
              client: 'config-us',
              scope: '.:config/loginPolicies**  .:config/tokenPolicies** .:config/loginPolicies**',
            },
            ROTATION_CALLER,
          ),
        ),
      );
      expect(a.scope).toBe('.:config/loginPolicies** .:config/tokenPolicies**');
      expect(b.access_token).toBe(a.access_token);
    });

    it('never hands out a wider cached token for a narrower request', async () => {
      const container = harness.container();
      const wide = bodyOf(
        await container.handle(
          tokenEvent({ client: 'webhooks-us', scope: '*:webhooks/**' }, ROTATION_CALLER),
        ),
      );
      const narrow = bodyOf(
        await container.handle(
          tokenEvent({ client: 'webhooks-us', scope: '.:webhooks/**' }, ROTATION_CALLER),
        ),
      );
      expect(narrow.scope).toBe('.:webhooks/**');
      expect(narrow.access_token).not.toBe(wide.access_token);
    });

    it('forces a fresh token when min_ttl is more than the cached token has left', async () => {
      const start = Date.now();
      let clock = start;
      const container = harness.container({ now: () => clock });
      const request = { client: 'config-us', scope: '.:config/clients/**' };
      await harness.deleteItem(cacheKeyFor('config-us', '.:config/clients/**'));
      const first = bodyOf(await container.handle(tokenEvent(request, ROTATION_CALLER)));
      clock = start + 700_000; // 1200 s token: 500 s left, outside the 300 s margin

      const served = bodyOf(
        await container.handle(tokenEvent({ ...request, min_ttl: 400 }, ROTATION_CALLER)),
      );
      const fresh = bodyOf(await container.handle(tokenEvent({ ...request, min_ttl: 600 }, ROTATION_CALLER)));

      expect(served.access_token).toBe(first.access_token);
      expect(fresh.access_token).not.toBe(first.access_token);
      expect(fresh.expires_in).toBeGreaterThanOrEqual(600);
    });

    it('answers 400 invalid_request when min_ttl is longer than the token lifetime, asking Identity Cloud once', async () => {
      const scope = '.:config/tokenPolicies/**';
      await harness.deleteItem(cacheKeyFor('config-us', scope));
      const ask = (container: ReturnType<Harness['container']>) =>
        container.handle(tokenEvent({ client: 'config-us', scope, min_ttl: 1500 }, ROTATION_CALLER));

      const responses = [];
      const container = harness.container();
      for (let i = 0; i < 3; i++) responses.push(await ask(container));
      responses.push(await ask(harness.container())); // another container learns it from the table

      for (const response of responses) {
        expect(response.statusCode).toBe(400);
        expect(bodyOf(response)).toMatchObject({ error: 'invalid_request' });
        expect(bodyOf(response).error_description).toMatch(
          /min_ttl 1500 is above the 900 s a token of this client can promise \(its lifetime 1200 s minus the 300 s refresh margin\)/,
        );
      }
      // The first request learned the 1200 s lifetime; nobody asked again.
      expect(harness.sim.tokenRequests).toBe(1);
    });
  });

  describe('GET /v1/clients', () => {
    it('lists the clients and scopes this caller may ask for', async () => {
      const response = await harness
        .container()
        .handle(apiEvent({ method: 'GET', path: '/v1/clients', caller: ORDERS_CALLER }));
      expect(response.statusCode).toBe(200);
      expect(bodyOf(response)).toEqual({
        clients: [
          { client: 'narrow-us', scopes: ['*:config/**'] },
          { client: 'webhooks-us', scopes: ['.:webhooks/**'] },
        ],
      });
    });

    it('lists nothing for a caller without grants', async () => {
      const response = await harness
        .container()
        .handle(apiEvent({ method: 'GET', path: '/v1/clients', caller: STRANGER_CALLER }));
      expect(bodyOf(response)).toEqual({ clients: [] });
    });
  });

  describe('error table of docs/contract.md', () => {
    const cases: [string, Parameters<typeof apiEvent>[0], number, string, ErrorCode][] = [
      ['malformed JSON', { rawBody: '{"client":' }, 400, 'invalid_request', 'TVS_ERR_INVALID_REQUEST'],
      ['a JSON array', { rawBody: '[]' }, 400, 'invalid_request', 'TVS_ERR_INVALID_REQUEST'],
      [
        'a missing field',
        { body: { client: 'webhooks-us' } },
        400,
        'invalid_request',
        'TVS_ERR_INVALID_REQUEST',
      ],
      [
        'a mistyped field',
        { body: { client: 'webhooks-us', scope: 7 } },
        400,
        'invalid_request',
        'TVS_ERR_INVALID_REQUEST',
      ],
      [
        'a mistyped min_ttl',
        { body: { ...WEBHOOKS_READ, min_ttl: '60' } },
        400,
        'invalid_request',
        'TVS_ERR_INVALID_REQUEST',
      ],
      [
        'min_ttl out of range',
        { body: { ...WEBHOOKS_READ, min_ttl: 3001 } },
        400,
        'invalid_request',
        'TVS_ERR_INVALID_REQUEST',
      ],
      [
        'a malformed reject',
        { body: { ...WEBHOOKS_READ, reject: 'abc' } },
        400,
        'invalid_request',
        'TVS_ERR_INVALID_REQUEST',
      ],
      [
        'an unknown field',
        { body: { ...WEBHOOKS_READ, audience: 'x' } },
        400,
        'invalid_request',
        'TVS_ERR_INVALID_REQUEST',
      ],
      [
        'a body over 8 KiB',
        { rawBody: JSON.stringify({ ...WEBHOOKS_READ, pad: 'x'.repeat(9000) }) },
        400,
        'invalid_request',
        'TVS_ERR_INVALID_REQUEST',
      ],
      [
        'a scope that does not parse',
        { body: { client: 'webhooks-us', scope: 'x:webhooks/**' } },
        400,
        'invalid_scope',
        'TVS_ERR_INVALID_SCOPE',
      ],
      [
        'an empty scope',
        { body: { client: 'webhooks-us', scope: '' } },
        400,
        'invalid_scope',
        'TVS_ERR_INVALID_SCOPE',
      ],
      [
        'a scope wider than the grant',
        { body: { client: 'webhooks-us', scope: '*:webhooks/**' } },
        403,
        'access_denied',
        'TVS_ERR_ACCESS_DENIED',
      ],
      [
        'a client that does not exist',
        { body: { client: 'nope', scope: '.:webhooks/**' } },
        403,
        'access_denied',
        'TVS_ERR_ACCESS_DENIED',
      ],
      [
        'a caller with no grant',
        { body: WEBHOOKS_READ, caller: STRANGER_CALLER },
        403,
        'access_denied',
        'TVS_ERR_ACCESS_DENIED',
      ],
      [
        'no application/json',
        { body: WEBHOOKS_READ, headers: { 'Content-Type': 'text/plain' } },
        415,
        'invalid_request',
        'TVS_ERR_UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'no content type',
        { body: WEBHOOKS_READ, headers: {} },
        415,
        'invalid_request',
        'TVS_ERR_UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'an unknown route',
        { path: '/v2/token', body: WEBHOOKS_READ },
        404,
        'invalid_request',
        'TVS_ERR_NOT_FOUND',
      ],
      [
        'a wrong method',
        { method: 'GET', body: WEBHOOKS_READ },
        405,
        'invalid_request',
        'TVS_ERR_METHOD_NOT_ALLOWED',
      ],
    ];

    it.each(cases)(
      'answers %s in RFC 6749 shape, with the code of the failure',
      async (_name, event, status, error, code) => {
        const response = await harness.container().handle(apiEvent(event));
        expect(response.statusCode).toBe(status);
        const body = bodyOf(response);
        expect(Object.keys(body).sort()).toEqual(['code', 'error', 'error_description']);
        expect(body.error).toBe(error);
        expect(body.code).toBe(code);
        expect(typeof body.error_description).toBe('string');
        expect((body.error_description as string).length).toBeGreaterThan(5);
        expect(harness.sim.tokenRequests).toBe(0);
      },
    );

    it('answers 502 server_error when Identity Cloud refuses the credentials', async () => {
      harness.sim.setClientSecret(WEBHOOKS_CLIENT.clientId, 'a-secret-the-service-does-not-have');
      const metrics = new CountingMetrics();
      try {
        const response = await harness
          .container({ metrics })
          .handle(tokenEvent({ client: 'webhooks-us', scope: '*:webhooks/x/**' }, ROTATION_CALLER));
        expect(response.statusCode).toBe(502);
        expect(bodyOf(response)).toEqual({
          error: 'server_error',
          error_description: 'Identity Cloud refused the client credentials',
          code: 'TVS_ERR_UPSTREAM_INVALID_CLIENT',
        });
        // One try and one re-read of the secret; it is unchanged and no rotation is pending, so the
        // refused secret is not sent again: never a loop.
        expect(harness.sim.tokenRequests).toBe(1);
        expect(metrics.get('UpstreamFailure')).toBe(1);
      } finally {
        harness.sim.setClientSecret(WEBHOOKS_CLIENT.clientId, WEBHOOKS_CLIENT.clientSecret);
      }
    });

    it('answers 502 server_error when Identity Cloud grants a token with no scope (scope outside its policy)', async () => {
      const response = await harness
        .container()
        .handle(tokenEvent({ client: 'narrow-us', scope: '*:config/**' }));
      expect(response.statusCode).toBe(502);
      expect(bodyOf(response)).toMatchObject({ error: 'server_error' });
      expect(harness.sim.tokenRequests).toBe(1);
      expect(harness.sim.issuedTokens.length).toBeGreaterThan(0);
      const issued = harness.sim.issuedTokens.at(-1) as string;
      expect(response.body).not.toContain(issued);
    });

    it('answers 502 server_error when Identity Cloud grants less scope than asked', async () => {
      harness.sim.injectFaults({
        kind: 'json-200',
        body: {
          access_token: 'narrowed-token-value-0001',
          token_type: 'Bearer',
          expires_in: 3600,
          scope: '.:webhooks/a/**',
        },
      });
      const response = await harness
        .container()
        .handle(tokenEvent({ client: 'webhooks-us', scope: '*:webhooks/a/**' }, ROTATION_CALLER));
      expect(response.statusCode).toBe(502);
      expect(response.body).not.toContain('narrowed-token-value-0001');
    });

    it('answers 502 server_error when Identity Cloud grants more scope than asked', async () => {
      harness.sim.injectFaults({
        kind: 'json-200',
        body: {
          access_token: 'widened-token-value-0001',
          token_type: 'Bearer',
          expires_in: 3600,
          scope: '*:**',
        },
      });
      const response = await harness
        .container()
        .handle(tokenEvent({ client: 'webhooks-us', scope: '*:webhooks/b/**' }, ROTATION_CALLER));
      expect(response.statusCode).toBe(502);
    });

    it('answers 503 temporarily_unavailable with Retry-After when Identity Cloud answers 5xx and nothing is cached', async () => {
      harness.sim.setPersistentFault({ kind: 'status', status: 503 });
      const response = await harness
        .container()
        .handle(tokenEvent({ client: 'webhooks-us', scope: '*:webhooks/c/**' }, ROTATION_CALLER));
      expect(response.statusCode).toBe(503);
      expect(bodyOf(response)).toMatchObject({ error: 'temporarily_unavailable' });
      expect(Number(response.headers?.['Retry-After'])).toBeGreaterThanOrEqual(1);
    });

    it('answers 500 server_error with no details when the secret cannot be read', async () => {
      const broken = await Harness.start({
        configure: (config) => {
          (config.clients['webhooks-us'] as { secretId: string }).secretId = 'tvs/does-not-exist';
        },
      });
      try {
        const failed = await broken.container().handle(tokenEvent(WEBHOOKS_READ));
        expect(failed.statusCode).toBe(500);
        expect(bodyOf(failed)).toEqual({
          error: 'server_error',
          error_description: 'internal error',
          code: 'TVS_ERR_INTERNAL',
        });
        const line = broken.capture.lines.find((l) => l.message === 'request failed');
        expect(line?.code).toBe('TVS_ERR_INTERNAL');
        expect(line?.detail).toMatch(
          /CredentialsError \(TVS_ERR_CREDENTIALS\): secret tvs\/does-not-exist could not be read/,
        );
      } finally {
        await broken.close();
      }
    });
  });

  describe('logs', () => {
    it('writes one structured line per request with caller, client, scope, source, status and duration', async () => {
      const before = harness.capture.lines.length;
      await harness.container().handle(tokenEvent(WEBHOOKS_READ));
      const lines = harness.capture.lines.slice(before).filter((l) => l.message === 'token served');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        caller: ORDERS_CALLER,
        client: 'webhooks-us',
        scope: '.:webhooks/**',
        status: 200,
        service: 'token-vending-service',
        level: 'INFO',
      });
      expect(['memory', 'table', 'upstream']).toContain(lines[0]?.source);
      expect(typeof lines[0]?.duration_ms).toBe('number');
      expect(lines[0]?.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    });
  });
});

describe('logs of both front doors', () => {
  it('never writes a token or a client secret to a log line or an error body', async () => {
    // Runs last in this file: everything issued above is searched for.
    const secrets = [
      WEBHOOKS_CLIENT.clientSecret,
      CONFIG_CLIENT.clientSecret,
      'a-secret-the-service-does-not-have',
    ];
    const tokens = harness.sim.issuedTokens;
    expect(tokens.length).toBeGreaterThan(5);
    const text = harness.capture.text;
    expect(text.length).toBeGreaterThan(1000);
    for (const value of [...tokens, ...secrets]) {
      expect(text.includes(value), 'a token or secret reached the logs').toBe(false);
      expect(text.includes(encodeURIComponent(value))).toBe(false);
      expect(text.includes(Buffer.from(value).toString('base64'))).toBe(false);
    }
  });
});
