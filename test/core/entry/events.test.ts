import {
  fromFunctionUrlEvent,
  fromRestApiEvent,
  type HttpRequest,
  httpRequestOf,
  isFunctionUrlEvent,
} from '@tvs/core/entry/events';
import { type ReceivedHttpRequest, toApiGatewayEvent, toFunctionUrlEvent } from '@tvs/local/lambda-events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const CALLER = 'arn:aws:sts::111111111111:assumed-role/orders-service/i-0abc';

function received(overrides: Partial<ReceivedHttpRequest> = {}): ReceivedHttpRequest {
  return {
    method: 'POST',
    path: '/v1/token',
    query: '',
    rawHeaders: ['Content-Type', 'application/json', 'Host', 'abc.lambda-url.us-east-1.on.aws'],
    body: Buffer.from('{"client":"webhooks-us","scope":".:webhooks/**"}'),
    callerArn: CALLER,
    accessKeyId: 'AKIDTESTEVENTS000001',
    sourceIp: '10.0.0.1',
    requestId: 'req-1',
    nowMs: 1_800_000_000_000,
    ...overrides,
  };
}

/** The request with its body decoded to bytes, so a base64 body and a text body compare equal. */
function decoded(request: HttpRequest) {
  const { body, isBase64Encoded, ...rest } = request;
  return { ...rest, body: body === null ? null : Buffer.from(body, isBase64Encoded ? 'base64' : 'utf8') };
}

const headerName = fc.constantFrom(
  'Content-Type',
  'content-type',
  'CONTENT-TYPE',
  'Accept',
  'X-Amz-Date',
  'x-custom',
  'X-Custom',
  'User-Agent',
  'Cookie',
);
const headerValue = fc.stringMatching(/^[A-Za-z0-9=/+._ -]{1,20}$/).map((value) => value.trim() || 'v');

describe('the event mapping (events.ts)', () => {
  it('maps the same HTTP request to the same request record from either front door', () => {
    fc.assert(
      fc.property(
        fc.record({
          method: fc.constantFrom('POST', 'GET', 'PUT', 'DELETE'),
          path: fc.constantFrom('/v1/token', '/v1/clients', '/v2/token', '/', '/v1/token/x'),
          headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }),
          contentType: fc.constantFrom('application/json', 'text/plain', 'application/octet-stream', ''),
          body: fc.option(fc.string({ unit: 'grapheme', maxLength: 60 }), { nil: undefined }),
          caller: fc.constantFrom(CALLER, 'arn:aws:iam::222222222222:user/ops', ''),
        }),
        (input) => {
          const rawHeaders = [
            ...(input.contentType ? ['Content-Type', input.contentType] : []),
            ...input.headers.flat(),
          ];
          const request = received({
            method: input.method,
            path: input.path,
            rawHeaders,
            body: Buffer.from(input.body ?? ''),
            callerArn: input.caller,
          });

          const viaRestApi = fromRestApiEvent(toApiGatewayEvent(request));
          const viaFunctionUrl = fromFunctionUrlEvent(toFunctionUrlEvent(request));

          expect(decoded(viaFunctionUrl)).toEqual(decoded(viaRestApi));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('reads the caller from requestContext.identity.userArn of a REST proxy event', () => {
    expect(httpRequestOf(toApiGatewayEvent(received())).caller).toBe(CALLER);
  });

  it('reads the caller, method and path from authorizer.iam.userArn, http.method and rawPath of a function URL event', () => {
    const event = toFunctionUrlEvent(received({ method: 'GET', path: '/v1/clients' }));

    expect(httpRequestOf(event)).toMatchObject({ caller: CALLER, method: 'GET', path: '/v1/clients' });
  });

  it('lower-cases header names and joins repeated values with a comma, in both shapes', () => {
    const request = received({
      rawHeaders: ['Accept', 'a/b', 'ACCEPT', 'c/d', 'Content-Type', 'application/json'],
    });

    for (const event of [toApiGatewayEvent(request), toFunctionUrlEvent(request)]) {
      expect(httpRequestOf(event).headers).toEqual({ accept: 'a/b,c/d', 'content-type': 'application/json' });
    }
  });

  it("puts a function URL's cookies back as one cookie header, as the REST API leaves it", () => {
    const event = toFunctionUrlEvent(received({ rawHeaders: ['Cookie', 'a=1; b=2'] }));

    expect(event.cookies).toEqual(['a=1', 'b=2']);
    expect(event.headers.cookie).toBeUndefined();
    expect(httpRequestOf(event).headers.cookie).toBe('a=1; b=2');
  });

  it('keeps a base64 body of a function URL base64, for the handler to decode', () => {
    const event = toFunctionUrlEvent(
      received({ rawHeaders: ['Content-Type', 'application/octet-stream'], body: Buffer.from([0xff, 0x00]) }),
    );

    expect(httpRequestOf(event)).toMatchObject({ body: '/wA=', isBase64Encoded: true });
  });

  it('names no caller when the event carries none, so every grant check refuses', () => {
    const { authorizer: _none, ...requestContext } = toFunctionUrlEvent(received()).requestContext;
    const withoutAuthorizer = { ...toFunctionUrlEvent(received()), requestContext } as never;

    expect(fromFunctionUrlEvent(withoutAuthorizer).caller).toBe('');
    expect(fromRestApiEvent({ ...toApiGatewayEvent(received()), requestContext: {} } as never).caller).toBe(
      '',
    );
  });

  it('tells the two shapes apart, and neither is the pre-warm event', () => {
    expect(isFunctionUrlEvent(toFunctionUrlEvent(received()))).toBe(true);
    expect(isFunctionUrlEvent(toApiGatewayEvent(received()))).toBe(false);
    expect(isFunctionUrlEvent({ source: 'tvs.prewarm', tokens: [] })).toBe(false);
    expect(isFunctionUrlEvent(null)).toBe(false);
  });
});
