/**
 * `tvs serve`: the Lambda's handler behind a Node HTTP server, doing what the front door does in front of
 * it, so the service runs on a laptop or in a test exactly as it runs in AWS. Two front doors
 * (`front-door.ts`, docs/contract.md "Endpoint kinds"):
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
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type EndpointKind, LocalConfigError } from '@tvs/client/contract';
import { parseServiceConfig } from '@tvs/core/config/service-config';
import {
  createHandler,
  type HandlerRuntime,
  type RequestLog,
  type RequestMetrics,
} from '@tvs/core/entry/vend-handler';
import { createRuntime } from '@tvs/core/entry/vend-runtime';
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
import { FrontDoor, type GatewayAnswer, INTERNAL_SERVER_ERROR, REQUEST_TOO_LONG } from './front-door.js';
import {
  type LocalSection,
  loadConfigFile,
  parseLocalSection,
  unadmittedGrantProblems,
} from './local-config.js';
import { SecretsFileSource } from './secrets-file.js';

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

/** The request target split as API Gateway splits it: the path as sent, and the raw query without `?`. */
function splitTarget(target: string): { path: string; query: string } {
  const queryAt = target.indexOf('?');
  return queryAt < 0
    ? { path: target, query: '' }
    : { path: target.slice(0, queryAt), query: target.slice(queryAt + 1) };
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

/** The configuration's service document and `local` section, checked as `tvs serve` checks them. */
async function readConfiguration(options: LocalServerOptions) {
  const loaded = options.configPath
    ? await loadConfigFile(options.configPath)
    : { document: options.config, baseDir: options.configDir ?? process.cwd() };
  if (loaded.document === undefined) throw new TypeError('startLocalServer needs configPath or config');
  const source = options.configPath ?? 'document';
  const config = parseServiceConfig(loaded.document);
  const local = parseLocalSection(loaded.document, loaded.baseDir, source);
  const unadmitted = unadmittedGrantProblems(config.document.grants, local);
  if (unadmitted.length > 0) throw new LocalConfigError(source, unadmitted);
  return { config, local };
}

/** What a {@link LocalServer} is made of once its back end runs. */
interface LocalServerParts {
  readonly host: string;
  readonly backend: Backend;
  readonly runtime: HandlerRuntime;
  readonly frontDoor: FrontDoor;
  readonly log: RequestLog;
  /** What to release on close, the back end's clients and servers among them. */
  readonly resources: Closers;
}

/**
 * A running local server: the Lambda's handler over its runtime, behind a Node HTTP server doing what
 * the front door does ({@link FrontDoor}: routes, SigV4, the admitted accounts, the event it hands the
 * function). Start one with {@link LocalServer.start} or {@link startLocalServer}.
 */
export class LocalServer {
  readonly host: string;
  readonly mode: 'embedded' | 'endpoint';
  /** The front door it emulates; callers sign for its service (`SIGNING_SERVICE`). */
  readonly endpointKind: EndpointKind;
  readonly tableName: string;
  /** In embedded mode, the in-process DynamoDB's URL (what `tvs purge` writes to). */
  readonly dynamodbEndpoint?: string;
  /** The Node HTTP server requests arrive at. */
  readonly httpServer: Server;
  /** What the handler runs on: the vending service over the back end, the log, the counters. */
  readonly runtime: HandlerRuntime;
  /** The front door's checks and event mapping. */
  readonly frontDoor: FrontDoor;
  private readonly handler: ReturnType<typeof createHandler>;
  private readonly log: RequestLog;
  private readonly resources: Closers;
  private listeningPort = 0;
  /** Set once closing starts: answers then ask the client to close the connection. */
  private stopping = false;
  private closing: Promise<void> | undefined;

  /**
   * Start a local server. Resolves once it listens; rejects on an invalid configuration
   * (`ConfigError`/`LocalConfigError`, naming each problem) or a port in use.
   */
  static async start(options: LocalServerOptions): Promise<LocalServer> {
    const env = options.env ?? process.env;
    const { config, local } = await readConfiguration(options);
    const log = options.log ?? (await defaultLog());
    const resources = new Closers();
    try {
      const backend = await startBackend(local, env, resources, log);
      const identityCloud = options.identityCloud ?? new IdentityCloudClient();
      if (!options.identityCloud) resources.add(() => identityCloud.close());
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
      const frontDoor = new FrontDoor(options.endpointKind ?? local.endpoint, local);
      const host = options.host ?? '127.0.0.1';
      const server = new LocalServer({ host, backend, runtime, frontDoor, log, resources });
      await server.listen(options.port ?? DEFAULT_PORT);
      return server;
    } catch (error) {
      await resources.run();
      throw error;
    }
  }

  private constructor(parts: LocalServerParts) {
    this.host = parts.host;
    this.mode = parts.backend.mode;
    this.endpointKind = parts.frontDoor.kind;
    this.tableName = parts.backend.tableName;
    if (parts.backend.dynamodbEndpoint) this.dynamodbEndpoint = parts.backend.dynamodbEndpoint;
    this.runtime = parts.runtime;
    this.handler = createHandler(parts.runtime);
    this.frontDoor = parts.frontDoor;
    this.log = parts.log;
    this.resources = parts.resources;
    this.httpServer = createServer((req, res) => this.dispatch(req, res));
    this.httpServer.headersTimeout = 10_000;
    this.httpServer.requestTimeout = 30_000;
  }

  /** The port it listens on. */
  get port(): number {
    return this.listeningPort;
  }

  /** `http://HOST:PORT` */
  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** Stop taking connections, let requests in flight finish (up to 5 s), release everything. */
  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  /**
   * Answer one request as the front door and the function would: the front door's own answer for a route
   * it lacks, a body too large, or a request it refuses; otherwise the handler's answer to its event.
   */
  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const nowMs = Date.now();
    const { path, query } = splitTarget(req.url ?? '/');
    const method = req.method ?? 'GET';
    const unrouted = this.frontDoor.unroutedAnswer(method, path);
    if (unrouted) {
      req.resume();
      this.writeAnswer(res, unrouted, requestId);
      return;
    }
    const body = await readBody(req, MAX_LOCAL_BODY_BYTES);
    if (body === undefined) {
      res.setHeader('Connection', 'close');
      req.resume();
      this.writeAnswer(res, REQUEST_TOO_LONG, requestId);
      return;
    }
    const verdict = await this.frontDoor.authorize({ method, path, query, headers: req.headers, body });
    if (!verdict.ok) {
      this.log.warn('request refused by SigV4 authorization', {
        method: req.method,
        path,
        error_type: verdict.errorType,
        request_id: requestId,
      });
      this.writeAnswer(res, verdict.answer, requestId);
      return;
    }
    const event = this.frontDoor.eventFor({
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
    });
    const result = (await this.handler(event)) as APIGatewayProxyResult;
    writeResult(res, result, requestId, this.stopping);
  }

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    this.serve(req, res).catch((error: unknown) => {
      this.log.error('local server failure', {
        error: error instanceof Error ? error.name : typeof error,
      });
      if (!res.headersSent) this.writeAnswer(res, INTERNAL_SERVER_ERROR, '-');
      else res.destroy();
    });
  }

  /** The front door's own answer, with the error type in `x-amzn-ErrorType`. */
  private writeAnswer(res: ServerResponse, answer: GatewayAnswer, requestId: string): void {
    const body = this.frontDoor.answerBody(answer.message);
    res.writeHead(answer.status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
      'x-amzn-RequestId': requestId,
      'x-amzn-ErrorType': answer.errorType,
    });
    res.end(body);
  }

  private listen(port: number): Promise<void> {
    const server = this.httpServer;
    return new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.off('error', reject);
        this.listeningPort = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private async stop(): Promise<void> {
    await this.stopListening();
    await this.resources.run();
  }

  private stopListening(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.stopping = true;
      const force = setTimeout(() => this.httpServer.closeAllConnections(), 5_000);
      this.httpServer.close(() => {
        clearTimeout(force);
        resolve();
      });
      this.httpServer.closeIdleConnections();
    });
  }
}

/**
 * Start the local server ({@link LocalServer.start}). Resolves once it listens; rejects on an invalid
 * configuration (`ConfigError`/`LocalConfigError`, naming each problem) or a port in use.
 */
export function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  return LocalServer.start(options);
}
