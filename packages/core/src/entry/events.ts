/**
 * The two event shapes an HTTP request reaches the function in, each mapped to one {@link HttpRequest},
 * so the handler routes once and answers both the same (docs/contract.md "Endpoint kinds"):
 *
 * - API Gateway REST proxy integration: `httpMethod`, `path` (or `resource`), headers as sent, the caller
 *   in `requestContext.identity.userArn`.
 * - Lambda function URL (payload format 2.0): `requestContext.http.method`, `rawPath`, header names
 *   lower-cased with repeated values joined by commas, cookies apart in `cookies`, the caller in
 *   `requestContext.authorizer.iam.userArn`.
 *
 * Both hand the body as a string, base64-encoded when `isBase64Encoded`. The answer needs no mapping:
 * `{statusCode, headers, body}` is what both integrations take.
 */
import type { APIGatewayProxyEvent, LambdaFunctionURLEventWithIAMAuthorizer } from 'aws-lambda';

/** One HTTP request to the service, whichever front door it came through. */
export interface HttpRequest {
  /** The IAM principal the front door authenticated (`''` when it named none). */
  readonly caller: string;
  /** Upper case, as sent. */
  readonly method: string;
  /** The path the route table is matched against, e.g. `/v1/token`. */
  readonly path: string;
  /** Header names lower-cased; a repeated header's values joined by `,`; cookies as one `cookie` header. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body as the event holds it; `null` for none. */
  readonly body: string | null;
  /** Whether {@link HttpRequest.body} is base64. */
  readonly isBase64Encoded: boolean;
}

/** A function URL event (payload format 2.0) with the caller IAM authenticated. */
export type FunctionUrlEvent = LambdaFunctionURLEventWithIAMAuthorizer;

/** The REST API's proxy event → the request. */
export function fromRestApiEvent(event: APIGatewayProxyEvent): HttpRequest {
  return {
    caller: event.requestContext?.identity?.userArn ?? '',
    method: event.httpMethod,
    // `resource` is the route matched (its template); behind a `{proxy+}` resource, the path itself.
    path: event.resource && event.resource !== '/{proxy+}' ? event.resource : event.path,
    headers: restApiHeaders(event),
    body: event.body ?? null,
    isBase64Encoded: event.isBase64Encoded === true,
  };
}

/** The REST API event's headers as a function URL hands them: names lower-cased, repeats joined. */
function restApiHeaders(event: APIGatewayProxyEvent): Record<string, string> {
  // Each header's values are joined as a function URL joins them, names differing in case counting as one.
  const values = new Map<string, string[]>();
  for (const [name, list] of headerLists(event)) {
    const key = name.toLowerCase();
    for (const value of list ?? []) {
      if (typeof value === 'string') values.set(key, [...(values.get(key) ?? []), value]);
    }
  }
  const headers: Record<string, string> = {};
  // Cookie headers are joined by "; " (RFC 9113 §8.2.3), as a function URL's `cookies` are below.
  for (const [name, list] of values) headers[name] = list.join(name === 'cookie' ? '; ' : ',');
  return headers;
}

/** Each header of the REST API event with all its values, as sent. */
function headerLists(event: APIGatewayProxyEvent): [string, readonly (string | undefined)[] | undefined][] {
  // Repeated headers are whole only in multiValueHeaders (`headers` keeps the last value of each).
  const multi = event.multiValueHeaders ?? {};
  return Object.keys(multi).length > 0
    ? Object.entries(multi)
    : Object.entries(event.headers ?? {}).map(([name, value]) => [name, [value]]);
}

/** A function URL's event (payload format 2.0) → the request. */
export function fromFunctionUrlEvent(event: FunctionUrlEvent): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (typeof value === 'string') headers[name.toLowerCase()] = value;
  }
  // The function URL moves Cookie headers into `cookies`; the REST API leaves them among the headers.
  if (event.cookies && event.cookies.length > 0) headers.cookie = event.cookies.join('; ');
  return {
    caller: event.requestContext?.authorizer?.iam?.userArn ?? '',
    method: event.requestContext?.http?.method ?? '',
    path: event.rawPath,
    headers,
    body: event.body ?? null,
    isBase64Encoded: event.isBase64Encoded === true,
  };
}

/** Whether `event` is a function URL's (payload format 2.0) rather than the REST API's. */
export function isFunctionUrlEvent(event: unknown): event is FunctionUrlEvent {
  const candidate = event as { version?: unknown; rawPath?: unknown; requestContext?: { http?: unknown } };
  return (
    typeof event === 'object' &&
    event !== null &&
    candidate.version === '2.0' &&
    typeof candidate.rawPath === 'string' &&
    typeof candidate.requestContext?.http === 'object'
  );
}

/** Either event shape → the request. */
export function httpRequestOf(event: APIGatewayProxyEvent | FunctionUrlEvent): HttpRequest {
  return isFunctionUrlEvent(event) ? fromFunctionUrlEvent(event) : fromRestApiEvent(event);
}
