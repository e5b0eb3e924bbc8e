/**
 * A simulator of Akamai Identity Cloud's token endpoint (`POST /<customer-id>/login/token`), as the
 * Identity Cloud documentation ("Get an administrative access token") describes it: HTTP Basic with a configuration client's id and secret
 * (form-urlencoded before Base64, RFC 6749 §2.3.1), a form body `grant_type=client_credentials&scope=…`,
 * and the answer `{"access_token","expires_in","token_type":"Bearer","scope"}`.
 *
 * It also serves the client-secret reset endpoint of docs/contract.md's "Central credential rotation"
 * (`POST /<customer-id>/config/clients/<client_id>/secret`, a bearer token whose scope covers
 * `*:config/clients/<client_id>`, answer `201 {"secret":"…"}`): the new secret takes effect at once, with
 * no grace period, and tokens already issued stay valid until they expire; `GET` on the same path reads
 * the live secret (scope `.:config/clients/<client_id>`).
 *
 * It is a real HTTP server on 127.0.0.1 so that the service's real HTTP client (undici) is exercised,
 * including the failure modes a network peer can produce (see {@link Fault} and {@link ResetFault}). It
 * never logs.
 *
 * This module is the simulator's public face. Inside, {@link SimulatorState} (state.ts) holds the
 * clients, issued tokens and secrets, faults and counters; token-endpoint.ts, secret-endpoint.ts and
 * admin.ts serve the endpoints over it; server.ts routes and closes; faults.ts and config.ts define and
 * check the faults and the configuration.
 */
import { DEFAULT_CUSTOMER_ID, type SimulatorOptions } from './config.js';
import type { Fault, ResetFault } from './faults.js';
import { SimulatorServer } from './server.js';
import { type SimulatedClient, SimulatorState } from './state.js';

export { DEFAULT_CUSTOMER_ID, parseSimulatorConfig, type SimulatorOptions } from './config.js';
export type { Fault, ResetFault } from './faults.js';
export type { SimulatedClient } from './state.js';

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
  /** Reset `tokenRequests`, `resetRequests`, `secretResets`, `secretReads` and the issued count of `/_sim/stats` to 0. */
  resetCounters(): void;
  /** Close the server and destroy every open connection, stalled ones too. */
  close(): Promise<void>;
}

/** The {@link IdentityCloudSimulator} of a {@link SimulatorState} served by a {@link SimulatorServer}. */
class RunningSimulator implements IdentityCloudSimulator {
  readonly url: string;
  readonly tokenEndpoint: string;

  constructor(
    private readonly state: SimulatorState,
    private readonly server: SimulatorServer,
    host: string,
  ) {
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${server.port}`;
    this.tokenEndpoint = `${this.url}${server.tokenPath}`;
  }

  get tokenRequests(): number {
    return this.state.tokenRequests;
  }

  get issuedTokens(): readonly string[] {
    return this.state.issuedTokens;
  }

  get resetRequests(): number {
    return this.state.resetRequests;
  }

  get secretResets(): number {
    return this.state.secretResets;
  }

  get secretReads(): number {
    return this.state.secretReads;
  }

  get issuedSecrets(): readonly string[] {
    return this.state.issuedSecrets;
  }

  get endlessBodyBytes(): number {
    return this.state.endlessBodyBytes;
  }

  secretEndpoint(clientId: string): string {
    return `${this.url}${this.server.clientsPath}${clientId}/secret`;
  }

  expiryOf(accessToken: string): number | undefined {
    return this.state.bearerToken(accessToken)?.expiresAt;
  }

  injectFaults(...faults: Fault[]): void {
    this.state.faults.token.inject(...faults);
  }

  setPersistentFault(fault: Fault | undefined): void {
    this.state.faults.token.setPersistent(fault);
  }

  injectResetFaults(...faults: ResetFault[]): void {
    this.state.faults.reset.inject(...faults);
  }

  setPersistentResetFault(fault: ResetFault | undefined): void {
    this.state.faults.reset.setPersistent(fault);
  }

  liveSecret(clientId: string): string | undefined {
    return this.state.client(clientId)?.secret;
  }

  setClientSecret(clientId: string, newSecret: string): void {
    this.state.setClientSecret(clientId, newSecret);
  }

  upsertClient(client: SimulatedClient): void {
    this.state.upsertClient(client);
  }

  resetCounters(): void {
    this.state.resetCounters();
  }

  close(): Promise<void> {
    return this.server.close();
  }
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
  const state = new SimulatorState(options.clients, options.now);
  const server = await SimulatorServer.listen(state, {
    host,
    port: options.port ?? 0,
    customerId: options.customerId ?? DEFAULT_CUSTOMER_ID,
    latencyMs: options.latencyMs ?? 0,
  });
  return new RunningSimulator(state, server, host);
}
