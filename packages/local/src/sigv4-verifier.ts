/**
 * SigV4 verification for the local server: what API Gateway's `AWS_IAM` authorization does before the
 * Lambda sees a request. The request is signed again with the same library the callers sign with
 * (`@smithy/signature-v4`), over the headers the caller says it signed, and the two signatures are
 * compared in constant time.
 *
 * Refusals carry API Gateway's own answer shape (`{"message": …}` and an `x-amzn-ErrorType` header), not
 * the service's RFC 6749 shape: that is what callers see in AWS, where the Lambda never runs for them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

/** A caller the local server knows: its access key pair and the IAM principal it stands for. */
export interface LocalCaller {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Becomes the event's `requestContext.identity.userArn`. */
  readonly arn: string;
  /** When set, requests must carry exactly this `x-amz-security-token`. */
  readonly sessionToken?: string;
}

/** The parts of an HTTP request a signature covers, as received. */
export interface ReceivedRequest {
  readonly method: string;
  /** The path as sent on the wire (still percent-encoded), without the query. */
  readonly path: string;
  /** The raw query string, without `?`; empty for none. */
  readonly query: string;
  /** Header names in lower case, as Node's `IncomingMessage.headers` has them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/** Why a request was refused: API Gateway's error type and message. */
export interface SignatureRefusal {
  readonly ok: false;
  /** API Gateway's `x-amzn-ErrorType`, e.g. `InvalidSignatureException`. */
  readonly errorType:
    | 'MissingAuthenticationTokenException'
    | 'IncompleteSignatureException'
    | 'InvalidSignatureException'
    | 'UnrecognizedClientException';
  readonly message: string;
}

/** A request whose signature checked out, and who sent it. */
export interface SignatureAcceptance {
  readonly ok: true;
  readonly caller: LocalCaller;
}

export type SignatureVerdict = SignatureAcceptance | SignatureRefusal;

/** What the verifier checks against. */
export interface VerifierOptions {
  /** Known callers by access key id. */
  readonly callers: ReadonlyMap<string, LocalCaller>;
  /** The region the credential scope must name (API Gateway's region). */
  readonly region: string;
  /** @default 'execute-api' */
  readonly service?: string;
  /** Largest difference between `x-amz-date` and the clock, ms. @default 300_000 (API Gateway's 5 minutes) */
  readonly maxClockSkewMs?: number;
  readonly now?: () => number;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';

/** API Gateway's messages, verbatim where API Gateway has one. */
export const SIGV4_MESSAGES = {
  missingToken: 'Missing Authentication Token',
  signatureMismatch:
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret ' +
    'Access Key and signing method. Consult the service documentation for details.',
  invalidToken: 'The security token included in the request is invalid.',
} as const;

function refuse(errorType: SignatureRefusal['errorType'], message: string): SignatureRefusal {
  return { ok: false, errorType, message };
}

function headerValue(headers: ReceivedRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** `20240102T030405Z` → epoch ms, or undefined when it is not that shape. */
function parseAmzDate(value: string): number | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  const ms = Date.UTC(y as number, (mo as number) - 1, d, h, mi, s);
  return Number.isNaN(ms) ? undefined : ms;
}

function amzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

interface AuthorizationParts {
  credential?: string;
  signedHeaders?: string;
  signature?: string;
}

function parseAuthorization(value: string): AuthorizationParts | undefined {
  if (!value.startsWith(`${ALGORITHM} `)) return undefined;
  const parts: AuthorizationParts = {};
  for (const item of value.slice(ALGORITHM.length + 1).split(',')) {
    const [rawName, ...rest] = item.trim().split('=');
    const name = rawName?.trim();
    const part = rest.join('=').trim();
    if (name === 'Credential') parts.credential = part;
    else if (name === 'SignedHeaders') parts.signedHeaders = part;
    else if (name === 'Signature') parts.signature = part;
  }
  return parts;
}

function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  // Compare equal-length digests so the length of a guess leaks nothing either.
  const digest = (value: Buffer) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(left), digest(right)) && left.length === right.length;
}

function queryRecord(query: string): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(query)) {
    const existing = record[name];
    if (existing === undefined) record[name] = value;
    else record[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return record;
}

/**
 * Verify a request's `Authorization: AWS4-HMAC-SHA256 …` header as API Gateway would for an `AWS_IAM`
 * method. Presigned URLs (`X-Amz-Signature` in the query) are not supported and count as unsigned.
 *
 * Session tokens: a caller listed with a `sessionToken` must send exactly that `x-amz-security-token`;
 * for a caller listed without one, a session token the request carries is covered by the signature check
 * (like any signed header) but not compared with anything — the local callers list is the authority.
 */
export async function verifySigV4(
  request: ReceivedRequest,
  options: VerifierOptions,
): Promise<SignatureVerdict> {
  const service = options.service ?? 'execute-api';
  const now = (options.now ?? Date.now)();
  const maxSkew = options.maxClockSkewMs ?? 300_000;

  const authorization = headerValue(request.headers, 'authorization');
  if (authorization === undefined || authorization.trim() === '') {
    return refuse('MissingAuthenticationTokenException', SIGV4_MESSAGES.missingToken);
  }
  const parts = parseAuthorization(authorization.trim());
  const date = headerValue(request.headers, 'x-amz-date');
  const missing = [
    parts?.credential ? undefined : "Authorization header requires 'Credential' parameter.",
    parts?.signature ? undefined : "Authorization header requires 'Signature' parameter.",
    parts?.signedHeaders ? undefined : "Authorization header requires 'SignedHeaders' parameter.",
    date ? undefined : "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
  ].filter((text) => text !== undefined);
  // API Gateway echoes the header after these messages; this server does not, as it may hold a secret.
  if (missing.length > 0 || !parts || !date) return refuse('IncompleteSignatureException', missing.join(' '));

  const [accessKeyId, credentialDate, credentialRegion, credentialService, terminator, ...extra] = (
    parts.credential as string
  ).split('/');
  if (!accessKeyId || !credentialDate || extra.length > 0) {
    return refuse(
      'IncompleteSignatureException',
      'Credential should have 5 slash-delimited elements: access key id/date/region/service/aws4_request.',
    );
  }
  if (credentialRegion !== options.region) {
    return refuse(
      'InvalidSignatureException',
      `Credential should be scoped to a valid region, not '${credentialRegion}'.`,
    );
  }
  if (credentialService !== service) {
    return refuse(
      'InvalidSignatureException',
      `Credential should be scoped to correct service: '${service}'.`,
    );
  }
  if (terminator !== 'aws4_request') {
    return refuse(
      'InvalidSignatureException',
      "Credential should be scoped with a valid terminator: 'aws4_request'.",
    );
  }

  const signedAt = parseAmzDate(date);
  if (signedAt === undefined) {
    return refuse('IncompleteSignatureException', `Date must be in ISO-8601 'basic format'. Got '${date}'.`);
  }
  if (signedAt < now - maxSkew) {
    return refuse(
      'InvalidSignatureException',
      `Signature expired: ${date} is now earlier than ${amzDate(now - maxSkew)} (${amzDate(now)} - 5 min.)`,
    );
  }
  if (signedAt > now + maxSkew) {
    return refuse(
      'InvalidSignatureException',
      `Signature not yet current: ${date} is still later than ${amzDate(now + maxSkew)} (${amzDate(now)} + 5 min.)`,
    );
  }
  if (credentialDate !== date.slice(0, 8)) {
    return refuse('InvalidSignatureException', SIGV4_MESSAGES.signatureMismatch);
  }

  const signedHeaders = (parts.signedHeaders as string).split(';');
  if (!signedHeaders.includes('host')) {
    return refuse(
      'IncompleteSignatureException',
      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    );
  }

  const caller = options.callers.get(accessKeyId);
  if (caller === undefined) return refuse('UnrecognizedClientException', SIGV4_MESSAGES.invalidToken);
  const sessionToken = headerValue(request.headers, 'x-amz-security-token');
  if (caller.sessionToken !== undefined && !constantTimeEqual(sessionToken ?? '', caller.sessionToken)) {
    return refuse('UnrecognizedClientException', SIGV4_MESSAGES.invalidToken);
  }

  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = headerValue(request.headers, name);
    if (value === undefined) return refuse('InvalidSignatureException', SIGV4_MESSAGES.signatureMismatch);
    headers[name] = value;
  }
  // The signer takes a signed x-amz-content-sha256 as the payload hash without looking at the body, so
  // check it against the body here; otherwise a body could be swapped under a valid signature.
  const claimedHash = headers['x-amz-content-sha256'];
  if (claimedHash !== undefined && claimedHash !== createHash('sha256').update(request.body).digest('hex')) {
    return refuse('InvalidSignatureException', SIGV4_MESSAGES.signatureMismatch);
  }

  const signer = new SignatureV4({
    service,
    region: options.region,
    sha256: Sha256,
    applyChecksum: false,
    credentials: {
      accessKeyId: caller.accessKeyId,
      secretAccessKey: caller.secretAccessKey,
      ...(signedHeaders.includes('x-amz-security-token') && sessionToken ? { sessionToken } : {}),
    },
  });
  const host = headers.host as string;
  const resigned = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: host.replace(/:\d+$/, ''),
      path: request.path,
      query: queryRecord(request.query),
      headers,
      body: request.body.length > 0 ? request.body : undefined,
    },
    { signingDate: new Date(signedAt), signableHeaders: new Set(signedHeaders) },
  );
  const expected = parseAuthorization(String(resigned.headers.authorization ?? ''));
  const sameHeaders = expected?.signedHeaders === parts.signedHeaders;
  const sameSignature = constantTimeEqual(expected?.signature ?? '', parts.signature as string);
  if (!sameHeaders || !sameSignature)
    return refuse('InvalidSignatureException', SIGV4_MESSAGES.signatureMismatch);
  return { ok: true, caller };
}
