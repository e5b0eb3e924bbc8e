/**
 * The events the two front doors hand the Lambda (docs/contract.md "Endpoint kinds"), built from
 * one HTTP request as the local server received it: the API Gateway REST proxy event, and the function
 * URL's (payload format 2.0). `tvs serve` builds one or the other; the tests build both from the same
 * request to prove the handler answers them the same.
 */

import type { FunctionUrlEvent } from '@tvs/core/entry/events';
import type { APIGatewayProxyEvent } from 'aws-lambda';

/** An HTTP request as received, and who sent it (the signature's caller). */
export interface ReceivedHttpRequest {
  readonly method: string;
  /** As sent, without the query. */
  readonly path: string;
  /** The raw query string, without `?`. */
  readonly query: string;
  /** Node's `rawHeaders`: name, value, name, value, … as sent. */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  readonly callerArn: string;
  readonly accessKeyId: string;
  readonly sourceIp: string;
  readonly requestId: string;
  readonly nowMs: number;
}

function accountOf(callerArn: string): string | null {
  return /^arn:[^:]+:(?:iam|sts)::(\d{12}):/.exec(callerArn)?.[1] ?? null;
}

function headerPairs(rawHeaders: readonly string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    pairs.push([rawHeaders[i] as string, rawHeaders[i + 1] as string]);
  }
  return pairs;
}

/** The event API Gateway's REST proxy integration hands the Lambda. */
export function toApiGatewayEvent(request: ReceivedHttpRequest): APIGatewayProxyEvent {
  // Header names are case-insensitive: a header sent twice in two spellings is one header, under the
  // spelling seen first; `headers` has its last value, `multiValueHeaders` all of them in order.
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const spelling = new Map<string, string>();
  for (const [sent, value] of headerPairs(request.rawHeaders)) {
    const name = spelling.get(sent.toLowerCase()) ?? sent;
    spelling.set(sent.toLowerCase(), name);
    headers[name] = value;
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  }
  const params = new URLSearchParams(request.query);
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [name, value] of params) {
    query[name] = value;
    multiQuery[name] = [...(multiQuery[name] ?? []), value];
  }
  const hasQuery = Object.keys(query).length > 0;
  const accountId = accountOf(request.callerArn);
  return {
    resource: request.path,
    path: request.path,
    httpMethod: request.method,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiQuery : null,
    pathParameters: null,
    stageVariables: null,
    body: request.body.length > 0 ? request.body.toString('utf8') : null,
    isBase64Encoded: false,
    requestContext: {
      accountId: accountId ?? '000000000000',
      apiId: 'tvs-local',
      authorizer: null,
      httpMethod: request.method,
      path: request.path,
      protocol: 'HTTP/1.1',
      requestId: request.requestId,
      requestTimeEpoch: request.nowMs,
      resourceId: 'tvs-local',
      resourcePath: request.path,
      stage: 'local',
      identity: {
        accessKey: request.accessKeyId,
        accountId,
        apiKey: null,
        apiKeyId: null,
        caller: request.accessKeyId,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: request.sourceIp,
        user: request.accessKeyId,
        userAgent: headers['User-Agent'] ?? headers['user-agent'] ?? null,
        userArn: request.callerArn,
      },
    },
  };
}

/**
 * Media types a function URL hands the function as text; any other body arrives base64-encoded. (The
 * handler decodes either, so the exact list matters only for how faithful the emulation is.)
 */
const TEXT_MEDIA_TYPE =
  /^(?:text\/|application\/(?:json|javascript|xml|x-www-form-urlencoded|yaml)\b|[^;]+\+(?:json|xml)\b)/i;

/** `12/Mar/2020:19:03:58 +0000`: the function URL's `requestContext.time`. */
function clfTime(ms: number): string {
  const date = new Date(ms);
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`;
}

/** Payload 2.0's headers: names lower-cased, a repeated header's values joined by commas, cookies apart. */
function functionUrlHeaders(rawHeaders: readonly string[]): {
  headers: Record<string, string>;
  cookies: string[];
} {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (const [rawName, value] of headerPairs(rawHeaders)) {
    const name = rawName.toLowerCase();
    if (name === 'cookie') {
      cookies.push(
        ...value
          .split(';')
          .map((cookie) => cookie.trim())
          .filter((cookie) => cookie !== ''),
      );
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  return { headers, cookies };
}

/** Payload 2.0's query parameters: a repeated parameter's values joined by commas. */
function functionUrlQuery(query: string): Record<string, string> {
  const parameters: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(query)) {
    parameters[name] = parameters[name] === undefined ? value : `${parameters[name]},${value}`;
  }
  return parameters;
}

/**
 * The event a function URL with `AWS_IAM` auth hands the Lambda (payload format 2.0): header names
 * lower-cased and repeated values joined by commas, cookies apart in `cookies`, the caller in
 * `requestContext.authorizer.iam`, a body that is not text base64-encoded.
 */
export function toFunctionUrlEvent(request: ReceivedHttpRequest): FunctionUrlEvent {
  const { headers, cookies } = functionUrlHeaders(request.rawHeaders);
  const queryStringParameters = functionUrlQuery(request.query);
  const accountId = accountOf(request.callerArn);
  const host = headers.host ?? 'tvs-local.lambda-url.us-east-1.on.aws';
  const text = TEXT_MEDIA_TYPE.test(headers['content-type'] ?? '');
  const hasBody = request.body.length > 0;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: request.path,
    rawQueryString: request.query,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(Object.keys(queryStringParameters).length > 0 ? { queryStringParameters } : {}),
    requestContext: {
      accountId: accountId ?? '000000000000',
      apiId: 'tvs-local',
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: request.method,
        path: request.path,
        protocol: 'HTTP/1.1',
        sourceIp: request.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: request.requestId,
      routeKey: '$default',
      stage: '$default',
      time: clfTime(request.nowMs),
      timeEpoch: request.nowMs,
      authorizer: {
        iam: {
          accessKey: request.accessKeyId,
          accountId: accountId ?? '',
          callerId: request.accessKeyId,
          cognitoIdentity: null,
          principalOrgId: '',
          userArn: request.callerArn,
          userId: request.accessKeyId,
        },
      },
    },
    ...(hasBody ? { body: request.body.toString(text ? 'utf8' : 'base64') } : {}),
    isBase64Encoded: hasBody && !text,
  };
}
