/**
 * The simulator's configuration: the options it starts with, and the JSON document (of the simulator's
 * command and of `tvs dev`) that gives them.
 */
import { parseScopes } from '@tvs/client/contract';

import type { SimulatedClient } from './state.js';

/** The customer id used in the token endpoint path when none is given (the one in Identity Cloud’s documentation examples). */
export const DEFAULT_CUSTOMER_ID = '01000000-0000-3000-9000-000000000000';

/** Options of `startIdentityCloudSimulator`. */
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

/** A client's token policy: its own fields, or those of the token policy it names. */
type TokenPolicy = Pick<SimulatedClient, 'allowedScopes' | 'accessTokenLifetime'>;

function fail(message: string): never {
  throw new Error(`invalid simulator config: ${message}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return isObject(value) && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function scopeParses(scope: string): boolean {
  try {
    parseScopes(scope);
    return true;
  } catch {
    return false;
  }
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
  if (!isRecord(document)) fail('not an object');
  const options: SimulatorOptions = { clients: [] };
  parseEndpointSettings(document, options);
  const policies = document.tokenPolicies ?? {};
  if (!isRecord(policies)) fail('tokenPolicies must be an object');
  const { clients } = document;
  if (!Array.isArray(clients) || clients.length === 0) fail('clients must be a non-empty array');
  for (const [i, entry] of clients.entries())
    options.clients.push(parseClient(entry, `clients[${i}]`, policies));
  return options;
}

/** Sets `options.customerId` and `options.latencyMs` from the document, where it gives them. */
function parseEndpointSettings(document: Record<string, unknown>, options: SimulatorOptions): void {
  const { customerId, latencyMs } = document;
  if (customerId !== undefined) {
    if (typeof customerId !== 'string' || !/^[A-Za-z0-9-]+$/.test(customerId)) {
      fail('customerId must be a string of letters, digits and -');
    }
    options.customerId = customerId;
  }
  if (latencyMs !== undefined) {
    if (typeof latencyMs !== 'number' || !(latencyMs >= 0)) fail('latencyMs must be a number ≥ 0');
    options.latencyMs = latencyMs;
  }
}

/** The client `entry` (at `where` in the document), with the token policy it carries or names. */
function parseClient(entry: unknown, where: string, policies: Record<string, unknown>): SimulatedClient {
  if (!isObject(entry)) fail(`${where} is not an object`);
  const { clientId, clientSecret, tokenPolicy } = entry;
  if (typeof clientId !== 'string' || clientId === '') fail(`${where}.clientId must be a string`);
  if (typeof clientSecret !== 'string' || clientSecret === '') {
    fail(`${where}.clientSecret must be a non-empty string`);
  }
  let source = entry;
  if (tokenPolicy !== undefined) {
    const policy = typeof tokenPolicy === 'string' ? policies[tokenPolicy] : undefined;
    if (!isObject(policy)) fail(`${where}.tokenPolicy names no token policy`);
    source = policy;
  }
  return { clientId, clientSecret, ...parseTokenPolicy(source, where) };
}

/** The `allowedScopes` and `accessTokenLifetime` of `source`, a client or a token policy. */
function parseTokenPolicy(source: Record<string, unknown>, where: string): TokenPolicy {
  const { allowedScopes, accessTokenLifetime: lifetime } = source;
  if (!isStringArray(allowedScopes)) fail(`${where}: allowedScopes must be an array of strings`);
  if (lifetime !== undefined && (!Number.isInteger(lifetime) || (lifetime as number) <= 0)) {
    fail(`${where}: accessTokenLifetime must be a positive integer`);
  }
  for (const scope of allowedScopes) {
    if (!scopeParses(scope)) fail(`${where}: allowed scope ${JSON.stringify(scope)} does not parse`);
  }
  return { allowedScopes, ...(lifetime === undefined ? {} : { accessTokenLifetime: lifetime as number }) };
}
