/**
 * The two front doors of the service (docs/contract.md "Endpoint kinds") and the one rule callers
 * and the local server share about them: which SigV4 service name a request is signed for.
 *
 * - `rest-api`: an API Gateway REST API with `AWS_IAM` auth; requests are signed for `execute-api`.
 * - `function-url`: a Lambda function URL with `AWS_IAM` auth; requests are signed for `lambda`.
 */

/** Where callers reach the service. */
export type EndpointKind = 'rest-api' | 'function-url';

/** Every endpoint kind, the default first. */
export const ENDPOINT_KINDS: readonly EndpointKind[] = Object.freeze(['rest-api', 'function-url']);

/** The endpoint kind of a construct, a stack and `tvs serve` that are not told otherwise. */
export const DEFAULT_ENDPOINT_KIND: EndpointKind = 'rest-api';

/** A SigV4 service name a caller signs its requests for. */
export type SigningService = 'execute-api' | 'lambda';

/** The SigV4 service name requests to each endpoint kind are signed for. */
export const SIGNING_SERVICE: Readonly<Record<EndpointKind, SigningService>> = Object.freeze({
  'rest-api': 'execute-api',
  'function-url': 'lambda',
});

/** Every signing service name, for validating an explicit choice. */
export const SIGNING_SERVICES: readonly SigningService[] = Object.freeze(Object.values(SIGNING_SERVICE));

/** Whether `value` names an endpoint kind. */
export function isEndpointKind(value: unknown): value is EndpointKind {
  return typeof value === 'string' && (ENDPOINT_KINDS as readonly string[]).includes(value);
}

/** Whether `value` names a signing service. */
export function isSigningService(value: unknown): value is SigningService {
  return typeof value === 'string' && (SIGNING_SERVICES as readonly string[]).includes(value);
}

const HOST_PATTERNS: readonly { kind: EndpointKind; pattern: RegExp }[] = [
  // https://<api-id>.execute-api.<region>.amazonaws.com/<stage>
  { kind: 'rest-api', pattern: /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/ },
  // https://<url-id>.lambda-url.<region>.on.aws
  { kind: 'function-url', pattern: /\.lambda-url\.([a-z0-9-]+)\.on\.aws$/ },
];

/**
 * What an endpoint's host name says about it: its kind and region, for the AWS host names of the two
 * kinds; `undefined` for any other host (a custom domain, `127.0.0.1`) or a string that is not a URL.
 */
export function describeEndpointHost(endpoint: string): { kind: EndpointKind; region: string } | undefined {
  let host: string;
  try {
    host = new URL(endpoint).hostname.toLowerCase();
  } catch {
    return undefined;
  }
  for (const { kind, pattern } of HOST_PATTERNS) {
    const region = pattern.exec(host)?.[1];
    if (region) return { kind, region };
  }
  return undefined;
}

/**
 * The service name to sign requests to `endpoint` for: the one given, else the one its host name implies
 * (`lambda` for `*.lambda-url.<region>.on.aws`), else `execute-api`.
 */
export function signingServiceFor(endpoint: string, given?: SigningService): SigningService {
  if (given) return given;
  const kind = describeEndpointHost(endpoint)?.kind ?? DEFAULT_ENDPOINT_KIND;
  return SIGNING_SERVICE[kind];
}
