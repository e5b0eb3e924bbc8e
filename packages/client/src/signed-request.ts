/**
 * One SigV4-signed call to the Token Vending Service — signed for `execute-api` (the REST API) or `lambda`
 * (a function URL) — and the mapping of its answer to a value or a {@link TokenServiceError}. Shared by the
 * in-process client and the `tvs` command.
 */
import { type SigningService, signingServiceFor } from './contract/endpoint-kinds.js';
import { codeOfAnswer, type ErrorCode, TokenServiceError } from './contract/errors.js';
import { retryAfterSeconds } from './contract/retry-after.js';
import { signRequest } from './sigv4.js';

/** AWS credentials, as the SDK's credential providers return them. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/**
 * Credentials, or a provider of them (refreshed by the provider, e.g. `defaultProvider()` of
 * `@aws-sdk/credential-provider-node`).
 */
export type CredentialsSource = AwsCredentials | (() => Promise<AwsCredentials>);

/** Where and as whom to call the service. */
export interface ServiceTarget {
  /**
   * The service's base URL: `https://abc123.execute-api.us-east-1.amazonaws.com/prod` (REST API),
   * `https://abc123.lambda-url.us-east-1.on.aws` (function URL) or `http://127.0.0.1:8787` (`tvs serve`).
   */
  readonly endpoint: string;
  /** The region to sign for (the API's region). */
  readonly region: string;
  /**
   * The service name to sign for: `execute-api` for a REST API, `lambda` for a function URL.
   * @default the one the endpoint's host name implies (`lambda` for `*.lambda-url.<region>.on.aws`), else `execute-api`
   */
  readonly service?: SigningService;
  readonly credentials: CredentialsSource;
  /** Give up on one HTTP exchange after this long, ms. @default 10_000 */
  readonly timeoutMs?: number;
}

/** One request to the service. */
export interface ServiceRequest {
  readonly method: 'GET' | 'POST';
  /** `/v1/token` or `/v1/clients`, appended to the endpoint's path. */
  readonly path: string;
  /** The body, sent as is (tests send malformed ones). */
  readonly body?: string;
  /** @default 'application/json' when there is a body */
  readonly contentType?: string;
}

/** The service's answer, body read. */
export interface ServiceAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

/** The answer of `POST /v1/token` (docs/contract.md). */
export interface TokenAnswer {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
  readonly expires_at: string;
  /** When the token was issued; absent from a service older than this client. */
  readonly issued_at?: string;
  readonly scope: string;
  readonly client: string;
}

/** The answer of `GET /v1/clients`. */
export interface ClientsAnswer {
  readonly clients: readonly { readonly client: string; readonly scopes: readonly string[] }[];
}

async function resolveCredentials(source: CredentialsSource): Promise<AwsCredentials> {
  const credentials = typeof source === 'function' ? await source() : source;
  if (typeof credentials?.accessKeyId !== 'string' || typeof credentials.secretAccessKey !== 'string') {
    throw new TypeError('the credentials to sign with have no access key id or no secret access key');
  }
  return credentials;
}

/** The URL of `path` under the endpoint, keeping the endpoint's own path (an API Gateway stage). */
export function serviceUrl(endpoint: string, path: string): URL {
  const base = new URL(endpoint);
  if (base.protocol !== 'https:' && base.protocol !== 'http:') {
    throw new TypeError(`endpoint must be an http(s) URL, not ${base.protocol}`);
  }
  base.pathname = `${base.pathname.replace(/\/+$/, '')}${path}`;
  base.search = '';
  base.hash = '';
  return base;
}

/**
 * Sign `request` with SigV4 for the target's service (see {@link ServiceTarget.service}) and send it.
 * Network failures reject as the fetch error.
 */
export async function sendSigned(target: ServiceTarget, request: ServiceRequest): Promise<ServiceAnswer> {
  const url = serviceUrl(target.endpoint, request.path);
  const headers: Record<string, string> = { host: url.host };
  if (request.body !== undefined) headers['content-type'] = request.contentType ?? 'application/json';
  const signed = signRequest(
    {
      method: request.method,
      path: url.pathname,
      headers,
      ...(request.body !== undefined ? { body: request.body } : {}),
    },
    {
      credentials: await resolveCredentials(target.credentials),
      region: target.region,
      service: signingServiceFor(target.endpoint, target.service),
      signingDate: new Date(),
    },
  );
  // fetch sets Host from the URL itself (the same value that was signed).
  const { host: _host, ...sendHeaders } = signed;
  const answer = await fetch(url, {
    method: request.method,
    headers: { ...sendHeaders, accept: 'application/json' },
    ...(request.body !== undefined ? { body: request.body } : {}),
    signal: AbortSignal.timeout(target.timeoutMs ?? 10_000),
    redirect: 'error',
  });
  return { status: answer.status, headers: answer.headers, text: await answer.text() };
}

/** The error an answer other than 200 stands for. */
export function errorOf(answer: ServiceAnswer): TokenServiceError {
  const retryAfter = retryAfterSeconds(answer.headers.get('retry-after') ?? undefined, Date.now());
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    body = undefined;
  }
  const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (typeof fields.error === 'string') {
    const description =
      typeof fields.error_description === 'string' ? fields.error_description : fields.error;
    return new TokenServiceError(codeOfAnswer(answer.status, fields.error, fields.code), {
      status: answer.status,
      error: fields.error,
      error_description: description,
      retryAfter,
    });
  }
  // The front door's own refusal: `{"message"}` from API Gateway, `{"Message"}` from a function URL.
  const gatewayType = answer.headers.get('x-amzn-errortype')?.split(':')[0];
  const frontDoorMessage = fields.message ?? fields.Message;
  const message = typeof frontDoorMessage === 'string' ? frontDoorMessage : `HTTP ${answer.status}`;
  return new TokenServiceError('TVS_ERR_FRONT_DOOR', {
    status: answer.status,
    error: gatewayType || `http_${answer.status}`,
    error_description: message,
    retryAfter,
  });
}

function invalidAnswer(reason: string): TokenServiceError {
  return new TokenServiceError('TVS_ERR_INVALID_ANSWER', {
    status: 200,
    error: 'invalid_response',
    error_description: `the token service answered 200 but ${reason}`,
  });
}

/** The JSON body of a 200 answer; any other status becomes its {@link TokenServiceError}. */
function okJson(answer: ServiceAnswer): unknown {
  if (answer.status !== 200) throw errorOf(answer);
  try {
    return JSON.parse(answer.text);
  } catch {
    throw invalidAnswer('not with JSON');
  }
}

/** Validate a 200 answer of `POST /v1/token` field by field. */
export function processTokenAnswer(answer: ServiceAnswer): TokenAnswer {
  const body = okJson(answer);
  const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const problem = TOKEN_ANSWER_CHECKS.find(([valid]) => !valid(fields));
  if (problem) throw invalidAnswer(problem[1]);
  const { access_token, expires_in, expires_at, issued_at, scope, client } = fields as {
    [name in keyof TokenAnswer]-?: NonNullable<TokenAnswer[name]>;
  };
  return {
    access_token,
    token_type: 'Bearer',
    expires_in,
    expires_at,
    ...(fields.issued_at === undefined ? {} : { issued_at }),
    scope,
    client,
  };
}

const isDate = (value: unknown): boolean => typeof value === 'string' && !Number.isNaN(Date.parse(value));

/** The checks of a token answer, field by field, in order, each with what the answer lacks when it fails. */
const TOKEN_ANSWER_CHECKS: readonly [(fields: Record<string, unknown>) => boolean, string][] = [
  [({ access_token }) => typeof access_token === 'string' && access_token !== '', 'without an access_token'],
  [
    ({ token_type }) => typeof token_type === 'string' && token_type.toLowerCase() === 'bearer',
    'with a token_type other than Bearer',
  ],
  [
    ({ expires_in }) => typeof expires_in === 'number' && Number.isInteger(expires_in) && expires_in >= 0,
    'without a valid expires_in',
  ],
  [({ expires_at }) => isDate(expires_at), 'without a valid expires_at'],
  [({ issued_at }) => issued_at === undefined || isDate(issued_at), 'with an invalid issued_at'],
  [
    ({ scope, client }) => typeof scope === 'string' && typeof client === 'string',
    'without scope and client',
  ],
];

/** Validate a 200 answer of `GET /v1/clients`. */
export function processClientsAnswer(answer: ServiceAnswer): ClientsAnswer {
  const body = okJson(answer);
  const clients = (body as { clients?: unknown } | null)?.clients;
  const valid =
    Array.isArray(clients) &&
    clients.every(
      (entry) =>
        typeof entry?.client === 'string' &&
        Array.isArray(entry.scopes) &&
        entry.scopes.every((scope: unknown) => typeof scope === 'string'),
    );
  if (!valid) throw invalidAnswer('without a valid clients list');
  return { clients: clients as ClientsAnswer['clients'] };
}

/**
 * Wrap a failure to reach the service (no answer at all) in a `TokenServiceError` with status 0:
 * `TVS_ERR_TIMEOUT`, `TVS_ERR_NO_CREDENTIALS` or `TVS_ERR_UNREACHABLE`.
 */
export function unreachable(error: unknown): TokenServiceError {
  if (error instanceof TokenServiceError) return error;
  const name = (error as { name?: string })?.name;
  const code = (error as { cause?: { code?: string } })?.cause?.code;
  const [tvsCode, oauthLike, description]: [ErrorCode, string, string] =
    name === 'TimeoutError'
      ? ['TVS_ERR_TIMEOUT', 'timeout', 'the token service did not answer in time']
      : name === 'CredentialsProviderError'
        ? ['TVS_ERR_NO_CREDENTIALS', 'no_credentials', 'no AWS credentials found to sign the request with']
        : [
            'TVS_ERR_UNREACHABLE',
            'unreachable',
            `the token service could not be reached${code ? ` (${code})` : ''}`,
          ];
  return new TokenServiceError(
    tvsCode,
    { status: 0, error: oauthLike, error_description: description },
    { cause: error },
  );
}

/** How 503 answers are retried. */
export interface RetryPolicy {
  /** Tries in all. */
  readonly maxAttempts: number;
  /** The longest wait before a retry, ms, whatever `Retry-After` says. */
  readonly maxRetryWaitMs: number;
  readonly sleep: (ms: number) => Promise<void>;
}

/**
 * Run `call`, retrying while the service's answer is retryable (a 503: `TokenServiceError.retryable`, by
 * its code), each time after the `Retry-After` it gave (1 s when absent), bounded by the policy. Anything else — and a failure to reach the service at all — is thrown
 * at once as a `TokenServiceError`.
 */
export async function retryUnavailable<T>(policy: RetryPolicy, call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const failure = unreachable(error);
      if (!failure.retryable || attempt >= policy.maxAttempts) throw failure;
      await policy.sleep(Math.min((failure.retryAfter ?? 1) * 1000, policy.maxRetryWaitMs));
    }
  }
}
