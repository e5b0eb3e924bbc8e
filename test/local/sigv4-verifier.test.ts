/**
 * The local server's SigV4 check against requests signed the way callers sign them (`@smithy/signature-v4`,
 * service `execute-api`): what passes, and what API Gateway would refuse.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { type LocalCaller, type ReceivedRequest, verifySigV4 } from '@tvs/local/sigv4-verifier';
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
