/**
 * The emulated front doors without a server: what each answers itself (a route it lacks, an unsigned
 * request, an account it does not admit), and the event each hands the function.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { type EndpointKind, SIGNING_SERVICE } from '@tvs/client/contract';
import { FrontDoor, FUNCTION_URL_FORBIDDEN } from '@tvs/local/front-door';
import type { LocalSection } from '@tvs/local/local-config';
import type { LocalCaller, ReceivedRequest } from '@tvs/local/sigv4-verifier';
import { describe, expect, it } from 'vitest';

const ORDERS: LocalCaller = {
  accessKeyId: 'AKIDTVSFRONTDOOR0001',
  secretAccessKey: 'front-door-secret-000000000000000000001',
  arn: 'arn:aws:iam::111111111111:role/orders',
};
const STRANGER: LocalCaller = {
  accessKeyId: 'AKIDTVSFRONTDOOR0002',
  secretAccessKey: 'front-door-secret-000000000000000000002',
  arn: 'arn:aws:iam::222222222222:role/somebody',
};
const BODY = '{"client":"webhooks-us","scope":".:webhooks/**"}';

function frontDoor(kind: EndpointKind, allowedAccounts?: string[]): FrontDoor {
  const local: LocalSection = {
    region: 'us-east-1',
    callers: new Map([ORDERS, STRANGER].map((caller) => [caller.accessKeyId, caller])),
    endpoint: kind,
    ...(allowedAccounts ? { allowedAccounts: new Set(allowedAccounts) } : {}),
  };
  return new FrontDoor(kind, local);
}

/** `POST /v1/token` signed by `caller` for the kind's signing service, as the front door receives it. */
async function signed(kind: EndpointKind, caller: LocalCaller): Promise<ReceivedRequest> {
  const signer = new SignatureV4({
    service: SIGNING_SERVICE[kind],
    region: 'us-east-1',
    sha256: Sha256,
    credentials: { accessKeyId: caller.accessKeyId, secretAccessKey: caller.secretAccessKey },
  });
  const request = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 8787,
    path: '/v1/token',
    query: {},
    headers: { host: '127.0.0.1:8787', 'content-type': 'application/json' },
    body: BODY,
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
  return { method: 'POST', path: '/v1/token', query: '', headers, body: Buffer.from(BODY, 'utf8') };
}

describe('FrontDoor', () => {
  it('answers a route API Gateway lacks itself; a function URL passes every path on', () => {
    const rest = frontDoor('rest-api');
    expect(rest.unroutedAnswer('POST', '/v1/token')).toBeUndefined();
    expect(rest.unroutedAnswer('GET', '/v1/clients')).toBeUndefined();
    const missing = {
      status: 403,
      errorType: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    };
    expect(rest.unroutedAnswer('GET', '/v1/token')).toEqual(missing);
    expect(rest.unroutedAnswer('POST', '/v1/other')).toEqual(missing);
    expect(frontDoor('function-url').unroutedAnswer('GET', '/v1/other')).toBeUndefined();
  });

  it('refuses an unsigned request in each front door’s words, logging the SigV4 check’s error type', async () => {
    const unsigned = { ...(await signed('rest-api', ORDERS)), headers: {} };
    expect(await frontDoor('rest-api').authorize(unsigned)).toEqual({
      ok: false,
      errorType: 'MissingAuthenticationTokenException',
      answer: {
        status: 403,
        errorType: 'MissingAuthenticationTokenException',
        message: 'Missing Authentication Token',
      },
    });
    expect(await frontDoor('function-url').authorize(unsigned)).toEqual({
      ok: false,
      errorType: 'MissingAuthenticationTokenException',
      answer: { status: 403, errorType: 'AccessDeniedException', message: FUNCTION_URL_FORBIDDEN },
    });
  });

  it('checks the signature for its own signing service', async () => {
    const forLambda = await signed('function-url', ORDERS);
    const refusal = await frontDoor('rest-api').authorize(forLambda);
    expect(refusal).toMatchObject({ ok: false, errorType: 'InvalidSignatureException' });
    expect(await frontDoor('function-url').authorize(forLambda)).toEqual({ ok: true, caller: ORDERS });
  });

  it.each(['rest-api', 'function-url'] as const)(
    'admits only the accounts of local.allowedAccounts when it is set (%s)',
    async (kind) => {
      const strict = frontDoor(kind, ['111111111111']);
      expect(await strict.authorize(await signed(kind, ORDERS))).toEqual({ ok: true, caller: ORDERS });
      const message =
        kind === 'function-url'
          ? FUNCTION_URL_FORBIDDEN
          : `User: ${STRANGER.arn} is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:local:local:local/local/POST/v1/token because no resource-based policy allows the execute-api:Invoke action`;
      expect(await strict.authorize(await signed(kind, STRANGER))).toEqual({
        ok: false,
        errorType: 'AccessDeniedException',
        answer: { status: 403, errorType: 'AccessDeniedException', message },
      });
      expect(await frontDoor(kind).authorize(await signed(kind, STRANGER))).toEqual({
        ok: true,
        caller: STRANGER,
      });
    },
  );

  it('hands the function its own event and words its answers in its own shape', () => {
    const received = {
      method: 'POST',
      path: '/v1/token',
      query: '',
      rawHeaders: ['Host', '127.0.0.1:8787', 'Content-Type', 'application/json'],
      body: Buffer.from(BODY, 'utf8'),
      callerArn: ORDERS.arn,
      accessKeyId: ORDERS.accessKeyId,
      sourceIp: '127.0.0.1',
      requestId: 'request-1',
      nowMs: Date.UTC(2030, 0, 2, 3, 4, 5),
    };
    expect(frontDoor('rest-api').eventFor(received)).toMatchObject({
      httpMethod: 'POST',
      requestContext: { identity: { userArn: ORDERS.arn } },
    });
    expect(frontDoor('function-url').eventFor(received)).toMatchObject({
      version: '2.0',
      requestContext: { authorizer: { iam: { userArn: ORDERS.arn } } },
    });
    expect(JSON.parse(frontDoor('rest-api').answerBody('Request Too Long'))).toEqual({
      message: 'Request Too Long',
    });
    expect(JSON.parse(frontDoor('function-url').answerBody('Request Too Long'))).toEqual({
      Message: 'Request Too Long',
    });
  });
});
