/**
 * The client's own SigV4 signer against `@smithy/signature-v4`, the AWS SDK's (and the local server's
 * verifier's) implementation: for generated methods, endpoints and paths, bodies, regions, services,
 * credentials and instants, both sign to the very same headers.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { getSigningKey, SignatureV4 } from '@smithy/signature-v4';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serviceUrl } from '../../packages/client/src/signed-request';
import {
  canonicalUri,
  type SigningCredentials,
  type SigningParameters,
  signingKey,
  signRequest,
} from '../../packages/client/src/sigv4';

const RUNS = { numRuns: 400 };

/** Characters SigV4 escapes differently from a URL, or at all: reserved, sub-delims, `%`, space. */
const AWKWARD = [...` !"#$%&'()*+,:;<=>?@[\\]^\`{|}~`, 'é', '€', '😀', '~', '_', '-', '.'];

/** One path segment: dot segments, empty ones, and text with characters that need escaping. */
const segmentArbitrary: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('.', '..', '', 'v1', 'token', 'clients', '%2F', '%20', 'a%2Fb'),
  fc.string({ unit: fc.constantFrom(...AWKWARD, 'a', 'Z', '0'), maxLength: 6 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
);

/** A path: segments, with or without the leading and the trailing slash. */
const pathArbitrary: fc.Arbitrary<string> = fc
  .record({
    leading: fc.boolean(),
    segments: fc.array(segmentArbitrary, { maxLength: 6 }),
    trailing: fc.boolean(),
  })
  .map(
    ({ leading, segments, trailing }) => `${leading ? '/' : ''}${segments.join('/')}${trailing ? '/' : ''}`,
  );

const regionArbitrary: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('us-east-1', 'eu-west-1', 'ap-southeast-2', 'cn-north-1', 'us-gov-west-1'),
  fc
    .tuple(fc.stringMatching(/^[a-z]{2}$/), fc.constantFrom('north', 'south', 'central'), fc.nat(9))
    .map(([area, direction, n]) => `${area}-${direction}-${n}`),
);

/** An endpoint of each kind, with and without an API Gateway stage path (with a trailing slash or not). */
const endpointArbitrary: fc.Arbitrary<string> = fc
  .record({
    host: fc.oneof(
      regionArbitrary.map((region) => `abc123defg.execute-api.${region}.amazonaws.com`),
      regionArbitrary.map((region) => `xyz0987654321abcdef.lambda-url.${region}.on.aws`),
      fc.constantFrom('127.0.0.1:8787', 'tvs.internal.example:8443', 'tvs.example.com'),
    ),
    stage: fc.constantFrom('', '/', '/prod', '/prod/', '/v2-stage', '/a b', '/caf%C3%A9'),
    https: fc.boolean(),
  })
  .map(({ host, stage, https }) => `${https ? 'https' : 'http'}://${host}${stage}`);

const credentialsArbitrary: fc.Arbitrary<SigningCredentials> = fc.record(
  {
    accessKeyId: fc.stringMatching(/^(AKIA|ASIA)[A-Z0-9]{16}$/),
    secretAccessKey: fc.stringMatching(/^[A-Za-z0-9/+]{40}$/),
    sessionToken: fc.stringMatching(/^[A-Za-z0-9/+=]{16,400}$/),
  },
  { requiredKeys: ['accessKeyId', 'secretAccessKey'] },
);

const bodyArbitrary: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constant(''),
  fc
    .record({ client: fc.string(), scope: fc.string({ unit: 'grapheme' }) })
    .map((fields) => JSON.stringify(fields)),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
);

/** Content types as callers send them, and malformed ones with runs of spaces and tabs. */
const contentTypeArbitrary: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain'),
  fc.string({ unit: fc.constantFrom('a', '/', ';', '=', ' ', '\t', '  '), minLength: 1, maxLength: 20 }),
);

const signingArbitrary: fc.Arbitrary<SigningParameters> = fc.record({
  credentials: credentialsArbitrary,
  region: regionArbitrary,
  service: fc.constantFrom('execute-api', 'lambda'),
  signingDate: fc.date({
    min: new Date('2000-01-01T00:00:00Z'),
    max: new Date('2099-12-31T23:59:59.999Z'),
    noInvalidDate: true,
  }),
});

const methodArbitrary = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD');

/** The headers `@smithy/signature-v4` signs the same request to, as the client used to sign. */
async function smithyHeaders(
  url: URL,
  request: { method: string; headers: Record<string, string>; body?: string },
  signing: SigningParameters,
): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    service: signing.service,
    region: signing.region,
    credentials: signing.credentials,
    sha256: Sha256,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: {},
      headers: request.headers,
      ...(request.body !== undefined ? { body: request.body } : {}),
    },
    { signingDate: signing.signingDate },
  );
  return signed.headers;
}

describe('signRequest', () => {
  it('signs every request to the headers @smithy/signature-v4 signs it to', async () => {
    await fc.assert(
      fc.asyncProperty(
        methodArbitrary,
        endpointArbitrary,
        fc.oneof(fc.constantFrom('/v1/token', '/v1/clients'), pathArbitrary),
        bodyArbitrary,
        contentTypeArbitrary,
        signingArbitrary,
        async (method, endpoint, path, body, contentType, signing) => {
          const url = serviceUrl(endpoint, path);
          const headers: Record<string, string> = { host: url.host };
          if (body !== undefined) headers['content-type'] = contentType;
          const request = { method, headers, ...(body !== undefined ? { body } : {}) };

          const ours = signRequest({ ...request, path: url.pathname }, signing);

          expect(ours).toEqual(await smithyHeaders(url, request, signing));
          expect('x-amz-security-token' in ours).toBe(Boolean(signing.credentials.sessionToken));
        },
      ),
      RUNS,
    );
  });

  it('builds the canonical URI of any path as @smithy/signature-v4 does: normalised, each segment escaped', () => {
    // The signer's own canonical path (a method TypeScript calls private).
    const smithy = new SignatureV4({
      service: 'execute-api',
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'secret' },
      sha256: Sha256,
    }) as unknown as { getCanonicalPath(request: { path: string }): string };
    fc.assert(
      fc.property(pathArbitrary, (path) => {
        expect(canonicalUri(path)).toBe(smithy.getCanonicalPath({ path }));
      }),
      { numRuns: 2000 },
    );
  });

  it('derives the signing key of a day, region and service as @smithy/signature-v4 does', async () => {
    await fc.assert(
      fc.asyncProperty(signingArbitrary, async ({ credentials, region, service, signingDate }) => {
        const shortDate = signingDate.toISOString().slice(0, 10).replace(/-/g, '');
        const expected = await getSigningKey(Sha256, credentials, shortDate, region, service);
        expect(signingKey(credentials.secretAccessKey, shortDate, region, service).toString('hex')).toBe(
          Buffer.from(expected).toString('hex'),
        );
      }),
      RUNS,
    );
  });

  it('matches the published SigV4 examples (signing key, and the get-vanilla request)', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
    expect(signingKey(secret, '20120215', 'us-east-1', 'iam').toString('hex')).toBe(
      'f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d',
    );
    const signed = signRequest(
      { method: 'GET', path: '/', headers: { host: 'example.amazonaws.com' } },
      {
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: secret },
        region: 'us-east-1',
        service: 'service',
        signingDate: new Date('2015-08-30T12:36:00Z'),
      },
    );
    expect(signed).toEqual({
      host: 'example.amazonaws.com',
      'x-amz-date': '20150830T123600Z',
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ' +
        'SignedHeaders=host;x-amz-date, ' +
        'Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    });
  });

  it('signs the session token of session credentials, and only theirs', () => {
    const signing = {
      region: 'us-east-1',
      service: 'execute-api',
      signingDate: new Date('2024-05-06T07:08:09.999Z'),
    };
    const request = { method: 'POST', path: '/prod/v1/token', headers: { host: 'h' }, body: '{}' };
    const plain = signRequest(request, {
      ...signing,
      credentials: { accessKeyId: 'A', secretAccessKey: 'S' },
    });
    const session = signRequest(request, {
      ...signing,
      credentials: { accessKeyId: 'A', secretAccessKey: 'S', sessionToken: 'the-session' },
    });

    expect(plain['x-amz-date']).toBe('20240506T070809Z');
    expect(plain.authorization).toContain('SignedHeaders=host;x-amz-date,');
    expect(session['x-amz-security-token']).toBe('the-session');
    expect(session.authorization).toContain('SignedHeaders=host;x-amz-date;x-amz-security-token,');
  });
});
