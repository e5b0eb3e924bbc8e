/**
 * SigV4 verification for the local server: what API Gateway's `AWS_IAM` authorization does before the
 * Lambda sees a request. The request is signed again with `@smithy/signature-v4` — an implementation
 * independent of the clients' own signer, so every local call checks one against the other — over the
 * headers the caller says it signed, and the two signatures are compared in constant time.
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

/** The `Credential` parameter's scope: `access key id/date/region/service/aws4_request`. */
interface CredentialScope {
  readonly accessKeyId: string;
  /** `YYYYMMDD`, which must be the day of `x-amz-date`. */
  readonly date: string;
  readonly region: string | undefined;
  readonly service: string | undefined;
  readonly terminator: string | undefined;
}

/** What a request's signature claims: who signed it, for which scope and time, over which headers. */
interface SignatureClaim {
  readonly scope: CredentialScope;
  /** `x-amz-date` as sent. */
  readonly date: string;
  /** `SignedHeaders` as sent: lower-case names joined by `;`. */
  readonly signedHeaders: string;
  readonly signedHeaderNames: readonly string[];
  readonly signature: string;
}

function isRefusal<T>(step: T | SignatureRefusal): step is SignatureRefusal {
  return typeof step === 'object' && step !== null && (step as { ok?: unknown }).ok === false;
}

/** API Gateway's message for each part an Authorization header needs and lacks, in its order. */
function missingParts(parts: AuthorizationParts | undefined, date: string | undefined): string[] {
  return [
    parts?.credential ? undefined : "Authorization header requires 'Credential' parameter.",
    parts?.signature ? undefined : "Authorization header requires 'Signature' parameter.",
    parts?.signedHeaders ? undefined : "Authorization header requires 'SignedHeaders' parameter.",
    date ? undefined : "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
  ].filter((text) => text !== undefined);
}

function credentialScope(credential: string): CredentialScope | SignatureRefusal {
  const [accessKeyId, date, region, service, terminator, ...extra] = credential.split('/');
  if (!accessKeyId || !date || extra.length > 0) {
    return refuse(
      'IncompleteSignatureException',
      'Credential should have 5 slash-delimited elements: access key id/date/region/service/aws4_request.',
    );
  }
  return { accessKeyId, date, region, service, terminator };
}

/** Step 1: parse the Authorization header and `x-amz-date` into what the signature claims. */
function readClaim(headers: ReceivedRequest['headers']): SignatureClaim | SignatureRefusal {
  const authorization = headerValue(headers, 'authorization');
  if (authorization === undefined || authorization.trim() === '') {
    return refuse('MissingAuthenticationTokenException', SIGV4_MESSAGES.missingToken);
  }
  const parts = parseAuthorization(authorization.trim());
  const date = headerValue(headers, 'x-amz-date');
  const missing = missingParts(parts, date);
  // API Gateway echoes the header after these messages; this server does not, as it may hold a secret.
  if (missing.length > 0 || !parts || !date) return refuse('IncompleteSignatureException', missing.join(' '));
  const scope = credentialScope(parts.credential as string);
  if (isRefusal(scope)) return scope;
  const signedHeaders = parts.signedHeaders as string;
  return {
    scope,
    date,
    signedHeaders,
    signedHeaderNames: signedHeaders.split(';'),
    signature: parts.signature as string,
  };
}

/** Step 4: the values of the signed headers, and a signed payload hash that matches the body. */
function signedHeaderValues(
  claim: SignatureClaim,
  request: ReceivedRequest,
): Record<string, string> | SignatureRefusal {
  const headers: Record<string, string> = {};
  for (const name of claim.signedHeaderNames) {
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
  return headers;
}

/**
 * API Gateway's `AWS_IAM` check of a request's `Authorization: AWS4-HMAC-SHA256 …` header, in its steps:
 * parse the header ({@link readClaim}), check the credential scope and the date, look up the caller's
 * key, re-sign the request canonically with `@smithy/signature-v4` — the library callers sign with, run
 * here independently of any client — and compare the two signatures in constant time. Presigned URLs
 * (`X-Amz-Signature` in the query) are not supported and count as unsigned.
 *
 * Session tokens: a caller listed with a `sessionToken` must send exactly that `x-amz-security-token`;
 * for a caller listed without one, a session token the request carries is covered by the signature check
 * (like any signed header) but not compared with anything — the local callers list is the authority.
 */
export class SigV4Verifier {
  /** Known callers by access key id. */
  readonly callers: ReadonlyMap<string, LocalCaller>;
  /** The region credential scopes must name. */
  readonly region: string;
  /** The service credential scopes must name. */
  readonly service: string;
  /** Largest difference between `x-amz-date` and the clock, ms. */
  readonly maxClockSkewMs: number;
  private readonly now: () => number;

  constructor(options: VerifierOptions) {
    this.callers = options.callers;
    this.region = options.region;
    this.service = options.service ?? 'execute-api';
    this.maxClockSkewMs = options.maxClockSkewMs ?? 300_000;
    this.now = options.now ?? Date.now;
  }

  /** The verdict on one request: its caller, or API Gateway's refusal. */
  async verify(request: ReceivedRequest): Promise<SignatureVerdict> {
    const now = this.now();
    const claim = readClaim(request.headers);
    if (isRefusal(claim)) return claim;
    const scopeRefusal = this.scopeRefusal(claim.scope);
    if (scopeRefusal) return scopeRefusal;
    const signedAt = this.signingTime(claim, now);
    if (isRefusal(signedAt)) return signedAt;
    if (!claim.signedHeaderNames.includes('host')) {
      return refuse(
        'IncompleteSignatureException',
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
      );
    }
    const caller = this.callerOf(claim.scope.accessKeyId, request.headers);
    if (isRefusal(caller)) return caller;
    const headers = signedHeaderValues(claim, request);
    if (isRefusal(headers)) return headers;
    const expected = await this.resign(request, claim, headers, caller, signedAt);
    const sameHeaders = expected?.signedHeaders === claim.signedHeaders;
    const sameSignature = constantTimeEqual(expected?.signature ?? '', claim.signature);
    if (!sameHeaders || !sameSignature)
      return refuse('InvalidSignatureException', SIGV4_MESSAGES.signatureMismatch);
    return { ok: true, caller };
  }

  /** Step 2a: the credential scope names this region and service, and ends in `aws4_request`. */
  private scopeRefusal(scope: CredentialScope): SignatureRefusal | undefined {
    if (scope.region !== this.region) {
      return refuse(
        'InvalidSignatureException',
        `Credential should be scoped to a valid region, not '${scope.region}'.`,
      );
    }
    if (scope.service !== this.service) {
      return refuse(
        'InvalidSignatureException',
        `Credential should be scoped to correct service: '${this.service}'.`,
      );
    }
    if (scope.terminator !== 'aws4_request') {
      return refuse(
        'InvalidSignatureException',
        "Credential should be scoped with a valid terminator: 'aws4_request'.",
      );
    }
    return undefined;
  }

  /** Step 2b: when the request was signed (epoch ms), within the skew of `now` and on the scope's day. */
  private signingTime(claim: SignatureClaim, now: number): number | SignatureRefusal {
    const { date } = claim;
    const signedAt = parseAmzDate(date);
    if (signedAt === undefined) {
      return refuse(
        'IncompleteSignatureException',
        `Date must be in ISO-8601 'basic format'. Got '${date}'.`,
      );
    }
    const maxSkew = this.maxClockSkewMs;
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
    if (claim.scope.date !== date.slice(0, 8)) {
      return refuse('InvalidSignatureException', SIGV4_MESSAGES.signatureMismatch);
    }
    return signedAt;
  }

  /** Step 3: the listed caller of the access key, with the session token it is listed with, if any. */
  private callerOf(accessKeyId: string, headers: ReceivedRequest['headers']): LocalCaller | SignatureRefusal {
    const caller = this.callers.get(accessKeyId);
    if (caller === undefined) return refuse('UnrecognizedClientException', SIGV4_MESSAGES.invalidToken);
    const sessionToken = headerValue(headers, 'x-amz-security-token');
    if (caller.sessionToken !== undefined && !constantTimeEqual(sessionToken ?? '', caller.sessionToken)) {
      return refuse('UnrecognizedClientException', SIGV4_MESSAGES.invalidToken);
    }
    return caller;
  }

  /** Step 5: sign the request again with the caller's key, over the headers it signed, at its time. */
  private async resign(
    request: ReceivedRequest,
    claim: SignatureClaim,
    headers: Record<string, string>,
    caller: LocalCaller,
    signedAt: number,
  ): Promise<AuthorizationParts | undefined> {
    const sessionToken = headerValue(request.headers, 'x-amz-security-token');
    const signer = new SignatureV4({
      service: this.service,
      region: this.region,
      sha256: Sha256,
      applyChecksum: false,
      credentials: {
        accessKeyId: caller.accessKeyId,
        secretAccessKey: caller.secretAccessKey,
        ...(claim.signedHeaderNames.includes('x-amz-security-token') && sessionToken ? { sessionToken } : {}),
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
      { signingDate: new Date(signedAt), signableHeaders: new Set(claim.signedHeaderNames) },
    );
    return parseAuthorization(String(resigned.headers.authorization ?? ''));
  }
}

/**
 * Verify a request's `Authorization: AWS4-HMAC-SHA256 …` header as API Gateway would for an `AWS_IAM`
 * method: {@link SigV4Verifier.verify} with `options`.
 */
export function verifySigV4(request: ReceivedRequest, options: VerifierOptions): Promise<SignatureVerdict> {
  return new SigV4Verifier(options).verify(request);
}
