/**
 * A simulator of Akamai Identity Cloud's token endpoint (`POST /<customer-id>/login/token`), as the
 * seeds in `shared/seeds/` describe it: HTTP Basic with a configuration client's id and secret
 * (form-urlencoded before Base64, RFC 6749 §2.3.1), a form body `grant_type=client_credentials&scope=…`,
 * and the answer `{"access_token","expires_in","token_type":"Bearer","scope"}`.
 *
 * It is a real HTTP server on 127.0.0.1 so that the service's real HTTP client (undici) is exercised,
 * including the failure modes a network peer can produce (see {@link Fault}). It never logs.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { covers, parseScopes, type Scope } from '../shared/scopes';

/** The customer id used in the token endpoint path when none is given (the one in the seeds). */
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
  /** Delay in milliseconds before answering each token request (a realistic upstream takes 50–200 ms). */
  latencyMs?: number;
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
  | { kind: 'close-without-answer' };

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
  /** Queue faults: each of the next token requests takes the next fault; queued faults come before a persistent one. */
  injectFaults(...faults: Fault[]): void;
  /** Every token request (with no queued fault left) gets this fault until cleared with `undefined`. */
  setPersistentFault(fault: Fault | undefined): void;
  /** Change a client's secret (rotation): the old secret stops working at once. */
  setClientSecret(clientId: string, newSecret: string): void;
  /** Add a client or replace the one with the same id. */
  upsertClient(client: SimulatedClient): void;
  /** Reset `tokenRequests` and the issued count of `/_sim/stats` to 0. */
  resetCounters(): void;
  /** Close the server and destroy every open connection, stalled ones too. */
  close(): Promise<void>;
}

interface ClientRecord {
  clientId: string;
  secretHash: Buffer;
  allowedScopes: Scope[];
  accessTokenLifetime: number;
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

function defaultErrorCode(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request';
    case 401:
      return 'invalid_client';
    case 403:
      return 'access_denied';
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

function validateFault(fault: unknown): Fault {
  const f = fault as Partial<Record<string, unknown>> | null;
  const ok = (() => {
    if (typeof f !== 'object' || f === null) return false;
    switch (f.kind) {
      case 'status':
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
      case 'slow-headers':
      case 'slow-body':
        return typeof f.delayMs === 'number' && Number.isFinite(f.delayMs) && f.delayMs >= 0;
      case 'json-200':
        return 'body' in f;
      case 'reset-mid-body':
      case 'empty-200':
      case 'non-json-200':
      case 'close-without-answer':
        return true;
      default:
        return false;
    }
  })();
  if (!ok) throw new TypeError(`invalid fault: ${JSON.stringify(fault)}`);
  return fault as Fault;
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
    allowedScopes: client.allowedScopes.flatMap((s) => parseScopes(s)),
    accessTokenLifetime: lifetime,
  };
}

/**
 * Starts a simulator listening on `options.host` (127.0.0.1) and `options.port` (a free one).
 *
 * Besides the token endpoint it serves, for other processes: `GET /_sim/stats` →
 * `{"tokenRequests":N,"issued":N}`, `POST /_sim/reset` (counters), and `POST /_sim/fault` with a JSON
 * {@link Fault} (or `{}` to clear) as the persistent fault.
 */
export async function startIdentityCloudSimulator(
  options: SimulatorOptions,
): Promise<IdentityCloudSimulator> {
  const host = options.host ?? '127.0.0.1';
  const customerId = options.customerId ?? DEFAULT_CUSTOMER_ID;
  const tokenPath = `/${customerId}/login/token`;
  const latencyMs = options.latencyMs ?? 0;
  const clients = new Map<string, ClientRecord>();
  for (const client of options.clients) clients.set(client.clientId, toRecord(client));

  const faultQueue: Fault[] = [];
  let persistentFault: Fault | undefined;
  let tokenRequests = 0;
  let issuedCount = 0;
  const issuedTokens: string[] = [];
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

  async function writeInTwoParts(res: ServerResponse, answer: Answer, fault: Fault): Promise<void> {
    const body = Buffer.from(answer.body, 'utf8');
    const half = Math.floor(body.length / 2);
    res.writeHead(answer.status, { ...answer.headers, 'Content-Length': String(body.length) });
    await new Promise<void>((resolve) => res.write(body.subarray(0, half), () => resolve()));
    if (fault.kind === 'slow-body') {
      if (!(await sleep(fault.delayMs)) || res.destroyed) return;
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
      case 'status': {
        const headers = {
          ...NO_STORE,
          ...(fault.status === 401 ? { 'WWW-Authenticate': `Basic realm="${REALM}"` } : {}),
        };
        if (fault.body === undefined) {
          const code = defaultErrorCode(fault.status);
          writeAnswer(
            res,
            errorAnswer(fault.status, code, `simulated HTTP ${fault.status}`, {
              ...headers,
              ...fault.headers,
            }),
          );
          return;
        }
        let isJson = true;
        try {
          JSON.parse(fault.body);
        } catch {
          isJson = false;
        }
        const type = isJson ? JSON_TYPE : 'text/plain;charset=UTF-8';
        writeAnswer(res, {
          status: fault.status,
          headers: { 'Content-Type': type, ...headers, ...fault.headers },
          body: fault.body,
        });
        return;
      }
      case 'slow-headers':
        if (!(await sleep(fault.delayMs))) return;
        writeAnswer(res, tokenAnswer(req, rawBody));
        return;
      case 'slow-body':
      case 'reset-mid-body':
        await writeInTwoParts(res, tokenAnswer(req, rawBody), fault);
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
    }
  }

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const expected = path === '/_sim/stats' ? 'GET' : 'POST';
    if (req.method !== expected) {
      writeAnswer(res, errorAnswer(405, 'invalid_request', `use ${expected}`, { Allow: expected }));
      return;
    }
    if (path === '/_sim/stats') {
      writeAnswer(res, jsonAnswer(200, { tokenRequests, issued: issuedCount }));
      return;
    }
    if (path === '/_sim/reset') {
      tokenRequests = 0;
      issuedCount = 0;
      writeAnswer(res, jsonAnswer(200, { tokenRequests, issued: issuedCount }));
      return;
    }
    const raw = await readBody(req);
    let fault: Fault | undefined;
    try {
      const parsed: unknown = JSON.parse(raw ?? '');
      const empty = typeof parsed === 'object' && parsed !== null && Object.keys(parsed).length === 0;
      fault = empty ? undefined : validateFault(parsed);
    } catch {
      writeAnswer(res, errorAnswer(400, 'invalid_request', 'body must be a JSON fault or {}'));
      return;
    }
    persistentFault = fault;
    writeAnswer(res, jsonAnswer(200, { fault: fault ?? null }));
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    let handled: Promise<void>;
    if (path === tokenPath) {
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
    injectFaults(...faults) {
      faultQueue.push(...faults.map(validateFault));
    },
    setPersistentFault(fault) {
      persistentFault = fault === undefined ? undefined : validateFault(fault);
    },
    setClientSecret(clientId, newSecret) {
      const client = clients.get(clientId);
      if (client === undefined) throw new Error(`unknown client ${clientId}`);
      client.secretHash = sha256(newSecret);
    },
    upsertClient(client) {
      clients.set(client.clientId, toRecord(client));
    },
    resetCounters() {
      tokenRequests = 0;
      issuedCount = 0;
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
