/**
 * AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for the requests this client sends, on `node:crypto`
 * alone: the given headers (`host`, `content-type`) and `x-amz-date` signed, `x-amz-security-token` added
 * and signed for session credentials, the body's SHA-256 as the payload hash, no query. It signs exactly
 * as `@smithy/signature-v4` does for services other than S3 (its canonical URI, header canonicalisation
 * and signing key), which is what API Gateway and Lambda function URLs check against.
 */
import { createHmac } from 'node:crypto';
import { sha256Hex } from './contract/hashing.js';

/** The signature algorithm, as the `Authorization` header and the string to sign name it. */
const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';

/** The last element of a credential scope. */
const SCOPE_TERMINATOR = 'aws4_request';

/** The credentials a request is signed with. */
export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Session credentials' token: sent and signed as `x-amz-security-token`. */
  readonly sessionToken?: string;
}

/** What is signed of one request. */
export interface RequestToSign {
  readonly method: string;
  /** The path as it goes on the wire (a URL's `pathname`: already percent-encoded), without a query. */
  readonly path: string;
  /** Headers to sign, by lower-case name: `host` always, `content-type` with a body. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body as sent (UTF-8); none hashes as the empty string. */
  readonly body?: string;
}

/** Who signs, for which region and service, and when. */
export interface SigningParameters {
  readonly credentials: SigningCredentials;
  readonly region: string;
  /** The SigV4 service name: `execute-api` or `lambda`. */
  readonly service: string;
  /** The signing instant; SigV4 counts whole seconds. */
  readonly signingDate: Date;
}

/** RFC 3986 escaping as SigV4 wants it: `encodeURIComponent`, plus `!'()*`, which it leaves alone. */
function escapeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * The canonical URI of a path for services other than S3: empty and `.` segments dropped, `..` removing
 * the one before it, the leading slash and (when any segment is left) the trailing slash kept, then each
 * segment escaped once more — so a path already percent-encoded on the wire comes out double-encoded.
 */
export function canonicalUri(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const leading = path.startsWith('/') ? '/' : '';
  const trailing = segments.length > 0 && path.endsWith('/') ? '/' : '';
  return `${leading}${segments.map(escapeRfc3986).join('/')}${trailing}`;
}

/** A header value as signed: line breaks become spaces, runs of spaces and tabs one space, ends trimmed. */
function canonicalHeaderValue(value: string): string {
  return value
    .replace(/[\r\n]/g, ' ')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
}

/** `2024-01-02T03:04:05.678Z` → `20240102T030405Z`. */
function amzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** The signing key of one day, region and service: HMAC chain from `AWS4` + the secret key. */
export function signingKey(
  secretAccessKey: string,
  shortDate: string,
  region: string,
  service: string,
): Buffer {
  let key: string | Buffer = `AWS4${secretAccessKey}`;
  for (const part of [shortDate, region, service, SCOPE_TERMINATOR]) key = hmac(key, part);
  return key as Buffer;
}

/**
 * Sign `request`: its headers plus `x-amz-date`, `x-amz-security-token` (session credentials only) and
 * `authorization`. No `x-amz-content-sha256` header is added: the canonical request covers the body's
 * hash either way.
 */
export function signRequest(request: RequestToSign, parameters: SigningParameters): Record<string, string> {
  const { credentials, region, service } = parameters;
  const longDate = amzDate(parameters.signingDate);
  const shortDate = longDate.slice(0, 8);
  const scope = `${shortDate}/${region}/${service}/${SCOPE_TERMINATOR}`;
  const headers: Record<string, string> = { ...request.headers, 'x-amz-date': longDate };
  if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;

  const canonical = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    canonical.set(name.toLowerCase(), canonicalHeaderValue(value));
  }
  const names = [...canonical.keys()].sort();
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    request.method,
    canonicalUri(request.path),
    '',
    ...names.map((name) => `${name}:${canonical.get(name)}`),
    '',
    signedHeaders,
    sha256Hex(request.body ?? ''),
  ].join('\n');
  const stringToSign = [SIGV4_ALGORITHM, longDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signature = createHmac('sha256', signingKey(credentials.secretAccessKey, shortDate, region, service))
    .update(stringToSign, 'utf8')
    .digest('hex');
  headers.authorization =
    `${SIGV4_ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}
