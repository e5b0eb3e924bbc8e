import {
  clampRetryAfter,
  InvalidRequestError,
  isValidMinTtl,
  MAX_BODY_BYTES,
  MAX_CLIENT_NAME_LENGTH,
  MAX_MIN_TTL_SECONDS,
  MAX_SCOPE_STRING_LENGTH,
  MethodNotAllowedError,
  ServiceError,
  UnsupportedMediaTypeError,
  UpstreamUnavailableError,
} from '@tvs/client/contract';
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { TokenRequest } from '../flow/vending-service.js';
import type { HttpRequest } from './events.js';

/** Headers on every answer: some carry a token, and none of them may be cached by anything in between. */
const NO_STORE_HEADERS = {
  'Content-Type': 'application/json',
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
} as const;

const TOKEN_REQUEST_FIELDS = new Set(['client', 'scope', 'min_ttl', 'reject']);

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/**
 * Parse and validate the body of `POST /v1/token`. Every fault is a 4xx `ServiceError` with a description
 * that names the field; nothing else is ever thrown.
 */
export function parseTokenRequest(
  event: Pick<HttpRequest, 'headers' | 'body' | 'isBase64Encoded'>,
): TokenRequest {
  requireJsonMediaType(event.headers);
  const fields = tokenRequestFields(jsonBodyOf(event));
  const client = clientField(fields.client);
  const scope = scopeField(fields.scope);
  const minTtl = minTtlField(fields.min_ttl);
  const reject = rejectField(fields.reject);
  return { client, scope, minTtl, ...(reject ? { reject } : {}) };
}

function requireJsonMediaType(headers: HttpRequest['headers']): void {
  // Header names are lower-cased by the event mapping (`events.ts`).
  const contentType = headers['content-type'];
  const mediaType = contentType?.split(';', 1)[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new UnsupportedMediaTypeError('the request body must be application/json');
  }
}

/** The body as JSON, at most {@link MAX_BODY_BYTES} of UTF-8. */
function jsonBodyOf(event: Pick<HttpRequest, 'body' | 'isBase64Encoded'>): unknown {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    throw new InvalidRequestError(`the request body is larger than ${MAX_BODY_BYTES} bytes`);
  }
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new InvalidRequestError('the request body is not valid UTF-8 JSON');
  }
}

/** The body's fields: a JSON object with none but {@link TOKEN_REQUEST_FIELDS}. */
function tokenRequestFields(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError(`the request body must be a JSON object, not ${describeType(body)}`);
  }
  const fields = body as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!TOKEN_REQUEST_FIELDS.has(name)) {
      throw new InvalidRequestError(`unknown field ${JSON.stringify(name.slice(0, 64))}`);
    }
  }
  return fields;
}

function requiredString(name: string, value: unknown): string {
  if (value === undefined) throw new InvalidRequestError(`missing field "${name}"`);
  if (typeof value !== 'string') {
    throw new InvalidRequestError(`field "${name}" must be a string, not ${describeType(value)}`);
  }
  return value;
}

function clientField(value: unknown): string {
  const client = requiredString('client', value);
  if (client.length === 0 || client.length > MAX_CLIENT_NAME_LENGTH) {
    throw new InvalidRequestError(`field "client" must be 1 to ${MAX_CLIENT_NAME_LENGTH} characters`);
  }
  return client;
}

function scopeField(value: unknown): string {
  const scope = requiredString('scope', value);
  // The API's request schema (docs/openapi.json, API Gateway's validator) refuses it the same way.
  if (scope.length > MAX_SCOPE_STRING_LENGTH) {
    throw new InvalidRequestError(`field "scope" is longer than ${MAX_SCOPE_STRING_LENGTH} characters`);
  }
  return scope;
}

function minTtlField(value: unknown): number {
  if (value === undefined) return 0;
  if (!isValidMinTtl(value)) {
    throw new InvalidRequestError(`field "min_ttl" must be an integer from 0 to ${MAX_MIN_TTL_SECONDS}`);
  }
  return value;
}

function rejectField(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value)) {
    throw new InvalidRequestError('field "reject" must be the SHA-256 of a token as 64 lowercase hex digits');
  }
  return value;
}

/** A JSON answer with the no-store headers. */
export function jsonResponse(
  status: number,
  body: unknown,
  extraHeaders: Record<string, string> = {},
): APIGatewayProxyResult {
  return {
    statusCode: status,
    headers: { ...NO_STORE_HEADERS, ...extraHeaders },
    body: JSON.stringify(body),
  };
}

/**
 * Map an error to its RFC 6749 §5.2 answer, with the failure's stable `code` beside `error`. Only
 * `ServiceError` messages, which are written for callers, reach the body; anything else becomes a generic
 * 500, `TVS_ERR_INTERNAL` (the caller logs the details).
 */
export function errorResponse(error: unknown): APIGatewayProxyResult {
  if (!(error instanceof ServiceError)) {
    return jsonResponse(500, {
      error: 'server_error',
      error_description: 'internal error',
      code: 'TVS_ERR_INTERNAL',
    });
  }
  const extra: Record<string, string> = {};
  if (error instanceof UpstreamUnavailableError) {
    extra['Retry-After'] = String(clampRetryAfter(error.retryAfterSeconds));
  }
  if (error instanceof MethodNotAllowedError) extra.Allow = error.allow;
  return jsonResponse(
    error.status,
    { error: error.error, error_description: error.message, code: error.code },
    extra,
  );
}
