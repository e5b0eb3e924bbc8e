/**
 * `tvs`: the Token Vending Service from a shell (docs/cli.md is the reference).
 *
 * - `tvs token` prints a token for scheduled jobs: `Authorization: Bearer $(tvs token …)`.
 * - `tvs clients` prints what the caller may ask for.
 * - The service's own commands — `serve`, `dev`, `rotate`, `purge`, `validate` — come with the service's
 *   repository (`@tvs/local`): where it is installed they are loaded from there; a caller team that
 *   installs only this package is told where to find them.
 *
 * Exit codes: 0 success; 1 the service (or the table, or the file) refused, or could not be reached;
 * 2 usage. Only a token ever goes to stdout for `tvs token`, and never to stderr. With `--json`, results
 * and errors are JSON: results on stdout, errors on stderr as `{"error","error_description",…}`.
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { isSigningService, SIGNING_SERVICES, type SigningService } from '../contract/endpoint-kinds.js';
import { ServiceUnreachableError, TvsError, UsageError } from '../contract/errors.js';
import { isValidMinTtl, MAX_MIN_TTL_SECONDS } from '../contract/token-request.js';
import {
  type CredentialsSource,
  defaultCredentials,
  defaultRegion,
  environmentCredentials,
  processClientsAnswer,
  processTokenAnswer,
  retryUnavailable,
  type ServiceTarget,
  sendSigned,
  TokenServiceError,
  unreachable,
} from '../index.js';
import { importIfInstalled } from '../optional-import.js';
import type { Command, CommandIo, Options, Values } from './command.js';
import { text } from './command.js';

export type { Command, CommandIo } from './command.js';

/** The package's version, as `tvs --version` prints it. */
export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string })
  .version;

const SIGNING = '[--region REGION] [--service execute-api|lambda]';

const COMMON_HELP = `
  --endpoint defaults to $TVS_ENDPOINT; it is an http:// or https:// URL. The region defaults to the one
  in an execute-api or lambda-url host name, then $AWS_REGION, then us-east-1. --service (the SigV4
  service name) defaults to $TVS_SIGNING_SERVICE, then lambda for a *.lambda-url.<region>.on.aws host,
  else execute-api. Requests are signed with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and
  AWS_SESSION_TOKEN) when they are set, else with the default AWS credential chain where
  @aws-sdk/credential-provider-node is installed.`;

const EXIT_CODES = `
Exit codes: 0 ok, 1 refused or could not be reached (the reason on stderr), 2 usage.`;

function parse(args: string[], command: Command): { values: Values; operands: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: command.positionals ?? false,
      strict: true,
    });
    return { values: values as Values, operands: positionals };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Keys in the environment win over `AWS_PROFILE`, as in the AWS CLI (the SDK's chain skips them when a
 * profile is set), so `AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… tvs token …` always signs with those
 * keys. Otherwise: the default AWS credential chain where it is installed (see `defaultCredentials`).
 */
function credentialsFrom(env: NodeJS.ProcessEnv): CredentialsSource {
  return environmentCredentials(env) ?? defaultCredentials({ env });
}

/** The service endpoint: an http(s) URL, else a usage error (an `ftp://` endpoint cannot work). */
function endpointUrl(values: Values, env: NodeJS.ProcessEnv): URL {
  const endpoint = text(values, 'endpoint') ?? env.TVS_ENDPOINT;
  if (!endpoint) throw new UsageError('--endpoint is required (or set TVS_ENDPOINT)');
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UsageError(`--endpoint is not a URL: ${JSON.stringify(endpoint)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`--endpoint must be an http:// or https:// URL, not ${url.protocol}//…`);
  }
  return url;
}

function target(values: Values, env: NodeJS.ProcessEnv): ServiceTarget {
  endpointUrl(values, env);
  const endpoint = (text(values, 'endpoint') ?? env.TVS_ENDPOINT) as string;
  const service = signingService(text(values, 'service') ?? (env.TVS_SIGNING_SERVICE || undefined));
  return {
    endpoint,
    region: text(values, 'region') ?? defaultRegion(endpoint, env),
    ...(service ? { service } : {}),
    credentials: credentialsFrom(env),
  };
}

/** An explicit signing service (`--service` or `$TVS_SIGNING_SERVICE`), checked; none: from the host. */
function signingService(given: string | undefined): SigningService | undefined {
  if (given === undefined) return undefined;
  if (!isSigningService(given)) {
    throw new UsageError(
      `--service must be one of ${SIGNING_SERVICES.join(', ')}, not ${JSON.stringify(given)}`,
    );
  }
  return given;
}

const retry = {
  maxAttempts: 3,
  maxRetryWaitMs: 5_000,
  sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
};

/** Why a request never got an answer: the codes and messages along the error's causes. */
function causeOf(error: unknown): string {
  const parts: string[] = [];
  for (let at: unknown = error, depth = 0; at instanceof Error && depth < 5; depth++) {
    const code = (at as { code?: unknown }).code;
    if (typeof code === 'string' && !parts.includes(code)) parts.push(code);
    if (at.message && !/^fetch failed$/.test(at.message) && !(at instanceof TokenServiceError)) {
      if (!parts.some((part) => part.includes(at instanceof Error ? at.message : ''))) parts.push(at.message);
    }
    at = at.cause;
  }
  return parts.join(': ') || 'no answer';
}

/** Send to the service, turning "no answer at all" into an error that names the host and the cause. */
async function ask<T>(service: ServiceTarget, send: () => Promise<T>): Promise<T> {
  try {
    return await retryUnavailable(retry, send);
  } catch (error) {
    const failure = unreachable(error);
    if (failure.code !== 'TVS_ERR_UNREACHABLE' && failure.code !== 'TVS_ERR_TIMEOUT') throw failure;
    throw new ServiceUnreachableError(
      new URL(service.endpoint).host,
      failure,
      causeOf(failure.cause ?? error),
    );
  }
}

async function tokenCommand(values: Values, io: CommandIo): Promise<number> {
  const service = target(values, io.env);
  const client = text(values, 'client');
  const scope = text(values, 'scope');
  if (!client) throw new UsageError('--client is required');
  if (!scope) throw new UsageError('--scope is required');
  const rawMinTtl = text(values, 'min-ttl');
  let minTtl: number | undefined;
  if (rawMinTtl !== undefined) {
    minTtl = Number(rawMinTtl);
    if (!/^\d+$/.test(rawMinTtl) || !isValidMinTtl(minTtl)) {
      throw new UsageError(`--min-ttl must be whole seconds from 0 to ${MAX_MIN_TTL_SECONDS}`);
    }
  }
  const body = JSON.stringify({ client, scope, ...(minTtl !== undefined ? { min_ttl: minTtl } : {}) });
  const { answer, token } = await ask(service, async () => {
    const answer = await sendSigned(service, { method: 'POST', path: '/v1/token', body });
    return { answer, token: processTokenAnswer(answer) };
  });
  io.stdout(values.json ? `${answer.text.trim()}\n` : `${token.access_token}\n`);
  return 0;
}

async function clientsCommand(values: Values, io: CommandIo): Promise<number> {
  const service = target(values, io.env);
  const { answer, clients } = await ask(service, async () => {
    const answer = await sendSigned(service, { method: 'GET', path: '/v1/clients' });
    return { answer, clients: processClientsAnswer(answer).clients };
  });
  if (values.json) {
    io.stdout(`${answer.text.trim()}\n`);
  } else if (clients.length === 0) {
    io.stderr('tvs: this caller has no grants\n');
  } else {
    const width = Math.max(...clients.map((entry) => entry.client.length));
    for (const entry of clients) io.stdout(`${entry.client.padEnd(width)}  ${entry.scopes.join(' ')}\n`);
  }
  return 0;
}

const SIGNED_OPTIONS: Options = {
  endpoint: { type: 'string' },
  json: { type: 'boolean' },
  region: { type: 'string' },
  service: { type: 'string' },
};

const COMMANDS: Record<string, Command> = {
  token: {
    synopsis: `tvs token --endpoint URL --client NAME --scope SCOPE [--min-ttl SECONDS] [--json] ${SIGNING}`,
    help: `Print a token (or, with --json, the service's whole answer). Quote scopes: '.:webhooks/**'.
${COMMON_HELP}`,
    options: {
      ...SIGNED_OPTIONS,
      client: { type: 'string' },
      scope: { type: 'string' },
      'min-ttl': { type: 'string' },
    },
    json: true,
    run: tokenCommand,
  },
  clients: {
    synopsis: `tvs clients --endpoint URL [--json] ${SIGNING}`,
    help: `Print the clients and scopes this caller may ask for.
${COMMON_HELP}`,
    options: SIGNED_OPTIONS,
    json: true,
    run: clientsCommand,
  },
};

/** The package that adds the service's own commands, where it is installed (the service's repository). */
const SERVICE_COMMANDS_PACKAGE = '@tvs/local';
const SERVICE_COMMANDS_MODULE = `${SERVICE_COMMANDS_PACKAGE}/commands`;

/** The service's own commands: not part of this package, loaded from the service's when it is installed. */
export const SERVICE_COMMAND_NAMES: readonly string[] = Object.freeze([
  'serve',
  'dev',
  'rotate',
  'purge',
  'validate',
]);

/**
 * The service's own commands, or undefined when the service's package is not installed here. A module of
 * it that is present but fails to load (a missing build, a missing dependency) is an error, not absence.
 */
async function serviceCommands(): Promise<Readonly<Record<string, Command>> | undefined> {
  try {
    const module = await importIfInstalled<{ commands?: Readonly<Record<string, Command>> }>(
      SERVICE_COMMANDS_MODULE,
      SERVICE_COMMANDS_PACKAGE,
    );
    return module?.commands;
  } catch (error) {
    // The package is there, its build is not.
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes('/local/dist/')) {
      throw new UsageError(`the service's commands are not built: run \`npm run build\` in its repository`);
    }
    throw error;
  }
}

/** Every command this `tvs` has: the caller commands, and the service's own where they are installed. */
async function allCommands(): Promise<Readonly<Record<string, Command>>> {
  return { ...COMMANDS, ...((await serviceCommands()) ?? {}) };
}

function usage(commands: Readonly<Record<string, Command>>): string {
  const missing = SERVICE_COMMAND_NAMES.filter((name) => !Object.hasOwn(commands, name));
  const note = missing.length
    ? `\nThe service's own commands (${missing.join(', ')}) come with the service's repository.\n`
    : '';
  return `usage: tvs <command> [options]

${Object.values(commands)
  .map((command) => `  ${command.synopsis}`)
  .join('\n')}
  tvs --version
  tvs <command> --help
${EXIT_CODES}\n${note}`;
}

/** The command called `name` in `commands`, if there is one (never an `Object.prototype` property). */
function commandNamed(
  commands: Readonly<Record<string, Command>>,
  name: string | undefined,
): Command | undefined {
  return name !== undefined && Object.hasOwn(commands, name) ? commands[name] : undefined;
}

/** The command called `name`: a caller command at once, the service's only when asked for. */
async function findCommand(name: string): Promise<Command | undefined> {
  return commandNamed(COMMANDS, name) ?? commandNamed(await allCommands(), name);
}

function unknownCommand(name: string): UsageError {
  if (SERVICE_COMMAND_NAMES.includes(name)) {
    return new UsageError(
      `${name} is one of the service's own commands; it comes with the service's repository, not with this package: run it there (npx tvs ${name} …)`,
    );
  }
  return new UsageError(`unknown command ${JSON.stringify(name)}`);
}

function commandHelp(command: Command): string {
  return `usage: ${command.synopsis}\n\n  ${command.help.trim()}\n${EXIT_CODES}\n`;
}

/** A failure as the command reports it: the exit code, the JSON members, and the plain text. */
interface Report {
  readonly exit: 1 | 2;
  /** `error` of the JSON object: the service's, the client's own word, `usage`, or the error's name. */
  readonly kind: string;
  readonly description: string;
  readonly extra: Record<string, unknown>;
  readonly plain: string;
}

function usageReport(error: UsageError, command: Command | undefined, name: string | undefined): Report {
  const usage = command ? command.synopsis : 'tvs <command> [options]';
  const more = command ? `tvs ${name} --help` : 'tvs --help';
  const plain = `tvs: ${error.message}\nusage: ${usage}\nRun '${more}' for more.\n`;
  return { exit: 2, kind: 'usage', description: error.message, extra: { usage }, plain };
}

function refusalReport(error: TokenServiceError): Report {
  const answered = error.status > 0;
  const extra = {
    ...(answered ? { status: error.status } : {}),
    ...(error.retryAfter ? { retry_after: error.retryAfter } : {}),
  };
  const detail = answered ? ` (${error.error}, HTTP ${error.status})` : '';
  const plain = `tvs: ${error.error_description}${detail}\n`;
  return { exit: 1, kind: error.error, description: error.error_description, extra, plain };
}

function reportOf(error: unknown, command: Command | undefined, name: string | undefined): Report {
  if (error instanceof UsageError) return usageReport(error, command, name);
  if (error instanceof ServiceUnreachableError) {
    const extra = { host: error.host, cause: error.why };
    const plain = `tvs: ${error.message}: ${error.why}\n`;
    return { exit: 1, kind: error.failure.error, description: error.message, extra, plain };
  }
  if (error instanceof TokenServiceError) return refusalReport(error);
  // Configuration, table and rotation errors name each problem and never a secret's value.
  const message = error instanceof Error ? error.message : String(error);
  const problems = (error as { problems?: unknown }).problems;
  return {
    exit: 1,
    kind: (error as { name?: string }).name ?? 'Error',
    description: message,
    extra: Array.isArray(problems) ? { problems } : {},
    plain: `tvs ${name}: ${message}\n`,
  };
}

/**
 * Report a failure on stderr — plain text, or with `--json` one JSON object,
 * `{"error","error_description","code",…}`, the failure's code beside `error` — and return the exit code.
 */
function reportFailure(
  error: unknown,
  command: Command | undefined,
  name: string | undefined,
  json: boolean,
  io: CommandIo,
): number {
  const report = reportOf(error, command, name);
  const code = error instanceof TvsError ? { code: error.code } : {};
  const members = { error: report.kind, error_description: report.description, ...code, ...report.extra };
  io.stderr(json ? `${JSON.stringify(members)}\n` : report.plain);
  return report.exit;
}

/** `tvs`, `tvs --version` and `tvs help [command]`: the exit code, or undefined for any other command line. */
async function answerWithoutCommand(name: string | undefined, args: string[], io: CommandIo) {
  if (name === undefined) {
    io.stderr(usage(await allCommands()));
    return 2;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout(`tvs ${VERSION}\n`);
    return 0;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    const about = args[0] === undefined ? undefined : await findCommand(args[0]);
    io.stdout(about ? commandHelp(about) : usage(await allCommands()));
    return 0;
  }
  return undefined;
}

/** Run one `tvs` command line; resolves to the exit code. */
export async function runTvs(argv: string[], io: CommandIo): Promise<number> {
  const [name, ...args] = argv;
  let command: Command | undefined;
  try {
    const answered = await answerWithoutCommand(name, args, io);
    if (answered !== undefined || name === undefined) return answered ?? 2;
    command = await findCommand(name);
    if (command === undefined) throw unknownCommand(name);
    const { values, operands } = parse(args, command);
    if (values.help) {
      io.stdout(commandHelp(command));
      return 0;
    }
    return await command.run(values, io, operands);
  } catch (error) {
    const json = Boolean(command?.json) && args.includes('--json');
    return reportFailure(error, command, command ? name : undefined, json, io);
  }
}

/** Run `tvs` as the process: arguments from `process.argv`, the exit code as the process's. */
export async function main(): Promise<void> {
  process.exitCode = await runTvs(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
  });
}
