/**
 * The local server's SigV4 check against requests signed the way callers sign them (`@smithy/signature-v4`,
 * service `execute-api`): what passes, and what API Gateway would refuse.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  type LocalCaller,
  type ReceivedRequest,
  SigV4Verifier,
  verifySigV4,
} from '@tvs/local/sigv4-verifier';
import { describe, expect, it } from 'vitest';

const CALLER: LocalCaller = {
  accessKeyId: 'AKIDTVSUNITCALLER001',
  secretAccessKey: 'unit-caller-secret-000000000000000000001',
  arn: 'arn:aws:iam::111111111111:role/orders',
};
const SESSION_CALLER: LocalCaller = {
  accessKeyId: 'AKIDTVSUNITSESSION01',
  secretAccessKey: 'unit-session-secret-00000000000000000001',
  arn: 'arn:aws:iam::111111111111:role/rotation',
  sessionToken: 'the-session-token',
};
const callers = new Map([CALLER, SESSION_CALLER].map((caller) => [caller.accessKeyId, caller]));
const NOW = Date.UTC(2030, 0, 2, 3, 4, 5);
const options = { callers, region: 'us-east-1', now: () => NOW };

interface Signing {
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  region?: string;
  service?: string;
  signingDate?: Date;
  body?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  unsignableHeaders?: Set<string>;
}

/** Sign a request as a caller would and return it as the server receives it. */
async function signed(signing: Signing = {}): Promise<ReceivedRequest> {
  const signer = new SignatureV4({
    service: signing.service ?? 'execute-api',
    region: signing.region ?? 'us-east-1',
    sha256: Sha256,
    credentials: {
      accessKeyId: signing.accessKeyId ?? CALLER.accessKeyId,
      secretAccessKey: signing.secretAccessKey ?? CALLER.secretAccessKey,
      ...(signing.sessionToken ? { sessionToken: signing.sessionToken } : {}),
    },
  });
  const body = signing.body ?? '{"client":"webhooks-us","scope":".:webhooks/**"}';
  const request = await signer.sign(
    {
      method: 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 8787,
      path: '/v1/token',
      query: signing.query ?? {},
      headers: { host: '127.0.0.1:8787', 'content-type': 'application/json', ...signing.headers },
      body,
    },
    {
      signingDate: signing.signingDate ?? new Date(NOW),
      ...(signing.unsignableHeaders ? { unsignableHeaders: signing.unsignableHeaders } : {}),
    },
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
  return {
    method: 'POST',
    path: '/v1/token',
    query: new URLSearchParams(signing.query ?? {}).toString(),
    headers,
    body: Buffer.from(body, 'utf8'),
  };
}

describe('verifySigV4', () => {
  it('accepts a request signed by a listed caller and names the caller', async () => {
    const verdict = await verifySigV4(await signed({ query: { b: '2', a: 'x y' } }), options);

    expect(verdict).toEqual({ ok: true, caller: CALLER });
  });

  it('answers "Missing Authentication Token" without an Authorization header', async () => {
    const { authorization: _authorization, ...headers } = (await signed()).headers;

    const verdict = await verifySigV4({ ...(await signed()), headers }, options);

    expect(verdict).toMatchObject({
      ok: false,
      errorType: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    });
  });

  it('refuses an Authorization header of another scheme as incomplete, without echoing it', async () => {
    const request = await signed();

    const verdict = await verifySigV4(
      { ...request, headers: { ...request.headers, authorization: 'Bearer s3cr3t' } },
      options,
    );

    expect(verdict).toMatchObject({ ok: false, errorType: 'IncompleteSignatureException' });
    expect(JSON.stringify(verdict)).not.toContain('s3cr3t');
  });

  it.each([
    [
      'a changed body',
      (r: ReceivedRequest) => ({ ...r, body: Buffer.from('{"client":"config-us","scope":"*:**"}') }),
    ],
    ['a changed path', (r: ReceivedRequest) => ({ ...r, path: '/v1/clients' })],
    ['a changed query', (r: ReceivedRequest) => ({ ...r, query: 'a=1' })],
    ['a changed method', (r: ReceivedRequest) => ({ ...r, method: 'PUT' })],
    [
      'a changed signed header',
      (r: ReceivedRequest) => ({ ...r, headers: { ...r.headers, 'content-type': 'text/plain' } }),
    ],
  ])('refuses %s as a signature mismatch', async (_what, change) => {
    const verdict = await verifySigV4(change(await signed()), options);

    expect(verdict).toMatchObject({ ok: false, errorType: 'InvalidSignatureException' });
    expect((verdict as { message: string }).message).toMatch(
      /^The request signature we calculated does not match/,
    );
  });

  it('refuses the wrong secret key, and an unknown access key as an invalid security token', async () => {
    const wrongKey = await verifySigV4(await signed({ secretAccessKey: 'guessed-secret' }), options);
    const unknown = await verifySigV4(await signed({ accessKeyId: 'AKIDTVSNOBODY0000001' }), options);

    expect(wrongKey).toMatchObject({ ok: false, errorType: 'InvalidSignatureException' });
    expect(unknown).toEqual({
      ok: false,
      errorType: 'UnrecognizedClientException',
      message: 'The security token included in the request is invalid.',
    });
  });

  it('refuses a signature for another region or service', async () => {
    const region = await verifySigV4(await signed({ region: 'eu-west-1' }), options);
    const service = await verifySigV4(await signed({ service: 'lambda' }), options);

    expect(region).toMatchObject({ ok: false, message: expect.stringMatching(/valid region/) });
    expect(service).toMatchObject({
      ok: false,
      message: "Credential should be scoped to correct service: 'execute-api'.",
    });
  });

  it('refuses a signature more than 5 minutes old or ahead, as API Gateway does', async () => {
    const old = await verifySigV4(await signed({ signingDate: new Date(NOW - 301_000) }), options);
    const ahead = await verifySigV4(await signed({ signingDate: new Date(NOW + 301_000) }), options);
    const recent = await verifySigV4(await signed({ signingDate: new Date(NOW - 299_000) }), options);

    expect(old).toMatchObject({ ok: false, message: expect.stringMatching(/^Signature expired: /) });
    expect(ahead).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^Signature not yet current: /),
    });
    expect(recent.ok).toBe(true);
  });

  it('refuses a signature that does not cover the Host header', async () => {
    const verdict = await verifySigV4(await signed({ unsignableHeaders: new Set(['host']) }), options);

    expect(verdict).toMatchObject({ ok: false, errorType: 'IncompleteSignatureException' });
  });

  it('refuses a payload hash header that does not match the body', async () => {
    const request = await signed({ headers: { 'x-amz-content-sha256': 'f'.repeat(64) } });

    const verdict = await verifySigV4(request, options);

    expect(verdict).toMatchObject({ ok: false, errorType: 'InvalidSignatureException' });
  });

  it('checks the session token of a caller listed with one, and signs over any other', async () => {
    const right = await verifySigV4(
      await signed({ ...SESSION_CALLER, sessionToken: 'the-session-token' }),
      options,
    );
    const wrong = await verifySigV4(
      await signed({ ...SESSION_CALLER, sessionToken: 'another-token' }),
      options,
    );
    const missing = await verifySigV4(await signed({ ...SESSION_CALLER, sessionToken: undefined }), options);
    const unlisted = await verifySigV4(await signed({ sessionToken: 'temporary-credentials' }), options);

    expect(right).toEqual({ ok: true, caller: SESSION_CALLER });
    expect(wrong).toMatchObject({ ok: false, errorType: 'UnrecognizedClientException' });
    expect(missing).toMatchObject({ ok: false, errorType: 'UnrecognizedClientException' });
    expect(unlisted).toEqual({ ok: true, caller: CALLER });
  });
});

/** `request` with its Authorization header, or another header, rewritten. */
function rewritten(
  request: ReceivedRequest,
  name: string,
  change: (value: string) => string,
): ReceivedRequest {
  return { ...request, headers: { ...request.headers, [name]: change(String(request.headers[name] ?? '')) } };
}

describe('verifySigV4 refusals, word for word', () => {
  const MISMATCH =
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret ' +
    'Access Key and signing method. Consult the service documentation for details.';

  it.each([
    [
      'a header with none of its parts, and no date',
      (r: ReceivedRequest) =>
        rewritten(
          { ...r, headers: { ...r.headers, 'x-amz-date': undefined } },
          'authorization',
          () => 'AWS4-HMAC-SHA256 ',
        ),
      'IncompleteSignatureException',
      "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. " +
        "Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of " +
        "either a 'X-Amz-Date' or a 'Date' header.",
    ],
    [
      'a credential of six elements',
      (r: ReceivedRequest) =>
        rewritten(r, 'authorization', (a) => a.replace('/aws4_request', '/aws4_request/x')),
      'IncompleteSignatureException',
      'Credential should have 5 slash-delimited elements: access key id/date/region/service/aws4_request.',
    ],
    [
      'a credential of three elements',
      (r: ReceivedRequest) =>
        rewritten(r, 'authorization', (a) => a.replace('/execute-api/aws4_request', '')),
      'InvalidSignatureException',
      "Credential should be scoped to correct service: 'execute-api'.",
    ],
    [
      'another region',
      (r: ReceivedRequest) => rewritten(r, 'authorization', (a) => a.replace('/us-east-1/', '/eu-west-1/')),
      'InvalidSignatureException',
      "Credential should be scoped to a valid region, not 'eu-west-1'.",
    ],
    [
      'another terminator',
      (r: ReceivedRequest) =>
        rewritten(r, 'authorization', (a) => a.replace('/aws4_request', '/aws5_request')),
      'InvalidSignatureException',
      "Credential should be scoped with a valid terminator: 'aws4_request'.",
    ],
    [
      'a date not in basic format',
      (r: ReceivedRequest) => rewritten(r, 'x-amz-date', () => '2030-01-02T03:04:05Z'),
      'IncompleteSignatureException',
      "Date must be in ISO-8601 'basic format'. Got '2030-01-02T03:04:05Z'.",
    ],
    [
      'a credential of another day',
      (r: ReceivedRequest) => rewritten(r, 'authorization', (a) => a.replace('/20300102/', '/20300101/')),
      'InvalidSignatureException',
      MISMATCH,
    ],
    [
      'a signed header it did not receive',
      (r: ReceivedRequest) => ({ ...r, headers: { ...r.headers, 'content-type': undefined } }),
      'InvalidSignatureException',
      MISMATCH,
    ],
    [
      'a signature that does not cover the Host header',
      (r: ReceivedRequest) =>
        rewritten(r, 'authorization', (a) =>
          a.replace('SignedHeaders=', 'SignedHeaders=x;').replace(';host;', ';'),
        ),
      'IncompleteSignatureException',
      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    ],
  ])('refuses %s', async (_what, change, errorType, message) => {
    const verdict = await verifySigV4(change(await signed()), options);

    expect(verdict).toEqual({ ok: false, errorType, message });
  });

  it('names the times of a signature too old or too new', async () => {
    const old = await verifySigV4(await signed({ signingDate: new Date(NOW - 301_000) }), options);
    const ahead = await verifySigV4(await signed({ signingDate: new Date(NOW + 301_000) }), options);

    expect(old).toEqual({
      ok: false,
      errorType: 'InvalidSignatureException',
      message:
        'Signature expired: 20300102T025904Z is now earlier than 20300102T025905Z (20300102T030405Z - 5 min.)',
    });
    expect(ahead).toEqual({
      ok: false,
      errorType: 'InvalidSignatureException',
      message:
        'Signature not yet current: 20300102T030906Z is still later than 20300102T030905Z (20300102T030405Z + 5 min.)',
    });
  });
});

describe('SigV4Verifier', () => {
  it("is set up once, with API Gateway's service and clock skew unless told, and answers as verifySigV4 does", async () => {
    const verifier = new SigV4Verifier(options);
    const lambda = new SigV4Verifier({ ...options, service: 'lambda', maxClockSkewMs: 60_000 });
    const good = await signed();
    const wrongKey = await signed({ secretAccessKey: 'guessed-secret' });

    expect([verifier.service, verifier.maxClockSkewMs, verifier.region]).toEqual([
      'execute-api',
      300_000,
      'us-east-1',
    ]);
    expect([lambda.service, lambda.maxClockSkewMs]).toEqual(['lambda', 60_000]);
    expect(await verifier.verify(good)).toEqual({ ok: true, caller: CALLER });
    expect(await verifier.verify(good)).toEqual(await verifySigV4(good, options));
    expect(await verifier.verify(wrongKey)).toEqual(await verifySigV4(wrongKey, options));
    expect(
      await lambda.verify(await signed({ service: 'lambda', signingDate: new Date(NOW - 61_000) })),
    ).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^Signature expired: /),
    });
    expect(await lambda.verify(await signed({ service: 'lambda' }))).toEqual({ ok: true, caller: CALLER });
  });
});
