/**
 * A simulator of Akamai Identity Cloud's token endpoint (`POST /<customer-id>/login/token`), as the
 * Identity Cloud documentation ("Get an administrative access token") describes it: HTTP Basic with a configuration client's id and secret
 * (form-urlencoded before Base64, RFC 6749 §2.3.1), a form body `grant_type=client_credentials&scope=…`,
 * and the answer `{"access_token","expires_in","token_type":"Bearer","scope"}`.
 *
 * It also serves the client-secret reset endpoint of docs/contract.md's "Central credential rotation"
 * (`POST /<customer-id>/config/clients/<client_id>/secret`, a bearer token whose scope covers
 * `*:config/clients/<client_id>`, answer `201 {"secret":"…"}`): the new secret takes effect at once, with
 * no grace period, and tokens already issued stay valid until they expire.
 *
 * It is a real HTTP server on 127.0.0.1 so that the service's real HTTP client (undici) is exercised,
 * including the failure modes a network peer can produce (see {@link Fault} and {@link ResetFault}). It
 * never logs.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { covers, parseScope, parseScopes, type Scope } from '@tvs/client/contract';

/** The customer id used in the token endpoint path when none is given (the one in Identity Cloud’s documentation examples). */
export const DEFAULT_CUSTOMER_ID = '01000000-0000-3000-9000-000000000000';

/** A configuration client together with its token policy. */
export interface SimulatedClient {
  clientId: string;
  clientSecret: string;
  /** The token policy's `allowedScopes`: every requested scope must be contained in one of these. */
  allowedScopes: string[];
  /** The token policy's `accessTokenLifetime` in seconds; default 3600. */
  accessTokenLifetime?: number;
}

/** Options of {@link startIdentityCloudSimulator}. */
export interface SimulatorOptions {
  /** Interface to listen on; default `127.0.0.1`. */
  host?: string;
  /** Port to listen on; default 0 (a free port). */
  port?: number;
  /** Customer id in the token endpoint path; default {@link DEFAULT_CUSTOMER_ID}. */
  customerId?: string;
  clients: SimulatedClient[];
  /**
   * Delay in milliseconds before answering each token or secret-reset request (a realistic upstream
   * takes 50–200 ms).
   */
  latencyMs?: number;
  /**
   * The clock, in epoch milliseconds, that issued access tokens expire by (after the issuing client's
   * `accessTokenLifetime`) when they are presented to the secret-reset endpoint; default `Date.now`.
   */
  now?: () => number;
}

/** A misbehaviour of the token endpoint, applied to one token request (or to all, when persistent). */
export type Fault =
  /** Answer this status; without `body`, an RFC 6749 §5.2 JSON error body fitting the status. */
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  /** Read the request, then wait `delayMs` before writing the status line (and then answer normally). */
  | { kind: 'slow-headers'; delayMs: number }
  /** Write the normal answer's headers and part of its body, stall `delayMs`, then write the rest. */
  | { kind: 'slow-body'; delayMs: number }
  /** Write the normal answer's headers and part of its body, then reset the connection. */
  | { kind: 'reset-mid-body' }
  /** 200 with `Content-Type: application/json` and an empty body. */
  | { kind: 'empty-200' }
  /** 200 with `Content-Type: application/json` and an HTML body (a proxy's error page, say). */
  | { kind: 'non-json-200' }
  /** 200 with this value as JSON body, whatever it is. */
  | { kind: 'json-200'; body: unknown }
  /** Destroy the connection right after reading the request, without answering. */
  | { kind: 'close-without-answer' }
  /**
   * 200 whose JSON body never ends: 16 KiB chunks, written as fast as the reader takes them, until the
   * connection closes (or 1 GiB). With `contentLength`, the headers claim 1 GiB; without, the body is
   * chunked. {@link IdentityCloudSimulator.endlessBodyBytes} tells how much a reader took before it let go.
   */
  | { kind: 'endless-200'; contentLength: boolean };

/**
 * A misbehaviour of the secret-reset endpoint, applied to one reset request (or to all, when
 * persistent). What matters to a rotation is whether the secret changed, so each kind says so.
 */
export type ResetFault =
  /**
   * Answer this status without resetting anything (the secret is unchanged); without `body`, an
   * RFC 6750 / RFC 6749 JSON error body fitting the status.
   */
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  /** Destroy the connection right after reading the request: no answer, and the secret is unchanged. */
  | { kind: 'close-before-reset' }
  /**
   * Handle the request normally — an authorized reset takes effect and its secret is recorded in
   * `issuedSecrets` — then destroy the connection without answering: the secret changed, and the caller
   * never saw the new one.
   */
  | { kind: 'close-after-reset' }
  /** Handle the request normally (an authorized reset takes effect at once), then wait `delayMs` before answering. */
  | { kind: 'slow-headers'; delayMs: number }
  /**
   * A slow answer that lands late: wait `delayMs`, and only then let an authorized reset take effect and
   * answer it (to nobody, if the caller gave up): the secret changes after the caller stopped waiting.
   */
  | { kind: 'lands-late'; delayMs: number }
  /**
   * Handle the request normally (an authorized reset takes effect), write the headers and part of the
   * body, then reset the connection: the caller sees a 201 but not the whole secret.
   */
  | { kind: 'reset-mid-body' };

/** A running simulator. */
export interface IdentityCloudSimulator {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** `${url}/${customerId}/login/token` */
  readonly tokenEndpoint: string;
  /** Count of POSTs to the token endpoint, whatever their outcome, since start or the last reset. */
  readonly tokenRequests: number;
  /**
   * Every access token handed out (normal answers, and `json-200` bodies with a string `access_token`)
   * since start, so tests can search logs for them. {@link resetCounters} does not clear it, so a reset
   * cannot hide a leak.
   */
  readonly issuedTokens: readonly string[];
  /**
   * Count of POSTs to a secret-reset endpoint (any client id), whatever their outcome, since start or
   * the last {@link resetCounters}.
   */
  readonly resetRequests: number;
  /**
   * Count of secret resets that took effect — answered 201, or with the answer withheld or cut short by
   * a `close-after-reset`, `slow-headers` or `reset-mid-body` fault — since start or the last
   * {@link resetCounters}.
   */
  readonly secretResets: number;
  /** Count of answered reads of a live secret (`GET …/secret`, 200) since start or the last reset. */
  readonly secretReads: number;
  /**
   * Every client secret a reset generated, in order, since start, so tests can learn a secret a caller
   * never saw and search logs for them. {@link resetCounters} does not clear it, so a reset cannot hide a
   * leak. (Secrets given through options, {@link setClientSecret} or {@link upsertClient} are not in it.)
   */
  readonly issuedSecrets: readonly string[];
  /**
   * Bytes the last `endless-200` answer handed to its connection before the reader closed it: a client
   * that stops reading past its limit lets the simulator write little more than that limit (plus what
   * the sockets buffer); one that keeps reading lets it write without end.
   */
  readonly endlessBodyBytes: number;
  /** `${url}/${customerId}/config/clients/${clientId}/secret`, the secret-reset endpoint of a client. */
  secretEndpoint(clientId: string): string;
  /** When an access token this simulator issued expires, epoch ms (undefined for one it never issued). */
  expiryOf(accessToken: string): number | undefined;
  /** Queue faults: each of the next token requests takes the next fault; queued faults come before a persistent one. */
  injectFaults(...faults: Fault[]): void;
  /** Every token request (with no queued fault left) gets this fault until cleared with `undefined`. */
  setPersistentFault(fault: Fault | undefined): void;
  /**
   * Queue faults for the secret-reset endpoint: each of the next reset requests (to any client) takes
   * the next fault; queued faults come before a persistent one. Token requests are not affected.
   */
  injectResetFaults(...faults: ResetFault[]): void;
  /** Every reset request (with no queued reset fault left) gets this fault until cleared with `undefined`. */
  setPersistentResetFault(fault: ResetFault | undefined): void;
  /** The live secret of a client (what `GET …/secret` answers), for tests to check a stored one against. */
  liveSecret(clientId: string): string | undefined;
  /** Change a client's secret (rotation): the old secret stops working at once. */
  setClientSecret(clientId: string, newSecret: string): void;
  /** Add a client or replace the one with the same id. */
  upsertClient(client: SimulatedClient): void;
  /** Reset `tokenRequests`, `resetRequests`, `secretResets` and the issued count of `/_sim/stats` to 0. */
  resetCounters(): void;
  /** Close the server and destroy every open connection, stalled ones too. */
  close(): Promise<void>;
}

interface ClientRecord {
  clientId: string;
  secretHash: Buffer;
  /** The live secret itself, for `GET …/config/clients/<client_id>/secret`. */
  secret: string;
  allowedScopes: Scope[];
  accessTokenLifetime: number;
}

/** What the simulator remembers of an access token it issued, to check it as a bearer token. */
interface IssuedToken {
  /** The granted scope: empty when the request asked for more than the token policy allows. */
  scopes: Scope[];
  /** Epoch milliseconds from which the token is expired. */
  expiresAt: number;
}

/** The endpoints faults can target. */
type FaultedEndpoint = 'token' | 'reset';

/** The answer of `POST /_sim/fault`: which endpoint's persistent fault is now what. */
interface AdminFaultAnswer {
  endpoint: FaultedEndpoint;
  fault: Fault | ResetFault | null;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const MAX_BODY_BYTES = 16 * 1024;
const REALM = 'identity-cloud-simulator';
const JSON_TYPE = 'application/json;charset=UTF-8';
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
// Compared against when the client id is unknown, so that case costs the same as a wrong secret.
const UNKNOWN_CLIENT_HASH = sha256(randomBytes(32).toString('hex'));
// Lets the client receive the partial body before the reset; an RST discards unsent data.
const RESET_AFTER_WRITE_MS = 30;

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function jsonAnswer(status: number, body: unknown, headers: Record<string, string> = {}): Answer {
  return {
    status,
    headers: { 'Content-Type': JSON_TYPE, ...NO_STORE, ...headers },
    body: JSON.stringify(body),
  };
}

function errorAnswer(
  status: number,
  error: string,
  description: string,
  headers: Record<string, string> = {},
): Answer {
  return jsonAnswer(status, { error, error_description: description }, headers);
}

function invalidClient(description: string): Answer {
  return errorAnswer(401, 'invalid_client', description, { 'WWW-Authenticate': `Basic realm="${REALM}"` });
}

/** The `WWW-Authenticate` value of RFC 6750 §3; without `error` when the request carried no token (§3.1). */
function bearerChallenge(error?: string, scope?: string): string {
  const params = [`realm="${REALM}"`];
  if (error !== undefined) params.push(`error="${error}"`);
  if (scope !== undefined) params.push(`scope="${scope}"`);
  return `Bearer ${params.join(', ')}`;
}

function invalidToken(description: string, tokenPresented: boolean): Answer {
  return errorAnswer(401, 'invalid_token', description, {
    'WWW-Authenticate': bearerChallenge(tokenPresented ? 'invalid_token' : undefined),
  });
}

function defaultErrorCode(status: number, endpoint: FaultedEndpoint): string {
  switch (status) {
    case 400:
      return 'invalid_request';
    case 401:
      return endpoint === 'token' ? 'invalid_client' : 'invalid_token';
    case 403:
      return endpoint === 'token' ? 'access_denied' : 'insufficient_scope';
    case 429:
      return 'too_many_requests';
    case 503:
      return 'temporarily_unavailable';
    default:
      return 'server_error';
  }
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
function parseBasic(header: string | undefined): { clientId: string; clientSecret: string } | undefined {
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

/** Parses `Authorization: Bearer …` (RFC 6750 §2.1); `undefined` if absent or not a Bearer token. */
function parseBearer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  return /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header)?.[1];
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

function isStatusFault(f: Partial<Record<string, unknown>>): boolean {
  return (
    Number.isInteger(f.status) &&
    (f.status as number) >= 200 &&
    (f.status as number) <= 599 &&
    (f.body === undefined || typeof f.body === 'string') &&
    (f.headers === undefined ||
      (typeof f.headers === 'object' &&
        f.headers !== null &&
        Object.values(f.headers).every((v) => typeof v === 'string')))
  );
}

function isDelay(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function validateResetFault(fault: unknown): ResetFault {
  const f = fault as Partial<Record<string, unknown>> | null;
  const ok = (() => {
    if (typeof f !== 'object' || f === null) return false;
    switch (f.kind) {
      case 'status':
        return isStatusFault(f);
      case 'slow-headers':
      case 'lands-late':
        return isDelay(f.delayMs);
      case 'close-before-reset':
      case 'close-after-reset':
      case 'reset-mid-body':
        return true;
      default:
        return false;
    }
  })();
  if (!ok) throw new TypeError(`invalid reset fault: ${JSON.stringify(fault)}`);
  return fault as ResetFault;
}

function validateFault(fault: unknown): Fault {
  const f = fault as Partial<Record<string, unknown>> | null;
  const ok = (() => {
    if (typeof f !== 'object' || f === null) return false;
    switch (f.kind) {
      case 'status':
        return isStatusFault(f);
      case 'slow-headers':
      case 'slow-body':
        return isDelay(f.delayMs);
      case 'json-200':
        return 'body' in f;
      case 'reset-mid-body':
      case 'empty-200':
      case 'non-json-200':
      case 'close-without-answer':
        return true;
      case 'endless-200':
        return typeof f.contentLength === 'boolean';
      default:
        return false;
    }
  })();
  if (!ok) throw new TypeError(`invalid fault: ${JSON.stringify(fault)}`);
  return fault as Fault;
}

/** The answer of a `status` fault: the given body as is, or a JSON error fitting the status and endpoint. */
function statusFaultAnswer(
  fault: { status: number; body?: string; headers?: Record<string, string> },
  endpoint: FaultedEndpoint,
): Answer {
  const challenge = endpoint === 'token' ? `Basic realm="${REALM}"` : bearerChallenge('invalid_token');
  const headers = { ...NO_STORE, ...(fault.status === 401 ? { 'WWW-Authenticate': challenge } : {}) };
  if (fault.body === undefined) {
    const code = defaultErrorCode(fault.status, endpoint);
    return errorAnswer(fault.status, code, `simulated HTTP ${fault.status}`, {
      ...headers,
      ...fault.headers,
    });
  }
  let isJson = true;
  try {
    JSON.parse(fault.body);
  } catch {
    isJson = false;
  }
  const type = isJson ? JSON_TYPE : 'text/plain;charset=UTF-8';
  return {
    status: fault.status,
    headers: { 'Content-Type': type, ...headers, ...fault.headers },
    body: fault.body,
  };
}

function toRecord(client: SimulatedClient): ClientRecord {
  const lifetime = client.accessTokenLifetime ?? 3600;
  if (!Number.isInteger(lifetime) || lifetime <= 0) {
    throw new RangeError(`client ${client.clientId}: accessTokenLifetime must be a positive integer`);
  }
  if (client.clientId === '') throw new RangeError('clientId must not be empty');
  return {
    clientId: client.clientId,
    secretHash: sha256(client.clientSecret),
    secret: client.clientSecret,
    allowedScopes: client.allowedScopes.flatMap((s) => parseScopes(s)),
    accessTokenLifetime: lifetime,
  };
}

/**
 * Starts a simulator listening on `options.host` (127.0.0.1) and `options.port` (a free one).
 *
 * Besides the token and secret-reset endpoints it serves, for other processes: `GET /_sim/stats` →
 * `{"tokenRequests":N,"issued":N,"resetRequests":N,"secretResets":N}`, `POST /_sim/reset` (counters),
 * and `POST /_sim/fault` with a JSON {@link Fault} (or `{}` to clear) as the token endpoint's persistent
 * fault; with `"endpoint":"reset"` among its fields, a {@link ResetFault} (or `{"endpoint":"reset"}` to
 * clear) as the reset endpoint's.
 */
export async function startIdentityCloudSimulator(
  options: SimulatorOptions,
): Promise<IdentityCloudSimulator> {
  const host = options.host ?? '127.0.0.1';
  const customerId = options.customerId ?? DEFAULT_CUSTOMER_ID;
  const tokenPath = `/${customerId}/login/token`;
  const clientsPath = `/${customerId}/config/clients/`;
  const latencyMs = options.latencyMs ?? 0;
  const now = options.now ?? Date.now;
  const clients = new Map<string, ClientRecord>();
  for (const client of options.clients) clients.set(client.clientId, toRecord(client));

  const faultQueue: Fault[] = [];
  let persistentFault: Fault | undefined;
  const resetFaultQueue: ResetFault[] = [];
  let persistentResetFault: ResetFault | undefined;
  let tokenRequests = 0;
  let endlessBodyBytes = 0;
  let issuedCount = 0;
  let resetRequests = 0;
  let secretResets = 0;
  let secretReads = 0;
  const issuedTokens: string[] = [];
  // Only tokens minted by tokenAnswer: a json-200 fault's planted token was never issued by the service.
  const bearerTokens = new Map<string, IssuedToken>();
  const issuedSecrets: string[] = [];
  let closing = false;
  const sockets = new Set<Socket>();
  const sleepers = new Set<() => void>();

  /** Resolves `true` after `ms`, or `false` at once when the simulator closes. */
  function sleep(ms: number): Promise<boolean> {
    if (closing) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve(false);
      };
      const timer = setTimeout(() => {
        sleepers.delete(wake);
        resolve(true);
      }, ms);
      sleepers.add(wake);
    });
  }

  function issue(token: string): void {
    issuedTokens.push(token);
    issuedCount += 1;
  }

  function readBody(req: IncomingMessage): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let tooLarge = false;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) tooLarge = true;
        else chunks.push(chunk);
      });
      req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  /** The answer Identity Cloud would give to this token request. */
  function tokenAnswer(req: IncomingMessage, rawBody: string | undefined): Answer {
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

    const credentials = parseBasic(req.headers.authorization);
    if (credentials === undefined) return invalidClient('client authentication failed');
    const client = clients.get(credentials.clientId);
    const secretOk = timingSafeEqual(
      client?.secretHash ?? UNKNOWN_CLIENT_HASH,
      sha256(credentials.clientSecret),
    );
    if (client === undefined || !secretOk) return invalidClient('client authentication failed');

    if (params.get('grant_type') !== 'client_credentials') {
      return errorAnswer(400, 'unsupported_grant_type', 'grant_type must be client_credentials');
    }
    const scope = params.get('scope');
    if (scope === null || scope.trim() === '') {
      return errorAnswer(400, 'invalid_request', 'scope is required');
    }
    let requested: Scope[];
    try {
      requested = parseScopes(scope);
    } catch {
      return errorAnswer(400, 'invalid_scope', 'scope is malformed');
    }
    const allowed = requested.every((r) => client.allowedScopes.some((a) => covers(a, r)));
    const token = randomBytes(48).toString('base64url');
    issue(token);
    bearerTokens.set(token, {
      scopes: allowed ? requested : [],
      expiresAt: now() + client.accessTokenLifetime * 1000,
    });
    // Identity Cloud's quirk: a scope outside the token policy yields a token with no scope, not an error.
    return jsonAnswer(200, {
      access_token: token,
      expires_in: client.accessTokenLifetime,
      token_type: 'Bearer',
      scope: allowed ? scope : '',
    });
  }

  function writeAnswer(res: ServerResponse, answer: Answer): void {
    if (res.destroyed || res.headersSent) return;
    res.writeHead(answer.status, {
      ...answer.headers,
      'Content-Length': String(Buffer.byteLength(answer.body)),
    });
    res.end(answer.body);
  }

  /**
   * Writes the headers and half the body, then stalls `stallMs` and writes the rest or, without
   * `stallMs`, resets the connection.
   */
  async function writeInTwoParts(res: ServerResponse, answer: Answer, stallMs?: number): Promise<void> {
    const body = Buffer.from(answer.body, 'utf8');
    const half = Math.floor(body.length / 2);
    res.writeHead(answer.status, { ...answer.headers, 'Content-Length': String(body.length) });
    await new Promise<void>((resolve) => res.write(body.subarray(0, half), () => resolve()));
    if (stallMs !== undefined) {
      if (!(await sleep(stallMs)) || res.destroyed) return;
      res.end(body.subarray(half));
      return;
    }
    await sleep(RESET_AFTER_WRITE_MS);
    const socket = res.socket;
    if (socket && !socket.destroyed) {
      if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
      else socket.destroy();
    }
  }

  async function handleToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    tokenRequests += 1;
    const fault = faultQueue.shift() ?? persistentFault;
    const rawBody = await readBody(req);
    if (!(await sleep(latencyMs))) return;

    if (fault === undefined) {
      writeAnswer(res, tokenAnswer(req, rawBody));
      return;
    }
    switch (fault.kind) {
      case 'status':
        writeAnswer(res, statusFaultAnswer(fault, 'token'));
        return;
      case 'slow-headers':
        if (!(await sleep(fault.delayMs))) return;
        writeAnswer(res, tokenAnswer(req, rawBody));
        return;
      case 'slow-body':
        await writeInTwoParts(res, tokenAnswer(req, rawBody), fault.delayMs);
        return;
      case 'reset-mid-body':
        await writeInTwoParts(res, tokenAnswer(req, rawBody));
        return;
      case 'empty-200':
        writeAnswer(res, { status: 200, headers: { 'Content-Type': JSON_TYPE, ...NO_STORE }, body: '' });
        return;
      case 'non-json-200':
        writeAnswer(res, {
          status: 200,
          headers: { 'Content-Type': JSON_TYPE, ...NO_STORE },
          body: '<html><body><h1>Service Temporarily Unavailable</h1></body></html>',
        });
        return;
      case 'json-200': {
        const body = fault.body as { access_token?: unknown } | null;
        if (typeof body === 'object' && body !== null && typeof body.access_token === 'string') {
          issue(body.access_token);
        }
        writeAnswer(res, jsonAnswer(200, fault.body));
        return;
      }
      case 'close-without-answer':
        req.socket.destroy();
        return;
      case 'endless-200':
        await writeEndlessBody(res, fault.contentLength);
        return;
    }
  }

  /** The `endless-200` fault: a body that ends only when the reader closes the connection. */
  async function writeEndlessBody(res: ServerResponse, contentLength: boolean): Promise<void> {
    const limit = 2 ** 30;
    res.writeHead(200, {
      'Content-Type': JSON_TYPE,
      ...NO_STORE,
      ...(contentLength ? { 'Content-Length': String(limit) } : {}),
    });
    const chunk = Buffer.alloc(16 * 1024, 'x');
    endlessBodyBytes = 0;
    const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
    while (!res.destroyed && !closing && endlessBodyBytes < limit) {
      endlessBodyBytes += chunk.length;
      if (!res.write(chunk)) {
        await Promise.race([new Promise<void>((resolve) => res.once('drain', () => resolve())), closed]);
      }
    }
    res.destroy();
  }

  /**
   * The client `clientId` if the request's bearer token may act on its secret (`required` covered by the
   * token's scope), else the error answer Identity Cloud would give (RFC 6750).
   */
  function secretClient(
    req: IncomingMessage,
    clientId: string,
    required: Scope | undefined,
  ): ClientRecord | Answer {
    const token = parseBearer(req.headers.authorization);
    // RFC 6750 §3.1: no error code when the request has no token or uses another scheme.
    if (token === undefined) return invalidToken('a bearer access token is required', false);
    const issued = bearerTokens.get(token);
    if (issued === undefined) return invalidToken('the access token is not recognised', true);
    if (now() >= issued.expiresAt) return invalidToken('the access token expired', true);
    if (required === undefined || !issued.scopes.some((granted) => covers(granted, required))) {
      return errorAnswer(403, 'insufficient_scope', 'the token’s scope does not cover this client', {
        'WWW-Authenticate': bearerChallenge('insufficient_scope', required?.text),
      });
    }
    return clients.get(clientId) ?? errorAnswer(404, 'not_found', 'no such client');
  }

  /**
   * The answer Identity Cloud would give to a reset of `clientId`'s secret; when authorized, the reset
   * takes effect here, at once.
   */
  function resetAnswer(req: IncomingMessage, clientId: string): Answer {
    const client = secretClient(req, clientId, resetScope(clientId));
    if (!('secretHash' in client)) return client;

    const secret = newClientSecret();
    client.secretHash = sha256(secret);
    client.secret = secret;
    issuedSecrets.push(secret);
    secretResets += 1;
    return jsonAnswer(201, { secret });
  }

  async function handleReset(req: IncomingMessage, res: ServerResponse, clientId: string): Promise<void> {
    resetRequests += 1;
    const fault = resetFaultQueue.shift() ?? persistentResetFault;
    await readBody(req);
    if (!(await sleep(latencyMs))) return;

    switch (fault?.kind) {
      case undefined:
        writeAnswer(res, resetAnswer(req, clientId));
        return;
      case 'status':
        writeAnswer(res, statusFaultAnswer(fault, 'reset'));
        return;
      case 'close-before-reset':
        req.socket.destroy();
        return;
      case 'close-after-reset':
        resetAnswer(req, clientId);
        req.socket.destroy();
        return;
      case 'slow-headers': {
        const answer = resetAnswer(req, clientId);
        if (!(await sleep(fault.delayMs))) return;
        writeAnswer(res, answer);
        return;
      }
      case 'reset-mid-body':
        await writeInTwoParts(res, resetAnswer(req, clientId));
        return;
      case 'lands-late': {
        // The reset takes effect after the wait even when the caller gave up (or the server is closing).
        await sleep(fault.delayMs);
        const answer = resetAnswer(req, clientId);
        if (!res.destroyed) writeAnswer(res, answer);
        return;
      }
    }
  }

  /**
   * `GET …/config/clients/<client_id>/secret`: the client's live secret, `200 {"secret"}`, for a bearer
   * token whose scope covers `.:config/clients/<client_id>` (the reset scope does).
   */
  function secretReadAnswer(req: IncomingMessage, clientId: string): Answer {
    const client = secretClient(req, clientId, readScope(clientId));
    if (!('secretHash' in client)) return client;
    secretReads += 1;
    return jsonAnswer(200, { secret: client.secret });
  }

  async function handleSecretRead(
    req: IncomingMessage,
    res: ServerResponse,
    clientId: string,
  ): Promise<void> {
    await readBody(req);
    if (!(await sleep(latencyMs))) return;
    writeAnswer(res, secretReadAnswer(req, clientId));
  }

  /** The client id in a secret-reset path `/<customer-id>/config/clients/<client_id>/secret`, else undefined. */
  function resetClientId(path: string): string | undefined {
    const suffix = '/secret';
    if (!path.startsWith(clientsPath) || !path.endsWith(suffix)) return undefined;
    const clientId = path.slice(clientsPath.length, path.length - suffix.length);
    return clientId !== '' && !clientId.includes('/') ? clientId : undefined;
  }

  function stats() {
    return { tokenRequests, issued: issuedCount, resetRequests, secretResets };
  }

  function resetAllCounters(): void {
    tokenRequests = 0;
    issuedCount = 0;
    resetRequests = 0;
    secretResets = 0;
    secretReads = 0;
  }

  /** Sets or clears an endpoint's persistent fault from a `/_sim/fault` body; throws if it is malformed. */
  function setFaultFromAdmin(parsed: unknown): AdminFaultAnswer {
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new TypeError('not an object');
    }
    const { endpoint = 'token', ...rest } = parsed as Record<string, unknown>;
    const empty = Object.keys(rest).length === 0;
    if (endpoint === 'token') {
      persistentFault = empty ? undefined : validateFault(rest);
      return { endpoint, fault: persistentFault ?? null };
    }
    if (endpoint === 'reset') {
      persistentResetFault = empty ? undefined : validateResetFault(rest);
      return { endpoint, fault: persistentResetFault ?? null };
    }
    throw new TypeError('endpoint must be "token" or "reset"');
  }

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const expected = path === '/_sim/stats' ? 'GET' : 'POST';
    if (req.method !== expected) {
      writeAnswer(res, errorAnswer(405, 'invalid_request', `use ${expected}`, { Allow: expected }));
      return;
    }
    if (path === '/_sim/stats') {
      writeAnswer(res, jsonAnswer(200, stats()));
      return;
    }
    if (path === '/_sim/reset') {
      resetAllCounters();
      writeAnswer(res, jsonAnswer(200, stats()));
      return;
    }
    const raw = await readBody(req);
    let result: AdminFaultAnswer;
    try {
      result = setFaultFromAdmin(JSON.parse(raw ?? ''));
    } catch {
      writeAnswer(
        res,
        errorAnswer(400, 'invalid_request', 'body must be a JSON fault or {}, with an optional endpoint'),
      );
      return;
    }
    writeAnswer(res, jsonAnswer(200, result));
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    let handled: Promise<void>;
    const resetClient = resetClientId(path);
    if (resetClient !== undefined) {
      if (req.method === 'POST') {
        handled = handleReset(req, res, resetClient);
      } else if (req.method === 'GET') {
        handled = handleSecretRead(req, res, resetClient);
      } else {
        req.resume();
        writeAnswer(
          res,
          errorAnswer(405, 'invalid_request', 'only GET and POST are allowed', { Allow: 'GET, POST' }),
        );
        return;
      }
    } else if (path === tokenPath) {
      if (req.method === 'POST') {
        handled = handleToken(req, res);
      } else {
        req.resume();
        writeAnswer(res, errorAnswer(405, 'invalid_request', 'only POST is allowed', { Allow: 'POST' }));
        return;
      }
    } else if (path === '/_sim/stats' || path === '/_sim/reset' || path === '/_sim/fault') {
      handled = handleAdmin(req, res, path);
    } else {
      req.resume();
      writeAnswer(res, errorAnswer(404, 'not_found', 'no such endpoint'));
      return;
    }
    handled.catch(() => {
      if (!res.headersSent && !res.destroyed)
        writeAnswer(res, errorAnswer(500, 'server_error', 'simulator error'));
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url,
    tokenEndpoint: `${url}${tokenPath}`,
    get tokenRequests() {
      return tokenRequests;
    },
    get issuedTokens() {
      return issuedTokens;
    },
    expiryOf(accessToken: string) {
      return bearerTokens.get(accessToken)?.expiresAt;
    },
    get resetRequests() {
      return resetRequests;
    },
    get secretResets() {
      return secretResets;
    },
    get secretReads() {
      return secretReads;
    },
    get endlessBodyBytes() {
      return endlessBodyBytes;
    },
    get issuedSecrets() {
      return issuedSecrets;
    },
    secretEndpoint(clientId) {
      return `${url}${clientsPath}${clientId}/secret`;
    },
    injectFaults(...faults) {
      faultQueue.push(...faults.map(validateFault));
    },
    setPersistentFault(fault) {
      persistentFault = fault === undefined ? undefined : validateFault(fault);
    },
    injectResetFaults(...faults) {
      resetFaultQueue.push(...faults.map(validateResetFault));
    },
    setPersistentResetFault(fault) {
      persistentResetFault = fault === undefined ? undefined : validateResetFault(fault);
    },
    liveSecret(clientId) {
      return clients.get(clientId)?.secret;
    },
    setClientSecret(clientId, newSecret) {
      const client = clients.get(clientId);
      if (client === undefined) throw new Error(`unknown client ${clientId}`);
      client.secretHash = sha256(newSecret);
      client.secret = newSecret;
    },
    upsertClient(client) {
      clients.set(client.clientId, toRecord(client));
    },
    resetCounters() {
      resetAllCounters();
    },
    close() {
      if (!closed) {
        closing = true;
        for (const wake of [...sleepers]) wake();
        closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      }
      return closed;
    },
  };
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/**
 * Validates a simulator configuration document and turns it into {@link SimulatorOptions}.
 *
 * Shape: `{"customerId"?, "latencyMs"?, "tokenPolicies"?: {"<id>": {"allowedScopes": [...],
 * "accessTokenLifetime"?}}, "clients": [{"clientId", "clientSecret", "allowedScopes"?,
 * "accessTokenLifetime"?, "tokenPolicy"?: "<id>"}]}` — a client names a token policy or carries its
 * own `allowedScopes`. Throws an `Error` naming the first problem (never a secret).
 */
export function parseSimulatorConfig(document: unknown): SimulatorOptions {
  const fail = (message: string): never => {
    throw new Error(`invalid simulator config: ${message}`);
  };
  if (typeof document !== 'object' || document === null || Array.isArray(document)) fail('not an object');
  const doc = document as Record<string, unknown>;
  const options: SimulatorOptions = { clients: [] };
  if (doc.customerId !== undefined) {
    if (typeof doc.customerId !== 'string' || !/^[A-Za-z0-9-]+$/.test(doc.customerId)) {
      fail('customerId must be a string of letters, digits and -');
    }
    options.customerId = doc.customerId as string;
  }
  if (doc.latencyMs !== undefined) {
    if (typeof doc.latencyMs !== 'number' || !(doc.latencyMs >= 0)) fail('latencyMs must be a number ≥ 0');
    options.latencyMs = doc.latencyMs as number;
  }
  const policies = (doc.tokenPolicies ?? {}) as Record<string, unknown>;
  if (typeof policies !== 'object' || policies === null || Array.isArray(policies)) {
    fail('tokenPolicies must be an object');
  }
  if (!Array.isArray(doc.clients) || doc.clients.length === 0) fail('clients must be a non-empty array');
  for (const [i, entry] of (doc.clients as unknown[]).entries()) {
    const c = entry as Record<string, unknown> | null;
    if (typeof c !== 'object' || c === null) throw fail(`clients[${i}] is not an object`);
    if (typeof c.clientId !== 'string' || c.clientId === '') fail(`clients[${i}].clientId must be a string`);
    if (typeof c.clientSecret !== 'string' || c.clientSecret === '') {
      fail(`clients[${i}].clientSecret must be a non-empty string`);
    }
    let source: Record<string, unknown> = c;
    if (c.tokenPolicy !== undefined) {
      const policy = typeof c.tokenPolicy === 'string' ? policies[c.tokenPolicy] : undefined;
      if (typeof policy !== 'object' || policy === null)
        fail(`clients[${i}].tokenPolicy names no token policy`);
      source = policy as Record<string, unknown>;
    }
    if (!isStringArray(source.allowedScopes))
      fail(`clients[${i}]: allowedScopes must be an array of strings`);
    const lifetime = source.accessTokenLifetime;
    if (lifetime !== undefined && (!Number.isInteger(lifetime) || (lifetime as number) <= 0)) {
      fail(`clients[${i}]: accessTokenLifetime must be a positive integer`);
    }
    for (const scope of source.allowedScopes as string[]) {
      try {
        parseScopes(scope);
      } catch {
        fail(`clients[${i}]: allowed scope ${JSON.stringify(scope)} does not parse`);
      }
    }
    options.clients.push({
      clientId: c.clientId as string,
      clientSecret: c.clientSecret as string,
      allowedScopes: source.allowedScopes as string[],
      ...(lifetime === undefined ? {} : { accessTokenLifetime: lifetime as number }),
    });
  }
  return options;
}
