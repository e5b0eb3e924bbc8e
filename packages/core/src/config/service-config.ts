/**
 * The service configuration: which configuration clients exist and which callers may ask for which of
 * their scopes. One JSON document, validated at `cdk synth` and again at cold start; any fault stops
 * both, with every problem listed as `path: message`.
 *
 * ```json
 * {
 *   "clients": {
 *     "webhooks-us": {
 *       "tokenEndpoint": "https://v1.api.us.janrain.com/<customer-id>/login/token",
 *       "secretId": "tvs/webhooks-us",
 *       "allowedScopes": ["*:webhooks/**"]
 *     }
 *   },
 *   "grants": [
 *     { "principal": "arn:aws:iam::123456789012:role/orders-service",
 *       "client": "webhooks-us", "scopes": [".:webhooks/**"] }
 *   ]
 * }
 * ```
 *
 * Rules:
 * - `clients`: a non-empty object. A client name matches `^[a-z0-9][a-z0-9._-]{0,63}$`, because it is
 *   part of cache keys and may appear in URLs and metric dimensions.
 * - `tokenEndpoint`: an `https:` URL whose path ends with `/login/token` (the only endpoint the service
 *   speaks); plain `http:` only for `127.0.0.1` and `localhost`, for local runs. No user name or
 *   password, no query, no fragment, no whitespace.
 * - `secretId`: a Secrets Manager secret name (1–512 of `A-Z a-z 0-9 / _ + = . @ -`) or secret ARN.
 * - `allowedScopes`: a non-empty array of single scopes (see `scopes.ts`): the most any grant may give.
 * - `grants`: an array, possibly empty. Each grant has a valid `principal` pattern (see `principals.ts`),
 *   a `client` that exists, and a non-empty array of `scopes`, each covered by a scope of that client's
 *   `allowedScopes`. Two grants of one principal on one client give the union of their scopes; the same
 *   grant twice (same principal, client and scopes) is an error.
 * - No key appears twice in one object, anywhere in the document ({@link parseConfigJson}).
 * - `rotation` (optional, per client): `{"every": "<n> days", "via": "<client>"}`, n from 1 to 1000;
 *   `via` names a configured client (itself or another) whose `allowedScopes` cover
 *   `*:config/clients/<clientId>`, so its token can reset exactly this client's secret, and whose
 *   `tokenEndpoint` has the same origin and customer id (the reset goes there, with via's token).
 * - `clientId` (required with `rotation`, allowed only with it): the client's Identity Cloud client id
 *   (not secret). A rotation refuses a secret whose `client_id` is another.
 * - Unknown keys are errors, except the top-level `local` (settings of the local server) and `$schema`.
 */
import { readFileSync } from 'node:fs';
import {
  ConfigError,
  canonicalScope,
  covers,
  JsonSyntaxError,
  parseScope,
  quoteForMessage,
  type Scope,
} from '@tvs/client/contract';
import { callerPrincipal, type PrincipalPattern, parsePrincipalPattern } from '../policy/principals.js';
import { type JsonDocument, readJsonText } from './json-text.js';

/** One configuration client as written in the document: plain JSON. */
export interface ClientDocument {
  /** `https://v1.api.<region>.janrain.com/<customer-id>/login/token`. */
  readonly tokenEndpoint: string;
  /** Secrets Manager name or ARN of `{"client_id","client_secret"}`. */
  readonly secretId: string;
  /** The widest scopes the service will ask this client for, one scope per entry. */
  readonly allowedScopes: readonly string[];
  /** Rotate this client's secret: `{"every": "30 days", "via": "<client name>"}`. @default no rotation */
  readonly rotation?: RotationDocument;
  /** The client's Identity Cloud client id; required with `rotation`. */
  readonly clientId?: string;
}

/** How a client's secret is rotated (docs/contract.md "Central credential rotation"). */
export interface RotationDocument {
  /** How often: `"<n> days"`, 1 to 1000 (Secrets Manager's `AutomaticallyAfterDays`). */
  readonly every: string;
  /** The configured client whose token resets this one's secret: itself or another. */
  readonly via: string;
}

/**
 * The scope a reset of client `clientId`'s secret needs (`POST …/config/clients/<client_id>/secret`).
 * The rotation function asks for exactly this, the narrowest token that can do it.
 */
export function resetScope(clientId: string): string {
  return `*:config/clients/${clientId}`;
}

/**
 * One grant as written in the document: callers matching `principal` may obtain tokens of `client`
 * within `scopes`.
 */
export interface GrantDocument {
  /** IAM role or user ARN; `*` may appear in a role name. */
  readonly principal: string;
  /** Name of a configured client. */
  readonly client: string;
  /** The scopes granted, one scope per entry. */
  readonly scopes: readonly string[];
}

/** The configuration document (see the module comment): plain, JSON-compatible. */
export interface ServiceConfigDocument {
  readonly clients: Readonly<Record<string, ClientDocument>>;
  readonly grants: readonly GrantDocument[];
}

/** A configured client, its allowed scopes parsed. Frozen. */
export interface ConfiguredClient {
  /** The client's name: its key in the document's `clients`. */
  readonly name: string;
  /** `https://v1.api.<region>.janrain.com/<customer-id>/login/token`. */
  readonly tokenEndpoint: string;
  /** Secrets Manager name or ARN of `{"client_id","client_secret"}`. */
  readonly secretId: string;
  /** The widest scopes the service will ask this client for; each scope's text is `scope.text`. */
  readonly allowedScopes: readonly Scope[];
  /**
   * When its secret is rotated: every `everyDays`, reset through the client `via`, whose Identity Cloud
   * client id is `clientId` (the configured one: a secret naming another is refused).
   */
  readonly rotation?: { readonly everyDays: number; readonly via: string; readonly clientId: string };
}

/** A grant with its principal and scopes parsed. */
interface ConfiguredGrant {
  readonly principal: PrincipalPattern;
  readonly client: string;
  readonly scopes: readonly Scope[];
}

/** What {@link parseServiceConfig} validated, handed to the {@link ServiceConfig} constructor. */
interface ValidatedConfiguration {
  readonly document: ServiceConfigDocument;
  readonly clients: ReadonlyMap<string, ConfiguredClient>;
  readonly grants: readonly ConfiguredGrant[];
  readonly maxRememberedDecisions: number;
}

/** How a {@link ServiceConfig} works, apart from the document; the defaults are for the service. */
export interface ServiceConfigOptions {
  /**
   * Most authorization decisions remembered (see {@link ServiceConfig.authorize}); 0 remembers none.
   *
   * @default 256
   */
  readonly maxRememberedDecisions?: number;
  /**
   * The rotation function's role ARN (`TVS_ROTATION_PRINCIPAL`, resolved by CloudFormation): it gets a
   * grant of exactly {@link resetScope}`(clientId)` on `via` for each rotated client (see
   * {@link rotationGrants}), validated like any grant. The bundled document does not hold it (the role's ARN is not known at synth).
   */
  readonly rotationPrincipal?: string;
}

/**
 * A decision is a pure function of the caller's principal, the client and the set of requested scopes;
 * a few hundred distinct questions cover a container's callers many times over, and even at the longest
 * ARN and scope string the memo stays within a few MB.
 */
const DEFAULT_MAX_REMEMBERED_DECISIONS = 256;

/**
 * Builds a {@link ServiceConfig} from what the parser validated. Assigned in the class's static block,
 * which may call the private constructor: that makes {@link parseServiceConfig} the only way to get one.
 */
let createServiceConfig: (validated: ValidatedConfiguration) => ServiceConfig;

/**
 * The validated configuration, its principals and scopes parsed once at load: answering a request
 * compares parsed values and never re-validates the configuration.
 *
 * Only {@link parseServiceConfig} (and so {@link parseServiceConfigText} and {@link loadServiceConfig})
 * makes one. A plain object is not a `ServiceConfig`, to the type checker (the class has private
 * members) or at run time (its methods read `#` fields a plain object does not have), so no function
 * that takes one ever needs to validate it again. Immutable: its answers never change (it remembers
 * recent authorization decisions, which shows only in speed).
 */
export class ServiceConfig {
  /**
   * The validated document, deeply frozen: `clients` and `grants` as written, without the ignored
   * top-level keys (`local`, `$schema`). JSON-compatible; the construct ships it as `tvs-config.json`.
   */
  readonly document: ServiceConfigDocument;
  /** Every configured client, in document order. */
  readonly clients: readonly ConfiguredClient[];
  readonly #clients: ReadonlyMap<string, ConfiguredClient>;
  readonly #grants: readonly ConfiguredGrant[];
  readonly #grantsByClient: ReadonlyMap<string, readonly ConfiguredGrant[]>;
  /** Recent decisions of {@link ServiceConfig.authorize}, least recently used first. */
  readonly #decisions = new Map<string, boolean>();
  readonly #maxRememberedDecisions: number;

  static {
    createServiceConfig = (validated) => new ServiceConfig(validated);
  }

  private constructor({ document, clients, grants, maxRememberedDecisions }: ValidatedConfiguration) {
    this.document = document;
    this.#maxRememberedDecisions = maxRememberedDecisions;
    this.clients = Object.freeze([...clients.values()]);
    this.#clients = clients;
    this.#grants = grants;
    const grantsByClient = new Map<string, ConfiguredGrant[]>();
    for (const grant of grants) {
      grantsByClient.set(grant.client, [...(grantsByClient.get(grant.client) ?? []), grant]);
    }
    this.#grantsByClient = grantsByClient;
    Object.freeze(this);
  }

  /** What `JSON.stringify` writes of a configuration: its {@link ServiceConfig.document}. */
  toJSON(): ServiceConfigDocument {
    return this.document;
  }

  /** The client named `name`, or `undefined` when there is none (as for `constructor` or `__proto__`). */
  client(name: string): ConfiguredClient | undefined {
    return this.#clients.get(name);
  }

  /**
   * The clients and scopes the caller `callerArn` may ask for (for `GET /v1/clients`): one entry per
   * client with a matching grant, sorted by client name; its scopes are the union of the matching grants'
   * scopes, de-duplicated and in canonical order.
   */
  clientsFor(callerArn: string): { client: string; scopes: string[] }[] {
    const principal = callerPrincipal(callerArn);
    if (principal === undefined) {
      return [];
    }
    const scopesByClient = new Map<string, Scope[]>();
    for (const grant of this.#grants) {
      if (grant.principal.matches(principal)) {
        scopesByClient.set(grant.client, [...(scopesByClient.get(grant.client) ?? []), ...grant.scopes]);
      }
    }
    return [...scopesByClient.keys()]
      .sort((left, right) => (left < right ? -1 : left > right ? 1 : 0))
      .map((client) => ({ client, scopes: canonicalScope(scopesByClient.get(client) ?? []).split(' ') }));
  }

  /**
   * Whether the caller `callerArn` (API Gateway's `userArn`) may obtain a token of `client` for
   * `requested`: the client exists, and every requested scope is covered by some scope of some grant
   * that matches the caller for this client, and by some scope of the client's `allowedScopes`. False
   * for an empty request.
   *
   * Nothing of the configuration is parsed here: the caller's principal is derived once and compared
   * with the grants' parsed patterns. Scope containment is the costly part (tens to hundreds of µs with
   * globs), so recent decisions are remembered, keyed by exactly what a decision depends on — the
   * caller's principal, the client, and the set of requested scopes (access and path) — so a remembered
   * answer is the one that would be computed again: never wider.
   */
  authorize(callerArn: string, client: string, requested: readonly Scope[]): boolean {
    const configured = this.#clients.get(client);
    if (configured === undefined || requested.length === 0) {
      return false;
    }
    const principal = callerPrincipal(callerArn);
    if (principal === undefined) {
      return false;
    }
    if (this.#maxRememberedDecisions === 0) {
      return this.#decide(principal, configured, requested);
    }
    const key = decisionKey(principal, client, requested);
    const remembered = this.#decisions.get(key);
    if (remembered !== undefined) {
      this.#decisions.delete(key);
      this.#decisions.set(key, remembered);
      return remembered;
    }
    const decision = this.#decide(principal, configured, requested);
    if (this.#decisions.size >= this.#maxRememberedDecisions) {
      const leastRecent = this.#decisions.keys().next();
      if (leastRecent.done !== true) {
        this.#decisions.delete(leastRecent.value);
      }
    }
    this.#decisions.set(key, decision);
    return decision;
  }

  /**
   * True only if the client exists and every requested scope is covered by one of its `allowedScopes`
   * (no caller involved: the scheduled pre-warm, and its check at synth). False for an empty request.
   */
  withinAllowedScopes(client: string, requested: readonly Scope[]): boolean {
    const configured = this.#clients.get(client);
    if (configured === undefined || requested.length === 0) {
      return false;
    }
    return requested.every((scope) => configured.allowedScopes.some((held) => covers(held, scope)));
  }

  /**
   * Whom the upstream mints a request of `callerArn` for `client` causes are charged to (the mint
   * budget's spender): the caller's principal when a grant of the client names it exactly, else the
   * pattern of the first wildcard grant (in document order) that matches it — so all the roles one
   * wildcard grant matches share one share. Undefined when no grant of the client matches.
   */
  spenderFor(callerArn: string, client: string): string | undefined {
    const principal = callerPrincipal(callerArn);
    if (principal === undefined) return undefined;
    const matching = (this.#grantsByClient.get(client) ?? []).filter((grant) =>
      grant.principal.matches(principal),
    );
    if (matching.some((grant) => !grant.principal.text.includes('*'))) return principal;
    return matching[0]?.principal.text;
  }

  /** {@link ServiceConfig.authorize} for a known client and a recognised caller, computed. */
  #decide(principal: string, client: ConfiguredClient, requested: readonly Scope[]): boolean {
    const granted: Scope[] = [];
    for (const grant of this.#grantsByClient.get(client.name) ?? []) {
      if (grant.principal.matches(principal)) {
        granted.push(...grant.scopes);
      }
    }
    return requested.every(
      (scope) =>
        granted.some((held) => covers(held, scope)) &&
        client.allowedScopes.some((held) => covers(held, scope)),
    );
  }
}

/**
 * The key of a remembered decision: the principal, the client, and the set of requested scopes, each
 * scope as its `[access, path]` (what containment reads, not the `text` beside them). Everything is
 * JSON-encoded, so two different questions never share a key.
 */
function decisionKey(principal: string, client: string, requested: readonly Scope[]): string {
  const scopes = [...new Set(requested.map((scope) => JSON.stringify([scope.access, scope.path])))].sort();
  return JSON.stringify([principal, client, scopes]);
}

const CLIENT_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SECRET_ARN =
  /^arn:(?:aws|aws-cn|aws-us-gov):secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const MAX_SECRET_ID_LENGTH = 512;
const MAX_TOKEN_ENDPOINT_LENGTH = 2048;
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost']);
const TOP_LEVEL_KEYS = ['clients', 'grants'];
const IGNORED_TOP_LEVEL_KEYS = ['local', '$schema'];
const CLIENT_KEYS = ['tokenEndpoint', 'secretId', 'allowedScopes', 'rotation', 'clientId'];
/** An Identity Cloud client id as it may stand in a scope and a URL path segment. */
const CLIENT_ID = /^[A-Za-z0-9._~-]{1,256}$/;
const ROTATION_KEYS = ['every', 'via'];
const ROTATION_EVERY = /^([1-9]\d{0,3}) days?$/;
const GRANT_KEYS = ['principal', 'client', 'scopes'];
const DOCUMENT = '(document)';

/**
 * Validate an already-parsed JSON document and return it as a {@link ServiceConfig}, its principals and
 * scopes parsed. Throws {@link ConfigError} listing every problem, each as `path: message`, e.g.
 * `grants[3].scopes[0]: …` or `clients.webhooks-us.tokenEndpoint: …`.
 */
export function parseServiceConfig(document: unknown, options: ServiceConfigOptions = {}): ServiceConfig {
  const maxRememberedDecisions = options.maxRememberedDecisions ?? DEFAULT_MAX_REMEMBERED_DECISIONS;
  if (!Number.isInteger(maxRememberedDecisions) || maxRememberedDecisions < 0) {
    throw new RangeError('maxRememberedDecisions must be a whole number, 0 or more');
  }
  if (!isPlainObject(document)) {
    throw new ConfigError([`${DOCUMENT}: expected a JSON object with "clients" and "grants"`]);
  }
  const problems: string[] = [];
  checkTopLevel(document, problems);
  const clients = parseClients(document.clients, problems);
  // Without a valid, non-empty "clients" (already reported) every grant's client would look unknown.
  const declaredClients =
    isPlainObject(document.clients) && Object.keys(document.clients).length > 0
      ? document.clients
      : undefined;
  checkRotations(clients.documents, clients.allowedScopes, problems);
  const grants = parseGrants(document.grants, clients.allowedScopes, declaredClients, problems);
  // The rotation function's grants are parsed and checked like any other, but not part of the document.
  if (options.rotationPrincipal !== undefined) {
    const rotation = rotationGrants(clients.documents, options.rotationPrincipal);
    grants.parsed.push(...parseRotationGrants(rotation, clients.allowedScopes, declaredClients, problems));
  }

  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  return createServiceConfig({
    document: Object.freeze({
      clients: Object.freeze(clients.documents),
      grants: Object.freeze(grants.documents),
    }),
    clients: clients.configured,
    grants: Object.freeze(grants.parsed),
    maxRememberedDecisions,
  });
}

/**
 * Parse a configuration document's JSON `text` strictly: invalid JSON, or a key given twice in one
 * object anywhere in it (which `JSON.parse` would silently read as the last), is a {@link ConfigError}
 * naming each path. Synth, the cold start and `tvs serve` all read the document through this.
 */
export function parseConfigJson(text: string): unknown {
  let json: JsonDocument;
  try {
    json = readJsonText(text);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    throw new ConfigError([`${DOCUMENT}: not valid JSON: ${error.message}`]);
  }
  return strictConfigDocument(json);
}

/**
 * The value of a configuration document read by `readJsonText`; a {@link ConfigError} naming each key
 * it gives twice in one object. For a reader that says in its own words that the text is not JSON.
 */
export function strictConfigDocument(json: JsonDocument): unknown {
  if (json.duplicateKeys.length > 0) {
    throw new ConfigError(
      json.duplicateKeys.map(
        (path) => `${path}: duplicate key; it is given more than once in its object, and only one may be`,
      ),
    );
  }
  return json.value;
}

/** Parse JSON `text` with {@link parseConfigJson}, then validate it with {@link parseServiceConfig}. */
export function parseServiceConfigText(text: string, options: ServiceConfigOptions = {}): ServiceConfig {
  return parseServiceConfig(parseConfigJson(text), options);
}

/**
 * Load the configuration at cold start: the JSON in `TVS_CONFIG` if it is set and not empty, else the
 * JSON file named by `TVS_CONFIG_FILE`; with the rotation function's grants when `TVS_ROTATION_PRINCIPAL`
 * names its role. Throws {@link ConfigError} when neither is set, the file cannot
 * be read, or the document is invalid.
 */
export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const options = env.TVS_ROTATION_PRINCIPAL ? { rotationPrincipal: env.TVS_ROTATION_PRINCIPAL } : {};
  const inline = env.TVS_CONFIG;
  if (inline !== undefined && inline !== '') {
    return parseServiceConfigText(inline, options);
  }
  const file = env.TVS_CONFIG_FILE;
  if (file === undefined || file === '') {
    throw new ConfigError([
      `${DOCUMENT}: no configuration; set TVS_CONFIG to the configuration JSON or TVS_CONFIG_FILE to the path of a JSON file`,
    ]);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError([
      `${DOCUMENT}: cannot read TVS_CONFIG_FILE ${quoteForMessage(file, 200)} (${code})`,
    ]);
  }
  return parseServiceConfigText(text, options);
}

// ---------------------------------------------------------------------------------------------------

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The path of `key` under `parent`, quoting keys that are not plain names. */
function keyPath(parent: string | undefined, key: string): string {
  const plain = /^[A-Za-z0-9_$][A-Za-z0-9_$.-]*$/.test(key);
  const child = plain ? key : `[${quoteForMessage(key, 64)}]`;
  return parent === undefined ? child : plain ? `${parent}.${child}` : `${parent}${child}`;
}

function checkKeys(
  object: Record<string, unknown>,
  path: string | undefined,
  allowed: readonly string[],
  problems: string[],
): void {
  const expected = allowed.map((key) => `"${key}"`).join(', ');
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) {
      problems.push(`${keyPath(path, key)}: unknown key; expected one of ${expected}`);
    }
  }
}

/** The document's own keys: nothing unknown, and `$schema` (which editors read) a string. */
function checkTopLevel(document: Record<string, unknown>, problems: string[]): void {
  checkKeys(document, undefined, [...TOP_LEVEL_KEYS, ...IGNORED_TOP_LEVEL_KEYS], problems);
  if (document.$schema !== undefined && typeof document.$schema !== 'string') {
    problems.push('$schema: expected a string');
  }
}

/** The document's `clients`, each as written and as configured, and every client's parsed allowedScopes. */
interface ParsedClients {
  /** The valid clients as written. */
  readonly documents: Record<string, ClientDocument>;
  /** The valid clients, configured. */
  readonly configured: Map<string, ConfiguredClient>;
  /** The allowedScopes of every client whose allowedScopes are valid, even if another of its fields is not. */
  readonly allowedScopes: Map<string, readonly Scope[]>;
}

function parseClients(value: unknown, problems: string[]): ParsedClients {
  const parsed: ParsedClients = {
    documents: Object.create(null),
    configured: new Map(),
    allowedScopes: new Map(),
  };
  if (!isPlainObject(value)) {
    problems.push('clients: required; expected an object of client name to client');
    return parsed;
  }
  if (Object.keys(value).length === 0) {
    problems.push('clients: expected at least one client');
    return parsed;
  }
  for (const [name, candidate] of Object.entries(value)) {
    const client = parseClient(name, candidate, problems);
    if (client.allowedScopes !== undefined) {
      parsed.allowedScopes.set(name, client.allowedScopes);
    }
    if (client.document !== undefined && client.allowedScopes !== undefined) {
      parsed.documents[name] = client.document;
      parsed.configured.set(name, configuredClient(name, client.document, client.allowedScopes));
    }
  }
  return parsed;
}

/** A valid client as the service uses it: frozen, its allowedScopes parsed, its rotation read. */
function configuredClient(
  name: string,
  document: ClientDocument,
  allowedScopes: readonly Scope[],
): ConfiguredClient {
  return Object.freeze({
    name,
    tokenEndpoint: document.tokenEndpoint,
    secretId: document.secretId,
    allowedScopes: Object.freeze(allowedScopes),
    ...(document.rotation
      ? {
          rotation: Object.freeze({
            everyDays: Number(ROTATION_EVERY.exec(document.rotation.every)?.[1]),
            via: document.rotation.via,
            clientId: document.clientId as string,
          }),
        }
      : {}),
  });
}

/** The document's valid `grants`, each as written and parsed; a grant written twice is a problem. */
function parseGrants(
  value: unknown,
  allowedScopes: ReadonlyMap<string, readonly Scope[]>,
  declaredClients: Record<string, unknown> | undefined,
  problems: string[],
): { documents: GrantDocument[]; parsed: ConfiguredGrant[] } {
  const grants = { documents: [] as GrantDocument[], parsed: [] as ConfiguredGrant[] };
  if (!Array.isArray(value)) {
    problems.push('grants: required; expected an array of grants (it may be empty)');
    return grants;
  }
  // A grant written twice: harmless today, but an edit to one copy would not change what is granted.
  const firstGrant = new Map<string, number>();
  value.forEach((candidate: unknown, index: number) => {
    const grant = parseGrant(`grants[${index}]`, candidate, allowedScopes, declaredClients, problems);
    if (grant === undefined) return;
    const pair = JSON.stringify([
      grant.document.principal,
      grant.document.client,
      canonicalScope(grant.parsed.scopes),
    ]);
    const first = firstGrant.get(pair);
    if (first !== undefined) {
      problems.push(
        `grants[${index}]: duplicate grant: grants[${first}] already gives ${quoteForMessage(grant.document.principal, 100)} the same scopes on client ${quoteForMessage(grant.document.client, 64)}; remove one`,
      );
      return;
    }
    firstGrant.set(pair, index);
    grants.documents.push(grant.document);
    grants.parsed.push(grant.parsed);
  });
  return grants;
}

/** The rotation function's valid grants (see {@link rotationGrants}), each problem under `rotation grants[i]`. */
function parseRotationGrants(
  candidates: readonly GrantDocument[],
  allowedScopes: ReadonlyMap<string, readonly Scope[]>,
  declaredClients: Record<string, unknown> | undefined,
  problems: string[],
): ConfiguredGrant[] {
  const parsed: ConfiguredGrant[] = [];
  candidates.forEach((candidate, index) => {
    const grant = parseGrant(
      `rotation grants[${index}]`,
      candidate,
      allowedScopes,
      declaredClients,
      problems,
    );
    if (grant !== undefined) parsed.push(grant.parsed);
  });
  return parsed;
}

function parseClient(
  name: string,
  candidate: unknown,
  problems: string[],
): { document?: ClientDocument; allowedScopes?: Scope[] } {
  const path = keyPath('clients', name);
  const before = problems.length;
  if (!CLIENT_NAME.test(name)) {
    problems.push(
      `${path}: client name must match ^[a-z0-9][a-z0-9._-]{0,63}$ (lower case; it is used in cache keys and URLs)`,
    );
  }
  if (!isPlainObject(candidate)) {
    problems.push(`${path}: expected an object with "tokenEndpoint", "secretId" and "allowedScopes"`);
    return {};
  }
  checkKeys(candidate, path, CLIENT_KEYS, problems);

  const tokenEndpointProblem = tokenEndpointProblemOf(candidate.tokenEndpoint);
  if (tokenEndpointProblem !== undefined) {
    problems.push(`${path}.tokenEndpoint: ${tokenEndpointProblem}`);
  }
  const secretIdProblem = secretIdProblemOf(candidate.secretId);
  if (secretIdProblem !== undefined) {
    problems.push(`${path}.secretId: ${secretIdProblem}`);
  }
  const allowedScopes = parseScopeList(`${path}.allowedScopes`, candidate.allowedScopes, problems);
  const rotation =
    candidate.rotation === undefined
      ? undefined
      : parseRotation(`${path}.rotation`, candidate.rotation, problems);
  const clientIdProblem = clientIdProblemOf(candidate.clientId, candidate.rotation !== undefined);
  if (clientIdProblem !== undefined) problems.push(`${path}.clientId: ${clientIdProblem}`);

  // The allowedScopes are returned even when another field is wrong, so that grants of this client are
  // still checked against them and every problem is reported in one run.
  if (problems.length > before || allowedScopes === undefined) {
    return { allowedScopes };
  }
  return {
    document: Object.freeze({
      tokenEndpoint: candidate.tokenEndpoint as string,
      secretId: candidate.secretId as string,
      allowedScopes: Object.freeze(allowedScopes.map((scope) => scope.text)),
      ...(rotation ? { rotation: Object.freeze({ every: rotation.every, via: rotation.via }) } : {}),
      ...(typeof candidate.clientId === 'string' ? { clientId: candidate.clientId } : {}),
    }),
    allowedScopes,
  };
}

/** The shape of a client's `rotation`; whether `via` can reset secrets is checked once every client is known. */
function parseRotation(path: string, value: unknown, problems: string[]): RotationDocument | undefined {
  if (!isPlainObject(value)) {
    problems.push(`${path}: expected an object like {"every": "30 days", "via": "<client name>"}`);
    return undefined;
  }
  const before = problems.length;
  checkKeys(value, path, ROTATION_KEYS, problems);
  const days = typeof value.every === 'string' ? ROTATION_EVERY.exec(value.every)?.[1] : undefined;
  if (days === undefined || Number(days) > 1000) {
    problems.push(
      `${path}.every: expected "<n> days", n from 1 to 1000 (Secrets Manager rotates at most that rarely)`,
    );
  }
  if (typeof value.via !== 'string' || value.via === '') {
    problems.push(
      `${path}.via: required; expected the name of the client whose token resets this secret (it may be itself)`,
    );
  }
  return problems.length > before ? undefined : { every: value.every as string, via: value.via as string };
}

/** Why `value` is not a usable `clientId` (required when the client has a rotation), or undefined. */
function clientIdProblemOf(value: unknown, rotated: boolean): string | undefined {
  if (value === undefined) {
    return rotated
      ? 'required with "rotation": the client\'s Identity Cloud client id (a rotation refuses a secret naming another)'
      : undefined;
  }
  if (!rotated) return 'only with "rotation" (it names the client whose secret the rotation resets)';
  if (typeof value !== 'string' || !CLIENT_ID.test(value)) {
    return 'expected an Identity Cloud client id: 1 to 256 of A-Z a-z 0-9 . _ ~ -';
  }
  return undefined;
}

/** `https://host/<customer-id>` of a token endpoint `https://host/<customer-id>/login/token`. */
function customerBase(tokenEndpoint: string): string {
  const url = new URL(tokenEndpoint);
  return `${url.origin}${url.pathname.replace(/\/login\/token$/, '')}`;
}

/**
 * Every `rotation.via` must name a configured client whose `allowedScopes` cover the exact
 * {@link resetScope} of the rotated client's `clientId`, at the same origin and customer id: the reset
 * and read-back URLs are built from the rotated client's endpoint and carry via's token.
 */
function checkRotations(
  clients: Record<string, ClientDocument>,
  allowedScopes: ReadonlyMap<string, readonly Scope[]>,
  problems: string[],
): void {
  for (const [name, client] of Object.entries(clients)) {
    const via = client.rotation?.via;
    if (via === undefined || client.clientId === undefined) continue;
    const path = `${keyPath('clients', name)}.rotation.via`;
    const viaScopes = Object.hasOwn(clients, via) ? allowedScopes.get(via) : undefined;
    const needed = parseScope(resetScope(client.clientId));
    if (viaScopes === undefined) {
      problems.push(`${path}: unknown client ${quoteForMessage(via, 64)}`);
    } else if (!viaScopes.some((held) => covers(held, needed))) {
      problems.push(
        `${path}: client ${quoteForMessage(via, 64)} cannot reset this secret: its allowedScopes do not cover ${quoteForMessage(needed.text)}`,
      );
    } else if (customerBase(clients[via]?.tokenEndpoint ?? '') !== customerBase(client.tokenEndpoint)) {
      problems.push(
        `${path}: client ${quoteForMessage(via, 64)} has another token endpoint origin or customer id; a reset must go to the rotated client's own Identity Cloud customer`,
      );
    }
  }
}

/**
 * The grants of the rotation function (role `principal`): on each client named as a `rotation.via`,
 * exactly the {@link resetScope} of each client rotated through it — never a wildcard, so a secret whose
 * `client_id` was changed cannot get a token for another client.
 */
export function rotationGrants(
  clients: Readonly<Record<string, ClientDocument>>,
  principal: string,
): GrantDocument[] {
  const scopesByVia = new Map<string, string[]>();
  for (const client of Object.values(clients)) {
    if (client.rotation === undefined || client.clientId === undefined) continue;
    const scopes = scopesByVia.get(client.rotation.via) ?? [];
    scopesByVia.set(client.rotation.via, [...new Set([...scopes, resetScope(client.clientId)])].sort());
  }
  return [...scopesByVia.keys()]
    .sort()
    .map((via) => ({ principal, client: via, scopes: scopesByVia.get(via) ?? [] }));
}

function tokenEndpointProblemOf(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') {
    return 'required; expected an https URL ending in /login/token';
  }
  if (value.length > MAX_TOKEN_ENDPOINT_LENGTH) {
    return `is ${value.length} characters long; at most ${MAX_TOKEN_ENDPOINT_LENGTH} are allowed`;
  }
  // The URL parser silently strips surrounding whitespace and control characters; refuse them instead.
  if (!/^[\x21-\x7e]+$/.test(value)) {
    return 'must contain only printable ASCII characters, without spaces';
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${quoteForMessage(value, 100)} is not a URL`;
  }
  if (url.protocol === 'http:') {
    if (!LOOPBACK_HOSTS.has(url.hostname)) {
      return 'must use https (http is allowed only for 127.0.0.1 and localhost)';
    }
  } else if (url.protocol !== 'https:') {
    return `must use https, not ${quoteForMessage(url.protocol)}`;
  }
  if (url.username !== '' || url.password !== '' || value.includes('@')) {
    return 'must not contain a user name or password';
  }
  // Checked on the text: `new URL` drops an empty "?" or "#".
  if (value.includes('?') || value.includes('#')) {
    return 'must not have a query or fragment';
  }
  if (!url.pathname.endsWith('/login/token')) {
    return 'path must end with /login/token (the Identity Cloud token endpoint)';
  }
  return undefined;
}

function secretIdProblemOf(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') {
    return 'required; expected a Secrets Manager secret name or ARN';
  }
  if (value.length > MAX_SECRET_ID_LENGTH) {
    return `is ${value.length} characters long; at most ${MAX_SECRET_ID_LENGTH} are allowed`;
  }
  if (value.startsWith('arn:')) {
    return SECRET_ARN.test(value)
      ? undefined
      : `${quoteForMessage(value, 100)} is not a Secrets Manager secret ARN`;
  }
  return SECRET_NAME.test(value) ? undefined : 'a secret name may use only A-Z a-z 0-9 / _ + = . @ -';
}

/** Parse a non-empty array of single scopes at `path`, adding a problem per faulty entry. */
function parseScopeList(path: string, value: unknown, problems: string[]): Scope[] | undefined {
  if (!Array.isArray(value) || value.length === 0) {
    problems.push(`${path}: required; expected a non-empty array of scopes, e.g. [".:config/**"]`);
    return undefined;
  }
  const scopes: Scope[] = [];
  value.forEach((text: unknown, index: number) => {
    if (typeof text !== 'string') {
      problems.push(`${path}[${index}]: expected a string`);
      return;
    }
    try {
      scopes.push(parseScope(text));
    } catch (error) {
      problems.push(`${path}[${index}]: ${(error as Error).message}`);
    }
  });
  return scopes.length === value.length ? scopes : undefined;
}

function parseGrant(
  path: string,
  candidate: unknown,
  allowedScopes: ReadonlyMap<string, readonly Scope[]>,
  declaredClients: Record<string, unknown> | undefined,
  problems: string[],
): { document: GrantDocument; parsed: ConfiguredGrant } | undefined {
  if (!isPlainObject(candidate)) {
    problems.push(`${path}: expected an object with "principal", "client" and "scopes"`);
    return undefined;
  }
  const before = problems.length;
  checkKeys(candidate, path, GRANT_KEYS, problems);

  const { principal, client } = candidate;
  const principalPattern =
    typeof principal === 'string'
      ? parsePrincipalPattern(principal)
      : 'required; expected an IAM role or user ARN';
  if (typeof principalPattern === 'string') {
    problems.push(`${path}.principal: ${principalPattern}`);
  }
  if (typeof client !== 'string') {
    problems.push(`${path}.client: required; expected the name of a client`);
  } else if (declaredClients !== undefined && !Object.hasOwn(declaredClients, client)) {
    problems.push(`${path}.client: unknown client ${quoteForMessage(client, 64)}`);
  }

  const scopes = parseScopeList(`${path}.scopes`, candidate.scopes, problems);
  const allowed = typeof client === 'string' ? allowedScopes.get(client) : undefined;
  // Without the client's allowedScopes (unknown or itself invalid) there is nothing to check against;
  // that fault is already reported.
  if (scopes !== undefined && allowed !== undefined) {
    scopes.forEach((scope, index) => {
      if (!allowed.some((held) => covers(held, scope))) {
        problems.push(
          `${path}.scopes[${index}]: ${quoteForMessage(scope.text)} is wider than client ${quoteForMessage(client as string, 64)} allowedScopes`,
        );
      }
    });
  }

  if (problems.length > before || scopes === undefined || typeof principalPattern === 'string') {
    return undefined;
  }
  return {
    document: Object.freeze({
      principal: principalPattern.text,
      client: client as string,
      scopes: Object.freeze(scopes.map((scope) => scope.text)),
    }),
    parsed: Object.freeze({
      principal: principalPattern,
      client: client as string,
      scopes: Object.freeze(scopes),
    }),
  };
}
