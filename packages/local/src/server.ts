/**
 * `tvs serve`: the Lambda's handler behind a Node HTTP server, doing what the front door does in front of
 * it, so the service runs on a laptop or in a test exactly as it runs in AWS. Two front doors (docs/contract.md
 * "Endpoint kinds"):
 * - `rest-api` (default): API Gateway's — SigV4 for `execute-api`, only the two routes, the REST proxy event.
 * - `function-url`: a function URL's — SigV4 for `lambda`, every path passed on, the payload 2.0 event.
 *
 * Two modes, chosen by the environment:
 * - embedded (no `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_DYNAMODB`): DynamoDB is an in-process dynalite,
 *   data keys come from a key made at start, secrets from `local.secretsFile`. Nothing outlives the process.
 * - endpoint: DynamoDB (table `TVS_TABLE_NAME`, default `tvs-tokens`, created if missing) and KMS (key
 *   `TVS_KMS_KEY_ID`, or `alias/tvs-local`, created if missing) at that endpoint, so several servers share
 *   one cache as Lambda containers do. Secrets from `local.secretsFile`, or Secrets Manager without one.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type EndpointKind, LocalConfigError, routeMethod, SIGNING_SERVICE } from '@tvs/client/contract';
import { parseServiceConfig } from '@tvs/core/config/service-config';
import { createHandler, type RequestLog, type RequestMetrics } from '@tvs/core/entry/vend-handler';
import { createRuntime } from '@tvs/core/entry/vend-runtime';
import { principalAccount } from '@tvs/core/policy/admission';
import { SERVICE_NAME } from '@tvs/core/policy/service-name';
import { settingsFromEnv, type VendingSettings } from '@tvs/core/policy/settings';
import {
  type DataKeyProvider,
  KmsDataKeyProvider,
  LocalDataKeyProvider,
  tokenEncryptionContext,
} from '@tvs/core/stores/token-crypto';
import { type SecretSource, SecretsManagerSource } from '@tvs/core/upstream/credentials';
import { IdentityCloudClient } from '@tvs/core/upstream/identity-cloud';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { ensureKmsKey, ensureTokenTable } from './aws-resources.js';
import { toApiGatewayEvent, toFunctionUrlEvent } from './lambda-events.js';
import {
  type LocalSection,
  loadConfigFile,
  parseLocalSection,
  unadmittedGrantProblems,
} from './local-config.js';
import { SecretsFileSource } from './secrets-file.js';
import { type SignatureRefusal, verifySigV4 } from './sigv4-verifier.js';

/** Default port of `tvs serve`. */
export const DEFAULT_PORT = 8787;
/** Default table name in endpoint mode. */
export const DEFAULT_TABLE_NAME = 'tvs-tokens';
/**
 * Largest body read, bytes. API Gateway accepts up to 10 MB and the handler refuses anything over 8 KiB
 * with 400; reading a little past that lets the handler give that answer without buffering without bound.
 */
export const MAX_LOCAL_BODY_BYTES = 64 * 1024;

/** How to start a local server. Give `configPath` or `config`. */
export interface LocalServerOptions {
  /** The configuration file (docs/contract.md's document plus `local`). */
  readonly configPath?: string;
  /** The configuration document itself, instead of a file. */
  readonly config?: unknown;
  /** Folder relative paths in `config` resolve against. @default process.cwd() */
  readonly configDir?: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. @default 8787 */
  readonly port?: number;
  /** Where `AWS_ENDPOINT_URL*`, `AWS_REGION`, `TVS_TABLE_NAME`, `TVS_KMS_KEY_ID` are read. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** The Identity Cloud client; default one with the production policy, closed with the server. */
  readonly identityCloud?: IdentityCloudClient;
  /** Structured log; default Powertools Logger, JSON lines on stdout as in Lambda. */
  readonly log?: RequestLog;
  /** Counters; default none (no EMF output locally). */
  readonly metrics?: RequestMetrics;
  /**
   * Tunables (timing, refresh margin, bounds of upstream use). @default those set in `env` by the same
   * variables the Lambda reads (`TVS_FUNCTION_TIMEOUT_SECONDS`, `TVS_MIN_MINT_INTERVAL_SECONDS`, …)
   */
  readonly settings?: VendingSettings;
  /** The front door to emulate. @default the configuration's `local.endpoint`, else `rest-api` */
  readonly endpointKind?: EndpointKind;
}

/** A running local server. */
export interface LocalServer {
  /** `http://HOST:PORT` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly mode: 'embedded' | 'endpoint';
  /** The front door it emulates; callers sign for its service (`SIGNING_SERVICE`). */
  readonly endpointKind: EndpointKind;
  readonly tableName: string;
  /** In embedded mode, the in-process DynamoDB's URL (what `tvs purge` writes to). */
  readonly dynamodbEndpoint?: string;
  /** Stop taking connections, let requests in flight finish (up to 5 s), release everything. */
  close(): Promise<void>;
}

/** Counters that count nothing: the local server prints no EMF. */
export const noMetrics: RequestMetrics = { count: () => {}, flush: () => {} };

class Closers {
  private readonly closers: (() => Promise<unknown> | unknown)[] = [];
  add(close: () => Promise<unknown> | unknown): void {
    this.closers.push(close);
  }
  async run(): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) {
      try {
        await close();
      } catch {
        // Shutting down: a failure to release one thing must not keep the others open.
      }
    }
  }
}

async function defaultLog(): Promise<RequestLog> {
  const { Logger } = await import('@aws-lambda-powertools/logger');
  return new Logger({ serviceName: SERVICE_NAME });
}

function awsClientConfig(env: NodeJS.ProcessEnv, region: string, endpoint: string | undefined) {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  return {
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? region,
    ...(endpoint ? { endpoint } : {}),
    ...(accessKeyId && secretAccessKey
      ? {
          credentials: {
            accessKeyId,
            secretAccessKey,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          },
        }
      : {}),
    maxAttempts: 2,
  };
}

async function startDynalite(closers: Closers): Promise<string> {
  const { default: dynalite } = await import('dynalite');
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  closers.add(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Backend {
  readonly mode: LocalServer['mode'];
  readonly tableName: string;
  readonly dynamodbEndpoint?: string;
  readonly dynamodb: DynamoDBClient;
  readonly dataKeys: DataKeyProvider;
  readonly secrets: SecretSource;
}

async function secretSource(
  local: LocalSection,
  env: NodeJS.ProcessEnv,
  endpoint: string | undefined,
): Promise<SecretSource> {
  if (local.secretsFile) {
    const source = new SecretsFileSource(local.secretsFile);
    await source.load();
    return source;
  }
  const secretsEndpoint = env.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? env.AWS_ENDPOINT_URL;
  if (!endpoint && !secretsEndpoint) {
    throw new LocalConfigError('local section', ['local.secretsFile: required when no AWS endpoint is set']);
  }
  const { SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  return new SecretsManagerSource(
    new SecretsManagerClient(awsClientConfig(env, local.region, secretsEndpoint)),
  );
}

async function startBackend(
  local: LocalSection,
  env: NodeJS.ProcessEnv,
  closers: Closers,
  log: RequestLog,
): Promise<Backend> {
  const endpoint = env.AWS_ENDPOINT_URL_DYNAMODB || env.AWS_ENDPOINT_URL || undefined;
  const secrets = await secretSource(local, env, endpoint);
  if (!endpoint) {
    const dynaliteUrl = await startDynalite(closers);
    const dynamodb = new DynamoDBClient({
      region: local.region,
      endpoint: dynaliteUrl,
      credentials: { accessKeyId: 'tvs-local', secretAccessKey: 'tvs-local' },
      maxAttempts: 2,
    });
    closers.add(() => dynamodb.destroy());
    const tableName = DEFAULT_TABLE_NAME;
    await ensureTokenTable(dynamodb, tableName, { enableTtl: false });
    return {
      mode: 'embedded',
      tableName,
      dynamodbEndpoint: dynaliteUrl,
      dynamodb,
      dataKeys: new LocalDataKeyProvider(tokenEncryptionContext(tableName)),
      secrets,
    };
  }

  const tableName = env.TVS_TABLE_NAME || DEFAULT_TABLE_NAME;
  const dynamodb = new DynamoDBClient(awsClientConfig(env, local.region, endpoint));
  closers.add(() => dynamodb.destroy());
  await ensureTokenTable(dynamodb, tableName);

  const kmsEndpoint = env.AWS_ENDPOINT_URL_KMS || env.AWS_ENDPOINT_URL || undefined;
  if (!kmsEndpoint && !env.TVS_KMS_KEY_ID) {
    log.warn(
      "no KMS endpoint: data keys are made in this process, so servers sharing the table cannot open each other's tokens",
      {},
    );
    return {
      mode: 'endpoint',
      tableName,
      dynamodb,
      dataKeys: new LocalDataKeyProvider(tokenEncryptionContext(tableName)),
      secrets,
    };
  }
  const { KMSClient } = await import('@aws-sdk/client-kms');
  const kms = new KMSClient(awsClientConfig(env, local.region, kmsEndpoint));
  closers.add(() => kms.destroy());
  const keyId = await ensureKmsKey(kms, env.TVS_KMS_KEY_ID || undefined);
  return {
    mode: 'endpoint',
    tableName,
    dynamodb,
    dataKeys: new KmsDataKeyProvider(keyId, tokenEncryptionContext(tableName), kms),
    secrets,
  };
}

/** Read at most `limit` bytes of body; `undefined` when the body is larger. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return resolve(undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/**
 * The front door's own refusal: `{"message": …}` from API Gateway, `{"Message": …}` from a function URL,
 * with the error type in `x-amzn-ErrorType` either way.
 */
function writeGatewayError(
  res: ServerResponse,
  kind: EndpointKind,
  status: number,
  errorType: string,
  message: string,
  requestId: string,
): void {
  const body = JSON.stringify(kind === 'function-url' ? { Message: message } : { message });
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    'x-amzn-RequestId': requestId,
    'x-amzn-ErrorType': errorType,
  });
  res.end(body);
}

function writeResult(
  res: ServerResponse,
  result: APIGatewayProxyResult,
  requestId: string,
  closing: boolean,
): void {
  const body = result.isBase64Encoded ? Buffer.from(result.body, 'base64') : Buffer.from(result.body, 'utf8');
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {}))
    headers[name] = values.map(String);
  headers['Content-Length'] = String(body.length);
  headers['x-amzn-RequestId'] = requestId;
  // While stopping, do not keep the connection for another request.
  if (closing) headers.Connection = 'close';
  res.writeHead(result.statusCode, headers);
  res.end(body);
}

/** What a function URL answers an unsigned request; other refusals keep the verifier's messages. */
export const FUNCTION_URL_FORBIDDEN =
  'Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html';

function frontDoorRefusal(
  kind: EndpointKind,
  refusal: SignatureRefusal,
): { errorType: string; message: string } {
  if (kind === 'function-url' && refusal.errorType === 'MissingAuthenticationTokenException') {
    return { errorType: 'AccessDeniedException', message: FUNCTION_URL_FORBIDDEN };
  }
  return refusal;
}

/** The 403 of a front door whose resource policy does not admit the caller's account. */
function notAdmitted(
  kind: EndpointKind,
  callerArn: string,
  method: string,
  path: string,
): { errorType: string; message: string } {
  if (kind === 'function-url') {
    return { errorType: 'AccessDeniedException', message: FUNCTION_URL_FORBIDDEN };
  }
  return {
    errorType: 'AccessDeniedException',
    message: `User: ${callerArn} is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:local:local:local/local/${method}${path} because no resource-based policy allows the execute-api:Invoke action`,
  };
}

/**
 * Start the local server. Resolves once it listens; rejects on an invalid configuration
 * (`ConfigError`/`LocalConfigError`, naming each problem) or a port in use.
 */
export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const env = options.env ?? process.env;
  const host = options.host ?? '127.0.0.1';
  const loaded = options.configPath
    ? await loadConfigFile(options.configPath)
    : { document: options.config, baseDir: options.configDir ?? process.cwd() };
  if (loaded.document === undefined) throw new TypeError('startLocalServer needs configPath or config');
  const source = options.configPath ?? 'document';
  const config = parseServiceConfig(loaded.document);
  const local = parseLocalSection(loaded.document, loaded.baseDir, source);
  const admitted = local.allowedAccounts;
  const unadmitted = unadmittedGrantProblems(config.document.grants, local);
  if (unadmitted.length > 0) throw new LocalConfigError(source, unadmitted);
  const log = options.log ?? (await defaultLog());

  const closers = new Closers();
  try {
    const backend = await startBackend(local, env, closers, log);
    const identityCloud = options.identityCloud ?? new IdentityCloudClient();
    if (!options.identityCloud) closers.add(() => identityCloud.close());
    const runtime = createRuntime({
      config,
      tableName: backend.tableName,
      dataKeys: backend.dataKeys,
      dynamodb: backend.dynamodb,
      secrets: backend.secrets,
      identityCloud,
      log,
      metrics: options.metrics ?? noMetrics,
      settings: options.settings ?? settingsFromEnv(env),
    });
    const handler = createHandler(runtime);
    const endpointKind = options.endpointKind ?? local.endpoint;
    let stopping = false;

    const refused = (
      req: IncomingMessage,
      path: string,
      refusal: { readonly errorType: string },
      requestId: string,
    ) =>
      log.warn('request refused by SigV4 authorization', {
        method: req.method,
        path,
        error_type: refusal.errorType,
        request_id: requestId,
      });

    async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const requestId = randomUUID();
      const nowMs = Date.now();
      const rawUrl = req.url ?? '/';
      const queryAt = rawUrl.indexOf('?');
      const path = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
      const query = queryAt < 0 ? '' : rawUrl.slice(queryAt + 1);
      const method = req.method ?? 'GET';
      // The routes API Gateway has; anything else it answers itself, never reaching the Lambda. A function
      // URL has no routes: every path reaches the function, which answers 404 or 405 itself.
      if (endpointKind === 'rest-api' && routeMethod(path) !== method) {
        req.resume();
        writeGatewayError(
          res,
          endpointKind,
          403,
          'MissingAuthenticationTokenException',
          'Missing Authentication Token',
          requestId,
        );
        return;
      }
      const body = await readBody(req, MAX_LOCAL_BODY_BYTES);
      if (body === undefined) {
        res.setHeader('Connection', 'close');
        req.resume();
        writeGatewayError(
          res,
          endpointKind,
          413,
          'RequestEntityTooLargeException',
          'Request Too Long',
          requestId,
        );
        return;
      }
      const verdict = await verifySigV4(
        { method, path, query, headers: req.headers, body },
        { callers: local.callers, region: local.region, service: SIGNING_SERVICE[endpointKind] },
      );
      if (!verdict.ok) {
        refused(req, path, verdict, requestId);
        const refusal = frontDoorRefusal(endpointKind, verdict);
        writeGatewayError(res, endpointKind, 403, refusal.errorType, refusal.message, requestId);
        return;
      }
      const account = principalAccount(verdict.caller.arn);
      if (admitted && (account === undefined || !admitted.has(account))) {
        // What the resource policy answers a caller of an account it does not admit.
        const refusal = notAdmitted(endpointKind, verdict.caller.arn, method, path);
        refused(req, path, refusal, requestId);
        writeGatewayError(res, endpointKind, 403, refusal.errorType, refusal.message, requestId);
        return;
      }
      const received = {
        method,
        path,
        query,
        rawHeaders: req.rawHeaders,
        body,
        callerArn: verdict.caller.arn,
        accessKeyId: verdict.caller.accessKeyId,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        requestId,
        nowMs,
      };
      const event =
        endpointKind === 'function-url' ? toFunctionUrlEvent(received) : toApiGatewayEvent(received);
      const result = (await handler(event)) as APIGatewayProxyResult;
      writeResult(res, result, requestId, stopping);
    }

    const server = createServer((req, res) => {
      serve(req, res).catch((error: unknown) => {
        log.error('local server failure', { error: error instanceof Error ? error.name : typeof error });
        if (!res.headersSent)
          writeGatewayError(
            res,
            endpointKind,
            500,
            'InternalServerErrorException',
            'Internal server error',
            '-',
          );
        else res.destroy();
      });
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;

    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? DEFAULT_PORT, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    closers.add(
      () =>
        new Promise<void>((resolve) => {
          stopping = true;
          const force = setTimeout(() => server.closeAllConnections(), 5_000);
          server.close(() => {
            clearTimeout(force);
            resolve();
          });
          server.closeIdleConnections();
        }),
    );
    let closing: Promise<void> | undefined;
    return {
      url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
      host,
      port,
      mode: backend.mode,
      endpointKind,
      tableName: backend.tableName,
      ...(backend.dynamodbEndpoint ? { dynamodbEndpoint: backend.dynamodbEndpoint } : {}),
      close: () => {
        closing ??= closers.run();
        return closing;
      },
    };
  } catch (error) {
    await closers.run();
    throw error;
  }
}
