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
  // Header names are lower-cased by the event mapping (`events.ts`).
  const contentType = event.headers['content-type'];
  const mediaType = contentType?.split(';', 1)[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new UnsupportedMediaTypeError('the request body must be application/json');
  }
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    throw new InvalidRequestError(`the request body is larger than ${MAX_BODY_BYTES} bytes`);
  }
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new InvalidRequestError('the request body is not valid UTF-8 JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError(`the request body must be a JSON object, not ${describeType(body)}`);
  }
  const fields = body as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!TOKEN_REQUEST_FIELDS.has(name)) {
      throw new InvalidRequestError(`unknown field ${JSON.stringify(name.slice(0, 64))}`);
    }
  }

  const { client, scope, min_ttl: minTtl, reject } = fields;
  if (client === undefined) throw new InvalidRequestError('missing field "client"');
  if (typeof client !== 'string') {
    throw new InvalidRequestError(`field "client" must be a string, not ${describeType(client)}`);
  }
  if (client.length === 0 || client.length > MAX_CLIENT_NAME_LENGTH) {
    throw new InvalidRequestError(`field "client" must be 1 to ${MAX_CLIENT_NAME_LENGTH} characters`);
  }
  if (scope === undefined) throw new InvalidRequestError('missing field "scope"');
  if (typeof scope !== 'string') {
    throw new InvalidRequestError(`field "scope" must be a string, not ${describeType(scope)}`);
  }
  // The API's request schema (docs/openapi.json, API Gateway's validator) refuses it the same way.
  if (scope.length > MAX_SCOPE_STRING_LENGTH) {
    throw new InvalidRequestError(`field "scope" is longer than ${MAX_SCOPE_STRING_LENGTH} characters`);
  }
  if (minTtl !== undefined && !isValidMinTtl(minTtl)) {
    throw new InvalidRequestError(`field "min_ttl" must be an integer from 0 to ${MAX_MIN_TTL_SECONDS}`);
  }
  if (reject !== undefined && (typeof reject !== 'string' || !/^[0-9a-f]{64}$/.test(reject))) {
    throw new InvalidRequestError('field "reject" must be the SHA-256 of a token as 64 lowercase hex digits');
  }
  return { client, scope, minTtl: (minTtl as number | undefined) ?? 0, ...(reject ? { reject } : {}) };
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
