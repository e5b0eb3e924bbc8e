/**
 * The service's own `tvs` commands — `serve`, `dev`, `rotate`, `purge` and `validate` — which need the
 * service itself (its core, an embedded DynamoDB, the Identity Cloud simulator). The `tvs` command of
 * `@tvs/client` loads this module when it is installed (in the service's repository), so a caller team
 * that installs only the client gets `token` and `clients` and none of these dependencies. Each command
 * imports what it needs when it runs, so `tvs token` never loads them.
 */
import { type Command, type CommandIo, portOption, text, UsageError, type Values } from '@tvs/client/cli';
import { ENDPOINT_KINDS, InvalidScopeError, isEndpointKind, SIGNING_SERVICE } from '@tvs/client/contract';

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
  const { startLocalServer } = await import('./server.js');
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
  const { quietSdkNodeWarning } = await import('./node-version.js');
  const note = quietSdkNodeWarning(io.env);
  if (note) io.stderr(note);
  const { devBanner, startDev } = await import('./dev.js');
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
  const { rotateClient } = await import('./rotate.js');
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
  const { purgeTokens, formatPurge } = await import('./purge.js');
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
  const { validateConfigFile, formatValidation } = await import('./validate.js');
  const report = await validateConfigFile(files[0] as string);
  if (values.json) io.stdout(`${JSON.stringify(report)}\n`);
  else (report.valid ? io.stdout : io.stderr)(formatValidation(report));
  return report.valid ? 0 : 1;
}

/** The commands, by name. */
export const commands: Readonly<Record<string, Command>> = {
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
