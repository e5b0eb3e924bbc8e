/**
 * The answers the simulator's endpoints give, as values before they are written: the JSON bodies and
 * headers Identity Cloud uses (OAuth 2.0 errors of RFC 6749 §5.2 and RFC 6750 §3, never cached).
 */

/** An HTTP answer: status, headers (without `Content-Length`) and body. */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The realm of the simulator's `WWW-Authenticate` challenges. */
export const REALM = 'identity-cloud-simulator';

/** The `Content-Type` of every JSON answer. */
export const JSON_TYPE = 'application/json;charset=UTF-8';

/** The headers that keep a token or a secret out of caches (RFC 6749 §5.1). */
export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

/** `value` is an {@link Answer}, as opposed to the record a check lets through. */
export function isAnswer(value: object): value is Answer {
  return 'status' in value && 'headers' in value && 'body' in value;
}

/** `status` with `body` as JSON, not to be cached, with `headers` added. */
export function jsonAnswer(status: number, body: unknown, headers: Record<string, string> = {}): Answer {
  return {
    status,
    headers: { 'Content-Type': JSON_TYPE, ...NO_STORE, ...headers },
    body: JSON.stringify(body),
  };
}

/** An OAuth 2.0 error answer: `{"error","error_description"}`. */
export function errorAnswer(
  status: number,
  error: string,
  description: string,
  headers: Record<string, string> = {},
): Answer {
  return jsonAnswer(status, { error, error_description: description }, headers);
}

/** The `WWW-Authenticate` value of RFC 6750 §3; without `error` when the request carried no token (§3.1). */
export function bearerChallenge(error?: string, scope?: string): string {
  const params = [`realm="${REALM}"`];
  if (error !== undefined) params.push(`error="${error}"`);
  if (scope !== undefined) params.push(`scope="${scope}"`);
  return `Bearer ${params.join(', ')}`;
}
