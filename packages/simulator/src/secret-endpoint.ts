/**
 * The client secret endpoints of docs/contract.md's "Central credential rotation",
 * `/<customer-id>/config/clients/<client_id>/secret`: `POST` resets the secret (a bearer token whose
 * scope covers `*:config/clients/<client_id>`, answer `201 {"secret":"…"}`; the new secret takes effect
 * at once, with no grace period, and tokens already issued stay valid until they expire), `GET` reads
 * the live one (scope `.:config/clients/<client_id>`, answer `200 {"secret":"…"}`); and the
 * {@link ResetFault}s a reset can show.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { covers, parseScope, type Scope } from '@tvs/client/contract';

import { type Answer, bearerChallenge, errorAnswer, isAnswer, jsonAnswer } from './answers.js';
import { type ResetFault, statusFaultAnswer } from './faults.js';
import { type Pacing, readBody, writeAnswer, writeInTwoParts } from './http.js';
import type { ClientRecord, SimulatorState } from './state.js';

const SECRET_SUFFIX = '/secret';

/**
 * The client id in a secret path `<clientsPath><client_id>/secret` (`clientsPath` being
 * `/<customer-id>/config/clients/`), else `undefined`: the id is one non-empty path segment.
 */
export function secretPathClientId(path: string, clientsPath: string): string | undefined {
  if (!path.startsWith(clientsPath) || !path.endsWith(SECRET_SUFFIX)) return undefined;
  const clientId = path.slice(clientsPath.length, path.length - SECRET_SUFFIX.length);
  return clientId !== '' && !clientId.includes('/') ? clientId : undefined;
}

/**
 * A new client secret: 40 random base64url characters with a `+`, a `%` and a `:` inserted at random
 * places. Every secret needs form-urlencoding in a Basic header (RFC 6749 §2.3.1): sent raw, the `+`
 * decodes to a space and the `%` to something else or nothing, so a caller that skips the encoding fails
 * every time, not once in a while.
 */
function newClientSecret(): string {
  const characters = [...randomBytes(30).toString('base64url')];
  for (const special of ['+', '%', ':']) characters.splice(randomInt(characters.length + 1), 0, special);
  return characters.join('');
}

/**
 * The scope a reset of the client whose id is `clientId` needs, `*:config/clients/<client_id>`; undefined
 * when the id cannot stand in a scope path (a character outside the scope grammar, or a `*`, which would
 * make it a glob): no token can cover that, so such a reset is refused (fail closed).
 */
function resetScope(clientId: string): Scope | undefined {
  return clientScope('*', clientId);
}

/** The scope a read of the secret of `clientId` needs, `.:config/clients/<client_id>`; see {@link resetScope}. */
function readScope(clientId: string): Scope | undefined {
  return clientScope('.', clientId);
}

function clientScope(access: '*' | '.', clientId: string): Scope | undefined {
  if (clientId.includes('*')) return undefined;
  try {
    return parseScope(`${access}:config/clients/${clientId}`);
  } catch {
    return undefined;
  }
}

/** Parses `Authorization: Bearer …` (RFC 6750 §2.1); `undefined` if absent or not a Bearer token. */
function parseBearer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  return /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header)?.[1];
}

function invalidToken(description: string, tokenPresented: boolean): Answer {
  return errorAnswer(401, 'invalid_token', description, {
    'WWW-Authenticate': bearerChallenge(tokenPresented ? 'invalid_token' : undefined),
  });
}

/**
 * The client `clientId` if the request's bearer token may act on its secret (`required` covered by the
 * token's scope), else the error answer Identity Cloud would give (RFC 6750).
 */
function secretClient(
  state: SimulatorState,
  req: IncomingMessage,
  clientId: string,
  required: Scope | undefined,
): ClientRecord | Answer {
  const token = parseBearer(req.headers.authorization);
  // RFC 6750 §3.1: no error code when the request has no token or uses another scheme.
  if (token === undefined) return invalidToken('a bearer access token is required', false);
  const issued = state.bearerToken(token);
  if (issued === undefined) return invalidToken('the access token is not recognised', true);
  if (state.now() >= issued.expiresAt) return invalidToken('the access token expired', true);
  if (required === undefined || !issued.scopes.some((granted) => covers(granted, required))) {
    return errorAnswer(403, 'insufficient_scope', 'the token’s scope does not cover this client', {
      'WWW-Authenticate': bearerChallenge('insufficient_scope', required?.text),
    });
  }
  return state.client(clientId) ?? errorAnswer(404, 'not_found', 'no such client');
}

/**
 * The answer Identity Cloud would give to a reset of `clientId`'s secret; when authorized, the reset
 * takes effect here, at once.
 */
function resetAnswer(state: SimulatorState, req: IncomingMessage, clientId: string): Answer {
  const client = secretClient(state, req, clientId, resetScope(clientId));
  if (isAnswer(client)) return client;
  const secret = newClientSecret();
  state.resetSecret(client, secret);
  return jsonAnswer(201, { secret });
}

/** `POST …/secret`: counts the request, takes its fault, if any, and resets and answers (or misbehaves). */
export async function handleSecretReset(
  state: SimulatorState,
  pacing: Pacing,
  req: IncomingMessage,
  res: ServerResponse,
  clientId: string,
): Promise<void> {
  const fault = state.takeResetRequest();
  await readBody(req);
  if (!(await pacing.latency())) return;
  await answerReset(fault, { state, pacing, req, res, clientId });
}

interface ResetExchange {
  state: SimulatorState;
  pacing: Pacing;
  req: IncomingMessage;
  res: ServerResponse;
  clientId: string;
}

/** Answers a reset request, already read and delayed by the latency, the way `fault` says. */
async function answerReset(
  fault: ResetFault | undefined,
  { state, pacing, req, res, clientId }: ResetExchange,
): Promise<void> {
  switch (fault?.kind) {
    case undefined:
      writeAnswer(res, resetAnswer(state, req, clientId));
      return;
    case 'status':
      writeAnswer(res, statusFaultAnswer(fault, 'reset'));
      return;
    case 'close-before-reset':
      req.socket.destroy();
      return;
    case 'close-after-reset':
      resetAnswer(state, req, clientId);
      req.socket.destroy();
      return;
    case 'slow-headers': {
      const answer = resetAnswer(state, req, clientId);
      if (!(await pacing.sleep(fault.delayMs))) return;
      writeAnswer(res, answer);
      return;
    }
    case 'reset-mid-body':
      await writeInTwoParts(res, resetAnswer(state, req, clientId), pacing);
      return;
    case 'lands-late': {
      // The reset takes effect after the wait even when the caller gave up (or the server is closing).
      await pacing.sleep(fault.delayMs);
      const answer = resetAnswer(state, req, clientId);
      if (!res.destroyed) writeAnswer(res, answer);
      return;
    }
  }
}

/**
 * `GET …/secret`: the client's live secret, `200 {"secret"}`, for a bearer token whose scope covers
 * `.:config/clients/<client_id>` (the reset scope does).
 */
export async function handleSecretRead(
  state: SimulatorState,
  pacing: Pacing,
  req: IncomingMessage,
  res: ServerResponse,
  clientId: string,
): Promise<void> {
  await readBody(req);
  if (!(await pacing.latency())) return;
  const client = secretClient(state, req, clientId, readScope(clientId));
  writeAnswer(res, isAnswer(client) ? client : jsonAnswer(200, { secret: state.readSecret(client) }));
}
