/**
 * The local server's configuration file: docs/contract.md's configuration document plus a `local` section.
 *
 * ```json
 * "local": {
 *   "secretsFile": "secrets.json",
 *   "region": "us-east-1",
 *   "callers": { "<access key id>": { "secretAccessKey": "…", "arn": "arn:aws:iam::111111111111:role/orders" } },
 *   "endpoint": "rest-api",
 *   "allowedAccounts": ["111111111111"]
 * }
 * ```
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  ConfigError,
  DEFAULT_ENDPOINT_KIND,
  ENDPOINT_KINDS,
  type EndpointKind,
  isEndpointKind,
  JsonSyntaxError,
  LocalConfigError,
} from '@tvs/client/contract';
import { type JsonDocument, readJsonText } from '@tvs/core/config/json-text';
import { strictConfigDocument } from '@tvs/core/config/service-config';
import { unadmittedGrantProblem, unadmittedGrants } from '@tvs/core/policy/admission';
import type { LocalCaller } from './sigv4-verifier.js';

/** The validated `local` section. */
export interface LocalSection {
  /** Absolute path of the secrets file (secret id → secret), when one is configured. */
  readonly secretsFile?: string;
  /** API Gateway's region: the region callers must sign for. */
  readonly region: string;
  /** Callers by access key id. */
  readonly callers: ReadonlyMap<string, LocalCaller>;
  /** Which front door the server emulates: the REST API (`execute-api`) or a function URL (`lambda`). */
  readonly endpoint: EndpointKind;
  /**
   * The accounts the emulated resource policy admits, as the stack's `allowedAccounts`: a caller of any
   * other account gets 403 before the function runs, and a grant of any other account stops the start.
   * Absent: every configured caller's account is admitted.
   */
  readonly allowedAccounts?: ReadonlySet<string>;
}

const ACCESS_KEY_ID = /^[A-Z0-9]{16,128}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:[A-Za-z0-9+=,.@_/-]+$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const LOCAL_FIELDS = ['secretsFile', 'region', 'callers', 'endpoint', 'allowedAccounts', 'note'];
const CALLER_FIELDS = ['secretAccessKey', 'arn', 'sessionToken'];
const DEFAULT_REGION = 'us-east-1';

function unknownFieldProblems(
  object: Record<string, unknown>,
  known: readonly string[],
  at: string,
): string[] {
  return Object.keys(object)
    .filter((key) => !known.includes(key))
    .map((key) => `${at}.${key}: unknown field`);
}

function isAccountList(value: unknown): boolean {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((account) => typeof account === 'string' && /^\d{12}$/.test(account))
  );
}

/** The problems of the section's settings besides its callers, in the order they are reported. */
function settingProblems(local: Record<string, unknown>): string[] {
  const { secretsFile, region = DEFAULT_REGION, endpoint = DEFAULT_ENDPOINT_KIND, allowedAccounts } = local;
  const problems: string[] = [];
  if (allowedAccounts !== undefined && !isAccountList(allowedAccounts)) {
    problems.push('local.allowedAccounts: must be a non-empty array of 12-digit account ids');
  }
  if (!isEndpointKind(endpoint)) {
    problems.push(`local.endpoint: must be one of ${ENDPOINT_KINDS.map((kind) => `"${kind}"`).join(', ')}`);
  }
  if (secretsFile !== undefined && (typeof secretsFile !== 'string' || secretsFile === '')) {
    problems.push('local.secretsFile: must be a non-empty path');
  }
  if (typeof region !== 'string' || !REGION.test(region))
    problems.push('local.region: must be a region like us-east-1');
  return problems;
}

/** The problems of one caller's entry, `at` its path in the document. */
function callerEntryProblems(entry: Record<string, unknown>, at: string): string[] {
  const problems = unknownFieldProblems(entry, CALLER_FIELDS, at);
  const { secretAccessKey, arn, sessionToken } = entry;
  if (typeof secretAccessKey !== 'string' || secretAccessKey.length < 8) {
    problems.push(`${at}.secretAccessKey: must be a string of at least 8 characters`);
  }
  if (typeof arn !== 'string' || !PRINCIPAL_ARN.test(arn)) {
    problems.push(`${at}.arn: must be an IAM role/user or STS assumed-role ARN`);
  }
  if (sessionToken !== undefined && (typeof sessionToken !== 'string' || sessionToken === '')) {
    problems.push(`${at}.sessionToken: must be a non-empty string`);
  }
  return problems;
}

/** `local.callers`: the callers by access key id, and every problem of the entries. */
function readCallers(callers: unknown): { callers: Map<string, LocalCaller>; problems: string[] } {
  const byAccessKey = new Map<string, LocalCaller>();
  if (!isObject(callers) || Object.keys(callers).length === 0) {
    return {
      callers: byAccessKey,
      problems: ['local.callers: must map at least one access key id to {"secretAccessKey","arn"}'],
    };
  }
  const problems: string[] = [];
  for (const [accessKeyId, entry] of Object.entries(callers)) {
    const at = `local.callers.${accessKeyId}`;
    if (!ACCESS_KEY_ID.test(accessKeyId))
      problems.push(`${at}: an access key id is 16–128 capital letters or digits`);
    if (!isObject(entry)) {
      problems.push(`${at}: must be an object`);
      continue;
    }
    problems.push(...callerEntryProblems(entry, at));
    const { secretAccessKey, arn, sessionToken } = entry;
    byAccessKey.set(accessKeyId, {
      accessKeyId,
      secretAccessKey: secretAccessKey as string,
      arn: arn as string,
      ...(typeof sessionToken === 'string' ? { sessionToken } : {}),
    });
  }
  return { callers: byAccessKey, problems };
}

/**
 * Validate the `local` section of a configuration document. `baseDir` is the folder relative paths
 * resolve against (the configuration file's). Every problem is reported, never a secret's value.
 */
export function parseLocalSection(document: unknown, baseDir: string, source = 'document'): LocalSection {
  const local = isObject(document) ? document.local : undefined;
  if (!isObject(local)) throw new LocalConfigError(source, ['local: must be an object with "callers"']);
  const callers = readCallers(local.callers);
  const problems = [
    ...unknownFieldProblems(local, LOCAL_FIELDS, 'local'),
    ...settingProblems(local),
    ...callers.problems,
  ];
  if (problems.length > 0) throw new LocalConfigError(source, problems);
  const { secretsFile, region = DEFAULT_REGION, endpoint = DEFAULT_ENDPOINT_KIND, allowedAccounts } = local;
  return {
    ...(typeof secretsFile === 'string' ? { secretsFile: resolve(baseDir, secretsFile) } : {}),
    region: region as string,
    callers: callers.callers,
    endpoint: endpoint as EndpointKind,
    ...(Array.isArray(allowedAccounts) ? { allowedAccounts: new Set(allowedAccounts as string[]) } : {}),
  };
}

/**
 * The grants the local front door would never admit (`local.allowedAccounts`), one problem each, as
 * synth refuses them: such a grant could never be used behind the real front door. `tvs serve` refuses to
 * start with any; `tvs validate` reports them.
 */
export function unadmittedGrantProblems(
  grants: readonly { readonly principal: string }[],
  local: LocalSection,
): string[] {
  const admitted = local.allowedAccounts;
  if (admitted === undefined) return [];
  return unadmittedGrants(grants, admitted).map((grant) => unadmittedGrantProblem(grant, admitted));
}

/**
 * Read a JSON file; a parse failure names the file and the line and column, never echoes its content
 * (it may hold secrets).
 */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'read error';
    throw new LocalConfigError(path, [`cannot read the file (${code})`]);
  }
  let json: JsonDocument;
  try {
    json = readJsonText(text);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    throw new LocalConfigError(path, [`not valid JSON: ${error.message}`]);
  }
  // Strictly, as synth and the cold start read it: a key given twice is an error naming its path.
  try {
    return strictConfigDocument(json);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new LocalConfigError(path, error.problems);
  }
}

/** A configuration file read from disk: its document and the folder relative paths resolve against. */
export interface LoadedConfigFile {
  readonly document: unknown;
  readonly baseDir: string;
}

/** Read the configuration file. */
export async function loadConfigFile(path: string): Promise<LoadedConfigFile> {
  return { document: await readJsonFile(path), baseDir: dirname(resolve(path)) };
}
