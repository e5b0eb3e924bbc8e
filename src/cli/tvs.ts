/**
 * `tvs`: the Token Vending Service from a shell.
 *
 * - `tvs token` prints a token for scheduled jobs: `Authorization: Bearer $(tvs token …)`.
 * - `tvs clients` prints what the caller may ask for.
 * - `tvs serve` runs the service locally (see `src/local/server.ts`).
 * - `tvs rotate` rotates a configured client's secret now (see `src/local/rotate.ts`).
 *
 * Exit codes: 0 success; 1 the service refused or could not be reached (its `error_description` on
 * stderr); 2 usage. Only a token ever goes to stdout, and never to stderr.
 */
import { realpathSync } from 'node:fs';
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

const USAGE = `usage: tvs <command> [options]

  tvs token --endpoint URL --client NAME --scope SCOPE [--min-ttl SECONDS] [--json]
            [--region REGION] [--service execute-api|lambda]
      Print a token (or, with --json, the service's whole answer). Signs with the default AWS
      credential chain. Quote scopes: '.:webhooks/**'.
  tvs clients --endpoint URL [--json] [--region REGION] [--service execute-api|lambda]
      Print the clients and scopes this caller may ask for.
  tvs serve --config FILE [--host 127.0.0.1] [--port 8787] [--endpoint-kind rest-api|function-url]
      Run the service locally on the same handler, behind SigV4 like its front door: API Gateway
      (rest-api, signed for execute-api) or a Lambda function URL (function-url, signed for lambda).
      The default is the configuration's local.endpoint, else rest-api.
  tvs rotate --config FILE --client NAME
      Rotate the client's secret now: with the file's local.secretsFile, run the rotation's steps here
      against it; without one, ask Secrets Manager to rotate it (the deployed rotation function runs).

  --endpoint defaults to $TVS_ENDPOINT. The region defaults to the one in an execute-api or
  lambda-url host name, then $AWS_REGION, then us-east-1. --service (the SigV4 service name) defaults
  to $TVS_SIGNING_SERVICE, then lambda for a *.lambda-url.<region>.on.aws host, else execute-api.
  Exit codes: 0 ok, 1 the service refused or could not be reached, 2 usage.
`;

/** A mistake in the command line: exit code 2. */
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

function parse(args: string[], options: Options): Values {
  try {
    const { values } = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
    });
    return values as Values;
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

function target(values: Values, env: NodeJS.ProcessEnv): ServiceTarget {
  const endpoint = text(values, 'endpoint') ?? env.TVS_ENDPOINT;
  if (!endpoint) throw new UsageError('--endpoint is required (or set TVS_ENDPOINT)');
  try {
    new URL(endpoint);
  } catch {
    throw new UsageError(`--endpoint is not a URL: ${endpoint}`);
  }
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

async function tokenCommand(args: string[], io: CommandIo): Promise<number> {
  const values = parse(args, {
    endpoint: { type: 'string' },
    client: { type: 'string' },
    scope: { type: 'string' },
    'min-ttl': { type: 'string' },
    json: { type: 'boolean' },
    region: { type: 'string' },
    service: { type: 'string' },
  });
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
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
  const { answer, token } = await retryUnavailable(retry, async () => {
    const answer = await sendSigned(service, { method: 'POST', path: '/v1/token', body });
    return { answer, token: processTokenAnswer(answer) };
  });
  io.stdout(values.json ? `${answer.text.trim()}\n` : `${token.access_token}\n`);
  return 0;
}

async function clientsCommand(args: string[], io: CommandIo): Promise<number> {
  const values = parse(args, {
    endpoint: { type: 'string' },
    json: { type: 'boolean' },
    region: { type: 'string' },
    service: { type: 'string' },
  });
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const service = target(values, io.env);
  const { answer, clients } = await retryUnavailable(retry, async () => {
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

async function serveCommand(args: string[], io: CommandIo): Promise<number> {
  const values = parse(args, {
    config: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    'endpoint-kind': { type: 'string' },
  });
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const configPath = text(values, 'config');
  if (!configPath) throw new UsageError('--config is required');
  const rawPort = text(values, 'port') ?? '8787';
  const port = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || port > 65535) throw new UsageError('--port must be 0–65535');
  const endpointKind = text(values, 'endpoint-kind');
  if (endpointKind !== undefined && !isEndpointKind(endpointKind)) {
    throw new UsageError(`--endpoint-kind must be one of ${ENDPOINT_KINDS.join(', ')}`);
  }
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
  await new Promise<void>((resolve) => {
    // Handlers stay installed: a second signal (relayed by npm or tsx) must not kill the process mid-close.
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      server.close().then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}

async function rotateCommand(args: string[], io: CommandIo): Promise<number> {
  const values = parse(args, { config: { type: 'string' }, client: { type: 'string' } });
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
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

/** Run one `tvs` command line; resolves to the exit code. */
export async function runTvs(argv: string[], io: CommandIo): Promise<number> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case 'token':
        return await tokenCommand(args, io);
      case 'clients':
        return await clientsCommand(args, io);
      case 'serve':
        return await serveCommand(args, io);
      case 'rotate':
        return await rotateCommand(args, io);
      case undefined:
        io.stderr(USAGE);
        return 2;
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`tvs: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (command === 'serve' || command === 'rotate') {
      // Configuration and rotation errors name each problem and never a secret's value.
      io.stderr(`tvs ${command}: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    const failure = error instanceof TokenServiceError ? error : unreachable(error);
    const detail = failure.status > 0 ? ` (${failure.error}, HTTP ${failure.status})` : '';
    io.stderr(`tvs: ${failure.error_description}${detail}\n`);
    return 1;
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
