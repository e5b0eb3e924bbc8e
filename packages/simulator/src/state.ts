/**
 * What the simulator knows and counts: its configuration clients, the access tokens it issued, the
 * secrets its resets generated, the faults scheduled for each endpoint and the request counters. The
 * endpoints read and change it only through {@link SimulatorState}'s operations.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import { parseScopes, type Scope } from '@tvs/client/contract';

import { type Fault, FaultSchedule, type ResetFault, validateFault, validateResetFault } from './faults.js';

/** A configuration client together with its token policy. */
export interface SimulatedClient {
  clientId: string;
  clientSecret: string;
  /** The token policy's `allowedScopes`: every requested scope must be contained in one of these. */
  allowedScopes: string[];
  /** The token policy's `accessTokenLifetime` in seconds; default 3600. */
  accessTokenLifetime?: number;
}

/** A configuration client as the simulator keeps it. */
export interface ClientRecord {
  readonly clientId: string;
  /** SHA-256 of the live secret, compared in constant time when the client authenticates. */
  secretHash: Buffer;
  /** The live secret itself, for `GET …/config/clients/<client_id>/secret`. */
  secret: string;
  readonly allowedScopes: readonly Scope[];
  /** Seconds. */
  readonly accessTokenLifetime: number;
}

/** What the simulator remembers of an access token it issued, to check it as a bearer token. */
export interface IssuedToken {
  /** The granted scope: empty when the request asked for more than the token policy allows. */
  readonly scopes: readonly Scope[];
  /** Epoch milliseconds from which the token is expired. */
  readonly expiresAt: number;
}

/** The counters of `GET /_sim/stats`. */
export interface SimulatorStats {
  tokenRequests: number;
  issued: number;
  resetRequests: number;
  secretResets: number;
}

const DEFAULT_ACCESS_TOKEN_LIFETIME_S = 3600;
// Compared against when the client id is unknown, so that case costs the same as a wrong secret.
const UNKNOWN_CLIENT_HASH = sha256(randomBytes(32).toString('hex'));

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function toRecord(client: SimulatedClient): ClientRecord {
  const lifetime = client.accessTokenLifetime ?? DEFAULT_ACCESS_TOKEN_LIFETIME_S;
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

function setSecret(client: ClientRecord, secret: string): void {
  client.secretHash = sha256(secret);
  client.secret = secret;
}

/** The state of one simulator: clients, issued tokens and secrets, faults and counters. */
export class SimulatorState {
  /** The faults scheduled for each endpoint. */
  readonly faults = {
    token: new FaultSchedule<Fault>(validateFault),
    reset: new FaultSchedule<ResetFault>(validateResetFault),
  };
  /**
   * Every access token handed out (minted ones, and ones planted by a `json-200` fault), since start;
   * {@link resetCounters} does not clear it.
   */
  readonly issuedTokens: string[] = [];
  /** Every client secret a reset generated, in order, since start; {@link resetCounters} does not clear it. */
  readonly issuedSecrets: string[] = [];
  /** Bytes the last `endless-200` answer handed to its connection, counted as they go. */
  endlessBodyBytes = 0;

  private readonly clients = new Map<string, ClientRecord>();
  // Only tokens minted by mintToken: a json-200 fault's planted token was never issued by the service.
  private readonly bearerTokens = new Map<string, IssuedToken>();
  private counts = { tokenRequests: 0, issued: 0, resetRequests: 0, secretResets: 0, secretReads: 0 };

  /**
   * @param clients the configuration clients to start with
   * @param now the clock, in epoch milliseconds, that issued access tokens expire by
   */
  constructor(
    clients: readonly SimulatedClient[],
    readonly now: () => number = Date.now,
  ) {
    for (const client of clients) this.upsertClient(client);
  }

  /** Token requests since start or the last {@link resetCounters}, whatever their outcome. */
  get tokenRequests(): number {
    return this.counts.tokenRequests;
  }

  /** Secret-reset requests since start or the last {@link resetCounters}, whatever their outcome. */
  get resetRequests(): number {
    return this.counts.resetRequests;
  }

  /** Secret resets that took effect since start or the last {@link resetCounters}. */
  get secretResets(): number {
    return this.counts.secretResets;
  }

  /** Answered reads of a live secret since start or the last {@link resetCounters}. */
  get secretReads(): number {
    return this.counts.secretReads;
  }

  /** Counts a token request and takes the fault it gets, if any. */
  takeTokenRequest(): Fault | undefined {
    this.counts.tokenRequests += 1;
    return this.faults.token.next();
  }

  /** Counts a secret-reset request and takes the fault it gets, if any. */
  takeResetRequest(): ResetFault | undefined {
    this.counts.resetRequests += 1;
    return this.faults.reset.next();
  }

  /** The client whose id is `clientId`, if there is one. */
  client(clientId: string): ClientRecord | undefined {
    return this.clients.get(clientId);
  }

  /** Adds a client or replaces the one with the same id; throws a `RangeError` if it is malformed. */
  upsertClient(client: SimulatedClient): void {
    this.clients.set(client.clientId, toRecord(client));
  }

  /** Changes a client's secret: the old one stops working at once. Throws for an unknown client. */
  setClientSecret(clientId: string, secret: string): void {
    const client = this.clients.get(clientId);
    if (client === undefined) throw new Error(`unknown client ${clientId}`);
    setSecret(client, secret);
  }

  /**
   * The client if `clientSecret` is its live secret, else `undefined`; an unknown client id costs the
   * same comparison as a wrong secret.
   */
  authenticate(clientId: string, clientSecret: string): ClientRecord | undefined {
    const client = this.clients.get(clientId);
    const secretOk = timingSafeEqual(client?.secretHash ?? UNKNOWN_CLIENT_HASH, sha256(clientSecret));
    return secretOk ? client : undefined;
  }

  /** Records an access token as handed out (in {@link issuedTokens} and the issued count). */
  recordIssued(token: string): void {
    this.issuedTokens.push(token);
    this.counts.issued += 1;
  }

  /** A new access token for `client`, granted `scopes`, valid for the client's lifetime from now. */
  mintToken(client: ClientRecord, scopes: readonly Scope[]): string {
    const token = randomBytes(48).toString('base64url');
    this.recordIssued(token);
    this.bearerTokens.set(token, { scopes, expiresAt: this.now() + client.accessTokenLifetime * 1000 });
    return token;
  }

  /** What the simulator minted as `token`, or `undefined` for a token it never minted. */
  bearerToken(token: string): IssuedToken | undefined {
    return this.bearerTokens.get(token);
  }

  /** Replaces `client`'s secret by `secret`, generated by a reset: recorded and counted. */
  resetSecret(client: ClientRecord, secret: string): void {
    setSecret(client, secret);
    this.issuedSecrets.push(secret);
    this.counts.secretResets += 1;
  }

  /** `client`'s live secret, counted as an answered read. */
  readSecret(client: ClientRecord): string {
    this.counts.secretReads += 1;
    return client.secret;
  }

  /** The counters `GET /_sim/stats` reports (never a token or a secret). */
  stats(): SimulatorStats {
    const { tokenRequests, issued, resetRequests, secretResets } = this.counts;
    return { tokenRequests, issued, resetRequests, secretResets };
  }

  /** Sets every counter to 0; the issued tokens and secrets stay, so a reset cannot hide a leak. */
  resetCounters(): void {
    this.counts = { tokenRequests: 0, issued: 0, resetRequests: 0, secretResets: 0, secretReads: 0 };
  }
}
