/**
 * `tvs`: the Token Vending Service from a shell (docs/cli.md is the reference).
 *
 * - `tvs token` prints a token for scheduled jobs: `Authorization: Bearer $(tvs token …)`.
 * - `tvs clients` prints what the caller may ask for.
 * - `tvs serve` runs the service locally (see `src/local/server.ts`); `tvs dev` runs a configuration
 *   with an Identity Cloud simulator, secrets and callers derived from it (see `src/local/dev.ts`).
 * - `tvs rotate` rotates a configured client's secret now (see `src/local/rotate.ts`).
 * - `tvs purge` removes cached tokens, so no container serves them any more (see `src/local/purge.ts`).
 * - `tvs validate` checks a configuration file (see `src/local/validate.ts`).
 *
 * Exit codes: 0 success; 1 the service (or the table, or the file) refused, or could not be reached;
 * 2 usage. Only a token ever goes to stdout for `tvs token`, and never to stderr. With `--json`, results
 * and errors are JSON: results on stdout, errors on stderr as `{"error","error_description",…}`.
 */
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type CredentialsSource,
  defaultCredentials,
  defaultRegion,
  processClientsAnswer,
  processTokenAnswer,
  retryUnavailable,
  type ServiceTarget,
  sendSigned,
  TokenServiceError,
  unreachable,
} from '../client/index';
import {
  ENDPOINT_KINDS,
  isEndpointKind,
  isSigningService,
  SIGNING_SERVICE,
  SIGNING_SERVICES,
  type SigningService,
} from '../shared/endpoint-kinds';
import { InvalidScopeError } from '../shared/errors';

/** The package's version, as `tvs --version` prints it. */
export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string })
  .version;

const SIGNING = '[--region REGION] [--service execute-api|lambda]';

/** One command: its synopsis (the usage line), what it does, and how it runs. */
interface Command {
  readonly synopsis: string;
  readonly help: string;
  readonly options: Options;
  /** Whether `--json` is one of its options. */
  readonly json?: boolean;
  /** Whether it takes operands (`tvs validate FILE`). */
  readonly positionals?: boolean;
  readonly run: (values: Values, io: CommandIo, operands: string[]) => Promise<number>;
}

const COMMON_HELP = `
  --endpoint defaults to $TVS_ENDPOINT; it is an http:// or https:// URL. The region defaults to the one
  in an execute-api or lambda-url host name, then $AWS_REGION, then us-east-1. --service (the SigV4
  service name) defaults to $TVS_SIGNING_SERVICE, then lambda for a *.lambda-url.<region>.on.aws host,
  else execute-api. Requests are signed with the default AWS credential chain.`;

const EXIT_CODES = `
Exit codes: 0 ok, 1 refused or could not be reached (the reason on stderr), 2 usage.`;

/** A mistake in the command line: exit code 2, with the command's usage line. */
class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Where the command writes; injectable so the command can run in-process. */
export interface CommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

type Options = Record<string, { type: 'string' | 'boolean' }>;
type Values = Record<string, string | boolean | undefined>;

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

function text(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Keys in the environment win over `AWS_PROFILE`, as in the AWS CLI (the SDK's chain skips them when a
 * profile is set), so `AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… tvs token …` always signs with those
 * keys. Otherwise: the default AWS credential chain.
 */
function credentialsFrom(env: NodeJS.ProcessEnv): CredentialsSource {
  const {
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_SESSION_TOKEN: sessionToken,
  } = env;
  if (accessKeyId && secretAccessKey)
    return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  return defaultCredentials();
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
    if (failure.status !== 0 || failure.error === 'no_credentials') throw failure;
    throw new UnreachableError(new URL(service.endpoint).host, failure, causeOf(failure.cause ?? error));
  }
}

/** The service gave no answer: names the host and why. */
class UnreachableError extends Error {
  constructor(
    readonly host: string,
    readonly failure: TokenServiceError,
    readonly reason: string,
  ) {
    super(
      failure.error === 'timeout'
        ? `the token service at ${host} did not answer in time`
        : `the token service at ${host} could not be reached`,
    );
    this.name = 'UnreachableError';
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
    if (!/^\d+$/.test(rawMinTtl) || minTtl > 3000)
      throw new UsageError('--min-ttl must be whole seconds from 0 to 3000');
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

function portOption(values: Values, name: string, fallback: number): number {
  const raw = text(values, name) ?? String(fallback);
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) throw new UsageError(`--${name} must be 0–65535`);
  return port;
}

function endpointKindOption(values: Values) {
  const endpointKind = text(values, 'endpoint-kind');
  if (endpointKind !== undefined && !isEndpointKind(endpointKind)) {
    throw new UsageError(`--endpoint-kind must be one of ${ENDPOINT_KINDS.join(', ')}`);
  }
  return endpointKind;
}

/** Resolve once SIGINT or SIGTERM asks to stop, after `close` finished. */
function untilSignalled(close: () => Promise<unknown>): Promise<void> {
  return new Promise<void>((resolve) => {
    // Handlers stay installed: a second signal (relayed by npm or tsx) must not kill the process mid-close.
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      close().then(
        () => resolve(),
        () => resolve(),
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

async function serveCommand(values: Values, io: CommandIo): Promise<number> {
  const configPath = text(values, 'config');
  if (!configPath) throw new UsageError('--config is required');
  const port = portOption(values, 'port', 8787);
  const endpointKind = endpointKindOption(values);
  const { startLocalServer } = await import('../local/server');
  const server = await startLocalServer({
    configPath,
    host: text(values, 'host') ?? '127.0.0.1',
    port,
    env: io.env,
    ...(endpointKind ? { endpointKind } : {}),
  });
  io.stdout(`listening on ${server.url}\n`);
  if (server.endpointKind !== 'rest-api') {
    io.stdout(`as a ${server.endpointKind}: sign requests for ${SIGNING_SERVICE[server.endpointKind]}\n`);
  }
  if (server.dynamodbEndpoint) {
    io.stdout(`embedded DynamoDB at ${server.dynamodbEndpoint} (table ${server.tableName})\n`);
  }
  await untilSignalled(() => server.close());
  return 0;
}

async function devCommand(values: Values, io: CommandIo): Promise<number> {
  const configPath = text(values, 'config');
  if (!configPath) throw new UsageError('--config is required');
  const port = portOption(values, 'port', 8787);
  const simulatorPort = portOption(values, 'simulator-port', 0);
  const endpointKind = endpointKindOption(values);
  const { quietSdkNodeWarning } = await import('../local/node-version');
  const note = quietSdkNodeWarning(io.env);
  if (note) io.stderr(note);
  const { devBanner, startDev } = await import('../local/dev');
  const session = await startDev({
    configPath,
    port,
    simulatorPort,
    env: io.env,
    ...(endpointKind ? { endpointKind } : {}),
  });
  io.stdout(devBanner(session));
  await untilSignalled(() => session.close());
  return 0;
}

async function rotateCommand(values: Values, io: CommandIo): Promise<number> {
  const configPath = text(values, 'config');
  const client = text(values, 'client');
  if (!configPath) throw new UsageError('--config is required');
  if (!client) throw new UsageError('--client is required');
  const { rotateClient } = await import('../local/rotate');
  const report = await rotateClient({ configPath, client, env: io.env });
  if (report.mode === 'secrets-manager') {
    const what = report.resumed ? 'resuming the unfinished rotation of' : 'rotating';
    io.stdout(`tvs: Secrets Manager is ${what} ${report.secretArn} (version ${report.versionId})\n`);
  } else {
    for (const step of report.steps)
      io.stdout(`tvs: ${step.step} ${step.outcome} (${step.client} via ${step.via})\n`);
  }
  return 0;
}

async function purgeCommand(values: Values, io: CommandIo): Promise<number> {
  const client = text(values, 'client');
  const scope = text(values, 'scope');
  if (!client) throw new UsageError('--client is required');
  if ((scope === undefined) === !values.all) throw new UsageError('give either --scope SCOPE or --all');
  const { purgeTokens, formatPurge } = await import('../local/purge');
  let report: Awaited<ReturnType<typeof purgeTokens>>;
  try {
    report = await purgeTokens({
      client,
      ...(scope !== undefined ? { scope } : { all: true }),
      ...(text(values, 'table') ? { table: text(values, 'table') } : {}),
      ...(text(values, 'region') ? { region: text(values, 'region') } : {}),
      env: io.env,
    });
  } catch (error) {
    if (error instanceof InvalidScopeError) throw new UsageError(`--scope: ${error.message}`);
    throw error;
  }
  io.stdout(values.json ? `${JSON.stringify(report)}\n` : formatPurge(report));
  return 0;
}

async function validateCommand(values: Values, io: CommandIo, files: string[]): Promise<number> {
  if (files.length !== 1) throw new UsageError('give one configuration file');
  const { validateConfigFile, formatValidation } = await import('../local/validate');
  const report = await validateConfigFile(files[0] as string);
  if (values.json) io.stdout(`${JSON.stringify(report)}\n`);
  else (report.valid ? io.stdout : io.stderr)(formatValidation(report));
  return report.valid ? 0 : 1;
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
  serve: {
    synopsis:
      'tvs serve --config FILE [--host 127.0.0.1] [--port 8787] [--endpoint-kind rest-api|function-url]',
    help: `Run the service locally on the same handler, behind SigV4 like its front door: API Gateway
  (rest-api, signed for execute-api) or a Lambda function URL (function-url, signed for lambda). The
  default is the configuration's local.endpoint, else rest-api. With $AWS_ENDPOINT_URL set (moto, a dev
  account), the table ($TVS_TABLE_NAME, default tvs-tokens) and KMS key live there, so several servers
  share one cache; without, DynamoDB is embedded and its address is printed (for tvs purge).`,
    options: {
      config: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'endpoint-kind': { type: 'string' },
    },
    run: serveCommand,
  },
  dev: {
    synopsis:
      'tvs dev --config FILE [--port 8787] [--simulator-port PORT] [--endpoint-kind rest-api|function-url]',
    help: `Run your configuration locally: an Identity Cloud simulator with one client per configured client
  (its allowedScopes as token policy), their secrets, and one local caller per grant principal, all
  derived from FILE (its "local" section, if any, is not used). Prints a tvs token command per grant.`,
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
      'simulator-port': { type: 'string' },
      'endpoint-kind': { type: 'string' },
    },
    run: devCommand,
  },
  rotate: {
    synopsis: 'tvs rotate --config FILE --client NAME',
    help: `Rotate the client's secret now: with the file's local.secretsFile, run the rotation's steps here
  against it; without one, ask Secrets Manager to rotate it (the deployed rotation function runs).`,
    options: { config: { type: 'string' }, client: { type: 'string' } },
    run: rotateCommand,
  },
  purge: {
    synopsis: 'tvs purge --client NAME (--scope SCOPE | --all) [--table NAME] [--region REGION] [--json]',
    help: `Remove the client's cached token for SCOPE (or all of them) from the service's table: every
  container stops serving it within 5 s and the next request mints a new one. The purged token stays
  valid at Identity Cloud until it expires. Writes the table with your AWS credentials
  (dynamodb:GetItem and UpdateItem on it; Scan too for --all); no KMS permission is needed.
  --table defaults to $TVS_TABLE_NAME, then tvs-tokens; the endpoint to $AWS_ENDPOINT_URL_DYNAMODB or
  $AWS_ENDPOINT_URL when set.`,
    options: {
      client: { type: 'string' },
      scope: { type: 'string' },
      all: { type: 'boolean' },
      table: { type: 'string' },
      region: { type: 'string' },
      json: { type: 'boolean' },
    },
    json: true,
    run: purgeCommand,
  },
  validate: {
    synopsis: 'tvs validate FILE [--json]',
    help: `Check a configuration file as cdk synth and the service do: prints one line when it is valid,
  else every problem with its path (line and column for invalid JSON). Exit code 1 when invalid.`,
    options: { json: { type: 'boolean' } },
    json: true,
    positionals: true,
    run: validateCommand,
  },
};

const USAGE = `usage: tvs <command> [options]

${Object.values(COMMANDS)
  .map((command) => `  ${command.synopsis}`)
  .join('\n')}
  tvs --version
  tvs <command> --help
${EXIT_CODES}
`;

/** The command called `name`, if there is one (never an `Object.prototype` property). */
function commandNamed(name: string | undefined): Command | undefined {
  return name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

function commandHelp(command: Command): string {
  return `usage: ${command.synopsis}\n\n  ${command.help.trim()}\n${EXIT_CODES}\n`;
}

/** What goes to stderr for a failure: plain text, or with `--json` one JSON object. */
function reportFailure(error: unknown, name: string | undefined, json: boolean, io: CommandIo): number {
  const command = commandNamed(name);
  const write = (code: string, description: string, extra: Record<string, unknown>, plain: string) => {
    io.stderr(
      json ? `${JSON.stringify({ error: code, error_description: description, ...extra })}\n` : plain,
    );
  };
  if (error instanceof UsageError) {
    const usage = command ? command.synopsis : 'tvs <command> [options]';
    const more = command ? `tvs ${name} --help` : 'tvs --help';
    write(
      'usage',
      error.message,
      { usage },
      `tvs: ${error.message}\nusage: ${usage}\nRun '${more}' for more.\n`,
    );
    return 2;
  }
  if (error instanceof UnreachableError) {
    write(
      error.failure.error,
      error.message,
      { host: error.host, cause: error.reason },
      `tvs: ${error.message}: ${error.reason}\n`,
    );
    return 1;
  }
  if (error instanceof TokenServiceError) {
    const detail = error.status > 0 ? ` (${error.error}, HTTP ${error.status})` : '';
    write(
      error.error,
      error.error_description,
      {
        ...(error.status > 0 ? { status: error.status } : {}),
        ...(error.retryAfter ? { retry_after: error.retryAfter } : {}),
      },
      `tvs: ${error.error_description}${detail}\n`,
    );
    return 1;
  }
  // Configuration, table and rotation errors name each problem and never a secret's value.
  const message = error instanceof Error ? error.message : String(error);
  const problems = (error as { problems?: unknown }).problems;
  write(
    (error as { name?: string }).name ?? 'Error',
    message,
    Array.isArray(problems) ? { problems } : {},
    `tvs ${name}: ${message}\n`,
  );
  return 1;
}

/** Run one `tvs` command line; resolves to the exit code. */
export async function runTvs(argv: string[], io: CommandIo): Promise<number> {
  const [name, ...args] = argv;
  const command = commandNamed(name);
  const json = Boolean(command?.json) && args.includes('--json');
  try {
    if (name === undefined) {
      io.stderr(USAGE);
      return 2;
    }
    if (name === '--version' || name === '-V' || name === 'version') {
      io.stdout(`tvs ${VERSION}\n`);
      return 0;
    }
    if (name === 'help' || name === '--help' || name === '-h') {
      const about = commandNamed(args[0]);
      io.stdout(about ? commandHelp(about) : USAGE);
      return 0;
    }
    if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
    const { values, operands } = parse(args, command);
    if (values.help) {
      io.stdout(commandHelp(command));
      return 0;
    }
    return await command.run(values, io, operands);
  } catch (error) {
    return reportFailure(error, command ? name : undefined, json, io);
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

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isEntryPoint()) await main();
