/**
 * The token endpoint, `POST /<customer-id>/login/token`, as Identity Cloud's "Get an administrative
 * access token" describes it: HTTP Basic with a configuration client's id and secret (form-urlencoded
 * before Base64, RFC 6749 §2.3.1), a form body `grant_type=client_credentials&scope=…`, and the answer
 * `{"access_token","expires_in","token_type":"Bearer","scope"}`; and the {@link Fault}s it can show.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { covers, parseScopes, type Scope } from '@tvs/client/contract';

import { type Answer, errorAnswer, isAnswer, JSON_TYPE, jsonAnswer, NO_STORE, REALM } from './answers.js';
import { type Fault, statusFaultAnswer } from './faults.js';
import { type Pacing, readBody, writeAnswer, writeEndlessBody, writeInTwoParts } from './http.js';
import type { ClientRecord, SimulatorState } from './state.js';

/** A client's credentials from a Basic `Authorization` header. */
export interface BasicCredentials {
  clientId: string;
  clientSecret: string;
}

/** `application/x-www-form-urlencoded` decoding of one Basic credential part; `undefined` if malformed. */
function formDecode(part: string): string | undefined {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** Parses `Authorization: Basic …` per RFC 6749 §2.3.1; `undefined` if absent or malformed. */
export function parseBasic(header: string | undefined): BasicCredentials | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  const encoded = match?.[1];
  if (encoded === undefined || encoded.length % 4 === 1) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const clientId = formDecode(decoded.slice(0, colon));
  const clientSecret = formDecode(decoded.slice(colon + 1));
  if (clientId === undefined || clientSecret === undefined || clientId === '') return undefined;
  return { clientId, clientSecret };
}

function invalidClient(description: string): Answer {
  return errorAnswer(401, 'invalid_client', description, { 'WWW-Authenticate': `Basic realm="${REALM}"` });
}

/** The parameters of a form body, each present at most once; else the `invalid_request` answer. */
function formParameters(req: IncomingMessage, rawBody: string | undefined): URLSearchParams | Answer {
  if (rawBody === undefined) return errorAnswer(400, 'invalid_request', 'request body too large');
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (contentType !== 'application/x-www-form-urlencoded') {
    return errorAnswer(400, 'invalid_request', 'body must be application/x-www-form-urlencoded');
  }
  const params = new URLSearchParams(rawBody);
  for (const name of new Set(params.keys())) {
    if (params.getAll(name).length > 1) {
      return errorAnswer(400, 'invalid_request', `parameter ${name} repeated`);
    }
  }
  return params;
}

/** The client the request's Basic credentials authenticate, else the `invalid_client` answer. */
function authenticatedClient(state: SimulatorState, req: IncomingMessage): ClientRecord | Answer {
  const credentials = parseBasic(req.headers.authorization);
  if (credentials === undefined) return invalidClient('client authentication failed');
  return (
    state.authenticate(credentials.clientId, credentials.clientSecret) ??
    invalidClient('client authentication failed')
  );
}

/** The requested scope, as sent and parsed, of a `client_credentials` grant; else the error answer. */
function requestedScope(params: URLSearchParams): { text: string; scopes: Scope[] } | Answer {
  if (params.get('grant_type') !== 'client_credentials') {
    return errorAnswer(400, 'unsupported_grant_type', 'grant_type must be client_credentials');
  }
  const text = params.get('scope');
  if (text === null || text.trim() === '') {
    return errorAnswer(400, 'invalid_request', 'scope is required');
  }
  try {
    return { text, scopes: parseScopes(text) };
  } catch {
    return errorAnswer(400, 'invalid_scope', 'scope is malformed');
  }
}

/** The answer Identity Cloud would give to this token request; a granted token is minted in `state`. */
export function tokenAnswer(
  state: SimulatorState,
  req: IncomingMessage,
  rawBody: string | undefined,
): Answer {
  const params = formParameters(req, rawBody);
  if (isAnswer(params)) return params;
  const client = authenticatedClient(state, req);
  if (isAnswer(client)) return client;
  const requested = requestedScope(params);
  if (isAnswer(requested)) return requested;

  const allowed = requested.scopes.every((r) => client.allowedScopes.some((a) => covers(a, r)));
  const token = state.mintToken(client, allowed ? requested.scopes : []);
  // Identity Cloud's quirk: a scope outside the token policy yields a token with no scope, not an error.
  return jsonAnswer(200, {
    access_token: token,
    expires_in: client.accessTokenLifetime,
    token_type: 'Bearer',
    scope: allowed ? requested.text : '',
  });
}

/** A 200 JSON answer with this body text, whatever it is. */
function raw200(body: string): Answer {
  return { status: 200, headers: { 'Content-Type': JSON_TYPE, ...NO_STORE }, body };
}

/** `POST …/login/token`: counts the request, takes its fault, if any, and answers (or misbehaves). */
export async function handleTokenRequest(
  state: SimulatorState,
  pacing: Pacing,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const fault = state.takeTokenRequest();
  const rawBody = await readBody(req);
  if (!(await pacing.latency())) return;
  if (fault === undefined) {
    writeAnswer(res, tokenAnswer(state, req, rawBody));
    return;
  }
  await answerWithFault(fault, { state, pacing, req, res, rawBody });
}

interface TokenExchange {
  state: SimulatorState;
  pacing: Pacing;
  req: IncomingMessage;
  res: ServerResponse;
  rawBody: string | undefined;
}

/** Answers a token request, already read and delayed by the latency, the way `fault` says. */
async function answerWithFault(
  fault: Fault,
  { state, pacing, req, res, rawBody }: TokenExchange,
): Promise<void> {
  switch (fault.kind) {
    case 'status':
      writeAnswer(res, statusFaultAnswer(fault, 'token'));
      return;
    case 'slow-headers':
      if (!(await pacing.sleep(fault.delayMs))) return;
      writeAnswer(res, tokenAnswer(state, req, rawBody));
      return;
    case 'slow-body':
      await writeInTwoParts(res, tokenAnswer(state, req, rawBody), pacing, fault.delayMs);
      return;
    case 'reset-mid-body':
      await writeInTwoParts(res, tokenAnswer(state, req, rawBody), pacing);
      return;
    case 'empty-200':
      writeAnswer(res, raw200(''));
      return;
    case 'non-json-200':
      writeAnswer(res, raw200('<html><body><h1>Service Temporarily Unavailable</h1></body></html>'));
      return;
    case 'json-200':
      answerPlanted(state, res, fault.body);
      return;
    case 'close-without-answer':
      req.socket.destroy();
      return;
    case 'endless-200':
      await writeEndlessBody(res, fault.contentLength, pacing, state);
      return;
  }
}

/** The `json-200` fault: `body` as the answer; a string `access_token` in it counts as handed out. */
function answerPlanted(state: SimulatorState, res: ServerResponse, body: unknown): void {
  const planted = body as { access_token?: unknown } | null;
  if (typeof planted === 'object' && planted !== null && typeof planted.access_token === 'string') {
    state.recordIssued(planted.access_token);
  }
  writeAnswer(res, jsonAnswer(200, body));
}
