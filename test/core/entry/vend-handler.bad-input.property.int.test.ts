import { ENDPOINT_KINDS, type ErrorCode, errorCodeInfo, SERVICE_ERROR_CODES } from '@tvs/client/contract';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiEvent, Harness, ORDERS_CALLER, ROTATION_CALLER, STRANGER_CALLER } from '../../support/harness';

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness?.close();
});

const validScopes = [
  '.:webhooks/**',
  '*:webhooks/**',
  '.:webhooks/a/**',
  '*:config/**',
  '.:config/tokenPolicies** .:config/loginPolicies**',
  '*:config/loginPolicies/1ab23c45-6789-0123-d4ef-5g678h90ijk1',
];
// Attempts to smuggle a wider scope past the parser or the grant check.
const injectionScopes = [
  '*:webhooks/** *:config/**',
  '.:webhooks/**\n*:**',
  '.:webhooks/**\u0000*:**',
  '.:webhooks/**%20*:**',
  '.:webhooks/**+*:**',
  '.:webhooks/../config/**',
  '.:webhooks/**,*:**',
  '.:webhooks/**\u2028*:**',
  '.:webhooks/**\u00a0*:**',
  '*:**',
  '**:webhooks/**',
  ':webhooks/**',
  '.:',
  ' ',
  '.:webhooks/\u0130**',
  '.:webhooks/**"}',
  '.:webhooks/**\\',
];

const anyValue = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }),
);

const chaoticBody = fc.record(
  {
    client: fc.oneof(fc.constantFrom('webhooks-us', 'config-us', 'nope', '', 'WEBHOOKS-US'), anyValue),
    scope: fc.oneof(
      fc.constantFrom(...validScopes, ...injectionScopes),
      fc.string({ maxLength: 40 }),
      anyValue,
    ),
    min_ttl: fc.oneof(
      fc.integer({ min: -10, max: 3010 }),
      fc.constantFrom(0, 3000, 1.5, Number.MAX_SAFE_INTEGER),
      anyValue,
    ),
    reject: fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.string({ maxLength: 70 }), anyValue),
    ['__proto__']: anyValue,
    constructor: anyValue,
    extra: anyValue,
  },
  { requiredKeys: [] },
);

/** Bodies a caller would plausibly send, so the generator reaches 200 and 403 often, not only 400. */
const plausibleBody = fc.record(
  {
    client: fc.constantFrom('webhooks-us', 'config-us', 'nope'),
    scope: fc.constantFrom(...validScopes, ...injectionScopes),
    min_ttl: fc.integer({ min: 0, max: 600 }),
  },
  { requiredKeys: ['client', 'scope'] },
);

const tokenBody = fc.oneof(plausibleBody, chaoticBody);

const rawBody = fc.oneof(
  { weight: 6, arbitrary: tokenBody.map((body) => JSON.stringify(body)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
  { weight: 1, arbitrary: fc.json() },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '{',
      'null',
      '[]',
      '"x"',
      '{"client":"webhooks-us","scope":"*:**"',
      '\uFEFF{}',
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constant(
      JSON.stringify({ client: 'webhooks-us', scope: '.:webhooks/**', pad: 'x'.repeat(9_000) }),
    ),
  },
);

const requestArbitrary = fc.record({
  // Either front door's event: the REST API's proxy event or a function URL's.
  shape: fc.constantFrom(...ENDPOINT_KINDS),
  body: fc.option(rawBody, { nil: null, freq: 20 }),
  base64: fc.boolean(),
  contentType: fc.oneof(
    {
      weight: 8,
      arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'Application/JSON'),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom('text/plain', '', 'application/x-www-form-urlencoded', 'application/jsonx'),
    },
    { weight: 1, arbitrary: fc.string() },
  ),
  caller: fc.constantFrom(ORDERS_CALLER, ROTATION_CALLER, STRANGER_CALLER, '', 'not-an-arn'),
  route: fc.oneof(
    { weight: 12, arbitrary: fc.constant({ method: 'POST', path: '/v1/token' }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        { method: 'GET', path: '/v1/clients' },
        { method: 'PUT', path: '/v1/token' },
        { method: 'POST', path: '/v1/../token' },
      ),
    },
  ),
});

/** An oracle independent of the scope module: which canonical scopes each caller may receive. */
function mayReceive(caller: string, client: unknown, scope: string): boolean {
  const scopes = scope.split(' ');
  if (caller === ORDERS_CALLER)
    return client === 'webhooks-us' && scopes.every((s) => s.startsWith('.:webhooks/'));
  if (caller === ROTATION_CALLER) {
    if (client === 'webhooks-us') return scopes.every((s) => /^[*.]:webhooks\//.test(s));
    if (client === 'config-us') return scopes.every((s) => /^[*.]:config\//.test(s));
  }
  return false;
}

type GeneratedRequest = typeof requestArbitrary extends fc.Arbitrary<infer T> ? T : never;

/** The body as the front door hands it to the function: none, base64 or as sent. */
function eventBody(input: GeneratedRequest): string | null {
  if (input.body === null) return null;
  return input.base64 ? Buffer.from(input.body).toString('base64') : input.body;
}

/** A 4xx in RFC 6749 shape, or a token no wider than the caller may receive. */
function expectRefusalOrRightfulToken(
  input: GeneratedRequest,
  body: string | null,
  response: { readonly statusCode: number; readonly body: string },
): void {
  const answer = JSON.parse(response.body) as Record<string, unknown>;
  if (response.statusCode >= 400) {
    expect(Object.keys(answer).sort()).toEqual(['code', 'error', 'error_description']);
    expect(['invalid_request', 'invalid_scope', 'access_denied']).toContain(answer.error);
    // The code names a failure of this status and error.
    expect(SERVICE_ERROR_CODES).toContain(answer.code);
    const named = errorCodeInfo(answer.code as ErrorCode);
    expect([named.status, named.error]).toEqual([response.statusCode, answer.error]);
  } else if (input.route.path === '/v1/token') {
    const sent = JSON.parse(Buffer.from(body ?? '', input.base64 ? 'base64' : 'utf8').toString()) as Record<
      string,
      unknown
    >;
    expect(mayReceive(input.caller, sent.client, answer.scope as string)).toBe(true);
  }
}

describe('the handler under generated input', () => {
  it('answers 10,000 generated requests with a 2xx or a 4xx in RFC 6749 shape, never a 5xx or a wider token', async () => {
    const handler = harness.container();
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(requestArbitrary, async (input) => {
        const body = eventBody(input);
        const response = await handler.handle(
          apiEvent({
            method: input.route.method,
            path: input.route.path,
            rawBody: body,
            isBase64Encoded: input.base64,
            headers: { 'Content-Type': input.contentType },
            caller: input.caller,
            shape: input.shape,
          }),
        );
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
        expect(response.statusCode).toBeLessThan(500);
        expectRefusalOrRightfulToken(input, body, response);
      }),
      { numRuns: 10_000 },
    );
    // The generators must reach every outcome, or the property proves little.
    for (const status of [200, 400, 403, 415]) expect(statuses.get(status) ?? 0).toBeGreaterThan(20);
  }, 240_000);
});
