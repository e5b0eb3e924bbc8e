import { randomUUID } from 'node:crypto';
import { DeleteItemCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { EndpointKind } from '@tvs/client/contract';
import { parseServiceConfig, type ServiceConfig } from '@tvs/core/config/service-config';
import type { FunctionUrlEvent } from '@tvs/core/entry/events';
import { createRotationHandler, createRotationRuntime } from '@tvs/core/entry/rotation-runtime';
import { createHandler, type HandlerRuntime, type RequestMetrics } from '@tvs/core/entry/vend-handler';
import { createRuntime } from '@tvs/core/entry/vend-runtime';
import { ROTATION_STEPS, type StepRecord } from '@tvs/core/flow/rotation';
import type { VendingSettings } from '@tvs/core/policy/settings';
import { circuitKey } from '@tvs/core/protocol/upstream-circuit';
import {
  KmsDataKeyProvider,
  resetTokenEncryptionContext,
  tokenEncryptionContext,
} from '@tvs/core/stores/token-crypto';
import { SecretsManagerSource } from '@tvs/core/upstream/credentials';
import { IdentityCloudClient, type IdentityCloudClientOptions } from '@tvs/core/upstream/identity-cloud';
import { SecretsManagerVersions } from '@tvs/core/upstream/secret-versions';
import { ensureTokenTable } from '@tvs/local/aws-resources';
import { toApiGatewayEvent, toFunctionUrlEvent } from '@tvs/local/lambda-events';
import {
  type IdentityCloudSimulator,
  type SimulatedClient,
  startIdentityCloudSimulator,
} from '@tvs/simulator/identity-cloud';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { expect, inject } from 'vitest';
import { UNBOUNDED_MINTS } from './mint-bounds';
import { startRotation } from './secret-rotation';
import { recordTraffic } from './traffic-log';

/** Point every AWS SDK client made from here on at the run's moto server, and return its URL. */
export function useMoto(): string {
  const endpoint = inject('motoEndpoint');
  process.env.AWS_ENDPOINT_URL = endpoint;
  return endpoint;
}

/** Everything written to stdout and stderr while capturing: where Powertools Logger writes. */
export class OutputCapture {
  readonly chunks: string[] = [];
  private restore: (() => void) | undefined;

  start(): this {
    const out = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    const record =
      (original: typeof out) =>
      (chunk: unknown, ...rest: unknown[]): boolean => {
        this.chunks.push(
          typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'),
        );
        if (process.env.TVS_TEST_ECHO_LOGS) return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
        return true;
      };
    process.stdout.write = record(out) as typeof process.stdout.write;
    process.stderr.write = record(err) as typeof process.stderr.write;
    this.restore = () => {
      process.stdout.write = out;
      process.stderr.write = err;
    };
    return this;
  }

  stop(): void {
    this.restore?.();
    this.restore = undefined;
  }

  get text(): string {
    return this.chunks.join('');
  }

  /** Every captured line that is a JSON object (Powertools' structured lines). */
  get lines(): Record<string, unknown>[] {
    return this.text
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

/** Counts what the handler reports, so tests can assert on metrics without parsing EMF. */
export class CountingMetrics implements RequestMetrics {
  readonly counts = new Map<string, number>();
  count(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }
  /** Counted as `<name> <dimension>=<value>`, apart from the plain count. */
  countBy(name: string, dimension: string, value: string): void {
    this.count(`${name} ${dimension}=${value}`);
  }
  flush(): void {}
  get(name: string): number {
    return this.counts.get(name) ?? 0;
  }
}

export const ORDERS_ROLE = 'arn:aws:iam::111111111111:role/orders-service';
export const ORDERS_CALLER = 'arn:aws:sts::111111111111:assumed-role/orders-service/i-0abc';
export const ROTATION_CALLER = 'arn:aws:sts::111111111111:assumed-role/credential-rotation/job-7';
/** The rotation function's role (its grants come from the configuration's rotations). */
export const ROTATION_ROLE = 'arn:aws:iam::111111111111:role/tvs-rotation';
export const STRANGER_CALLER = 'arn:aws:sts::222222222222:assumed-role/somebody/else';

export interface HarnessOptions {
  /** Simulated Identity Cloud clients; default two: webhooks and config. */
  readonly simulatedClients?: SimulatedClient[];
  /** Overrides of the service configuration (before validation). */
  readonly configure?: (
    config: { clients: Record<string, unknown>; grants: unknown[] },
    sim: IdentityCloudSimulator,
  ) => void;
  readonly settings?: Partial<VendingSettings>;
  readonly tokenEndpoint?: Partial<IdentityCloudClientOptions['policy']>;
}

export const WEBHOOKS_CLIENT: SimulatedClient = {
  clientId: 'sgnyvus6pc4jm7khr2neq5gs89gbr2eq',
  clientSecret: 'wt4c3un9wkkcfvyknqx44ync476afs68',
  allowedScopes: ['*:webhooks/**'],
  accessTokenLifetime: 3600,
};
export const CONFIG_CLIENT: SimulatedClient = {
  clientId: '7ba51661-1a7e-4c56-9d1f-2c1a6f0e9e11',
  clientSecret: 'c0nf+ig:se%cret with space',
  allowedScopes: ['*:config/**'],
  accessTokenLifetime: 1200,
};

/**
 * One isolated world for an integration test file: its own table, KMS key and secrets in the shared moto
 * server, its own Identity Cloud simulator, and handlers built on real SDK clients.
 */
export class Harness {
  readonly capture = new OutputCapture();
  /**
   * For the leak scan: every error body the handlers sent, every token they handed out (oidc-provider's
   * too), and every client secret in play.
   */
  readonly errorBodies: string[] = [];
  readonly vendedTokens = new Set<string>();
  readonly secrets = new Set<string>();
  private readonly closers: (() => Promise<void> | void)[] = [];

  private constructor(
    readonly sim: IdentityCloudSimulator,
    readonly config: ServiceConfig,
    readonly tableName: string,
    readonly keyId: string,
    readonly dynamodb: DynamoDBClient,
    readonly secretsManager: SecretsManagerClient,
    readonly secretIds: Record<string, string>,
    readonly settings: Partial<VendingSettings> | undefined,
    readonly tokenEndpoint: Partial<IdentityCloudClientOptions['policy']> | undefined,
  ) {}

  static async start(options: HarnessOptions = {}): Promise<Harness> {
    useMoto();
    const run = randomUUID().slice(0, 8);
    const simulatedClients = options.simulatedClients ?? [WEBHOOKS_CLIENT, CONFIG_CLIENT];
    const sim = await startIdentityCloudSimulator({
      clients: simulatedClients.map((client) => ({ ...client })),
    });
    const dynamodb = new DynamoDBClient({});
    const secretsManager = new SecretsManagerClient({});
    const kms = new KMSClient({});
    const tableName = `tvs-test-${run}`;
    await ensureTokenTable(dynamodb, tableName);
    const key = await kms.send(new CreateKeyCommand({ Description: `tvs test ${run}` }));
    const keyId = key.KeyMetadata?.KeyId;
    if (!keyId) throw new Error('moto did not create a KMS key');

    const names = ['webhooks-us', 'config-us'];
    const secretIds: Record<string, string> = {};
    for (const [index, client] of simulatedClients.entries()) {
      const name = names[index] ?? `client-${index}`;
      const secretId = `tvs/${run}/${name}`;
      secretIds[name] = secretId;
      await secretsManager.send(
        new CreateSecretCommand({
          Name: secretId,
          SecretString: JSON.stringify({ client_id: client.clientId, client_secret: client.clientSecret }),
        }),
      );
    }
    const document = {
      clients: {
        'webhooks-us': {
          tokenEndpoint: sim.tokenEndpoint,
          secretId: secretIds['webhooks-us'],
          allowedScopes: ['*:webhooks/**'],
        },
        ...(secretIds['config-us']
          ? {
              'config-us': {
                tokenEndpoint: sim.tokenEndpoint,
                secretId: secretIds['config-us'],
                allowedScopes: ['*:config/**'],
              },
            }
          : {}),
      } as Record<string, unknown>,
      grants: [
        { principal: ORDERS_ROLE, client: 'webhooks-us', scopes: ['.:webhooks/**'] },
        {
          principal: 'arn:aws:iam::111111111111:role/credential-*',
          client: 'webhooks-us',
          scopes: ['*:webhooks/**'],
        },
        ...(secretIds['config-us']
          ? [
              {
                principal: 'arn:aws:iam::111111111111:role/credential-*',
                client: 'config-us',
                scopes: ['*:config/**'],
              },
            ]
          : []),
      ] as unknown[],
    };
    options.configure?.(document, sim);
    const harness = new Harness(
      sim,
      parseServiceConfig(document),
      tableName,
      keyId,
      dynamodb,
      secretsManager,
      secretIds,
      options.settings,
      options.tokenEndpoint,
    );
    for (const client of simulatedClients) harness.secrets.add(client.clientSecret);
    // Secrets set on the simulator by tests (rotations, wrong secrets) join the leak scan too.
    const setClientSecret = sim.setClientSecret.bind(sim);
    sim.setClientSecret = (clientId, secret) => {
      harness.secrets.add(secret);
      setClientSecret(clientId, secret);
    };
    harness.closers.push(() => sim.close());
    harness.capture.start();
    return harness;
  }

  /** A handler runtime as one Lambda container would have it (its own memory cache and clients). */
  container(
    options: {
      now?: () => number;
      metrics?: RequestMetrics;
      settings?: Partial<VendingSettings>;
      /** A DynamoDB client of its own (a failing one, for fault tests). */
      dynamodb?: DynamoDBClient;
      /** Another KMS key id (one that does not exist, for fault tests). */
      keyId?: string;
      /** A KMS client of its own (a slow or failing one, for fault tests). */
      kms?: KMSClient;
      /** A Secrets Manager client of its own (a slow or failing one, for fault tests). */
      secretsManager?: SecretsManagerClient;
    } = {},
  ): HandlerRuntime & { handle: (event: unknown) => Promise<APIGatewayProxyResult> } {
    const identityCloud = this.identityCloudClient();
    const settings = { ...UNBOUNDED_MINTS, ...this.settings, ...options.settings };
    const runtime = createRuntime({
      config: this.config,
      tableName: this.tableName,
      dataKeys: new KmsDataKeyProvider(
        options.keyId ?? this.keyId,
        tokenEncryptionContext(this.tableName),
        options.kms,
      ),
      identityCloud,
      ...(options.dynamodb ? { dynamodb: options.dynamodb } : {}),
      ...(options.secretsManager ? { secrets: new SecretsManagerSource(options.secretsManager) } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
      settings,
      secretCacheMs: 60_000,
    });
    const handler = createHandler(runtime);
    return {
      ...runtime,
      handle: (event) => handler(event as APIGatewayProxyEvent) as Promise<APIGatewayProxyResult>,
    };
  }

  /** An Identity Cloud client with short retries, closed with the harness. */
  private identityCloudClient(
    policy: Partial<IdentityCloudClientOptions['policy']> = {},
  ): IdentityCloudClient {
    const identityCloud = new IdentityCloudClient({
      policy: {
        maxAttempts: 2,
        baseBackoffMs: 10,
        maxBackoffMs: 50,
        deadlineMs: 3_000,
        ...this.tokenEndpoint,
        ...policy,
      },
    });
    this.closers.push(() => identityCloud.close());
    return identityCloud;
  }

  /**
   * A rotation function as one Lambda container of it would have it: its own vending core over the same
   * table and token key, asking for reset tokens as `ROTATION_ROLE`, and the secrets' versions in moto.
   */
  rotationHandler(
    options: {
      secretsManager?: SecretsManagerClient;
      storeRetryPausesMs?: readonly number[];
      /** Its own Identity Cloud client policy (a short deadline, for slow-answer tests). */
      tokenEndpoint?: Partial<IdentityCloudClientOptions['policy']>;
    } = {},
  ): (event: unknown) => Promise<StepRecord> {
    const identityCloud = this.identityCloudClient(options.tokenEndpoint);
    return createRotationHandler(
      createRotationRuntime({
        config: parseServiceConfig(this.config.document, { rotationPrincipal: ROTATION_ROLE }),
        tableName: this.tableName,
        dataKeys: new KmsDataKeyProvider(this.keyId, resetTokenEncryptionContext(this.tableName)),
        identityCloud,
        rotationPrincipal: ROTATION_ROLE,
        testRetryPauseMs: 50,
        versions: new SecretsManagerVersions(options.secretsManager ?? this.secretsManager),
        settings: { ...UNBOUNDED_MINTS, ...this.settings },
        secretCacheMs: 60_000,
        ...(options.storeRetryPausesMs ? { storeRetryPausesMs: options.storeRetryPausesMs } : {}),
      }),
    );
  }

  /**
   * Rotate a client's secret as Secrets Manager does ({@link startRotation}), and the rotation function
   * runs the four steps with the secret's ARN. Stops at
   * the first failing step and answers it, or undefined when all four completed.
   */
  async rotate(client: string, handler = this.rotationHandler()): Promise<StepsRun> {
    const { token, arn } = await startRotation(this.secretsManager, this.secretIds[client] as string);
    return runSteps(handler, arn, token);
  }

  /**
   * Secrets Manager's next attempt of a rotation that failed (or a `tvs rotate` resuming it): the four
   * steps again with the rotation's own `token`.
   */
  async resume(client: string, token: string, handler = this.rotationHandler()): Promise<StepsRun> {
    return runSteps(handler, this.secretIds[client] as string, token);
  }

  /** The value of a client's secret at `stage` (or version `versionId`), parsed; undefined when none. */
  async secretValue(
    client: string,
    select: { stage: 'AWSCURRENT' | 'AWSPENDING'; versionId?: string },
  ): Promise<{ client_id: string; client_secret: string } | undefined> {
    const value = await new SecretsManagerVersions(this.secretsManager).value(
      this.secretIds[client] as string,
      select,
    );
    return value === undefined ? undefined : JSON.parse(value);
  }

  /**
   * Identity Cloud healthy, as at the start of a test: no persistent fault, its counters at zero, and no
   * client's upstream circuit left open by an earlier test (it would refuse mints until a probe).
   */
  async upstreamHealthy(): Promise<void> {
    this.sim.setPersistentFault(undefined);
    this.sim.resetCounters();
    for (const client of Object.keys(this.config.document.clients)) await this.deleteItem(circuitKey(client));
  }

  /** The raw item for a cache key, as a reader of the table alone sees it. */
  async rawItem(cacheKey: string) {
    const answer = await this.dynamodb.send(
      new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: cacheKey } }, ConsistentRead: true }),
    );
    return answer.Item;
  }

  async deleteItem(cacheKey: string): Promise<void> {
    await this.dynamodb.send(
      new DeleteItemCommand({ TableName: this.tableName, Key: { pk: { S: cacheKey } } }),
    );
  }

  /** Rotate a client's secret in Secrets Manager (a new AWSCURRENT version). */
  async putSecret(client: string, clientId: string, clientSecret: string): Promise<void> {
    this.secrets.add(clientSecret);
    await this.secretsManager.send(
      new PutSecretValueCommand({
        SecretId: this.secretIds[client],
        SecretString: JSON.stringify({ client_id: clientId, client_secret: clientSecret }),
      }),
    );
  }

  async close(): Promise<void> {
    this.capture.stop();
    for (const close of this.closers.reverse()) await close();
    recordTraffic({
      source: expect.getState().testPath ?? 'a harness',
      logs: this.capture.text,
      bodies: this.errorBodies,
      tokens: [...new Set([...this.sim.issuedTokens, ...this.vendedTokens])],
      secrets: [...new Set([...this.secrets, ...this.sim.issuedSecrets])],
    });
  }
}

/** How the four steps of one rotation attempt went: each step's outcome, up to the first that failed. */
export interface StepsRun {
  readonly token: string;
  /** `<step>:<outcome>` of each step that completed, in order. */
  readonly outcomes: readonly string[];
  readonly failed?: { step: string; error: unknown };
}

async function runSteps(
  handler: (event: unknown) => Promise<StepRecord>,
  secretId: string,
  token: string,
): Promise<StepsRun> {
  const outcomes: string[] = [];
  for (const step of ROTATION_STEPS) {
    try {
      const record = await handler({ SecretId: secretId, ClientRequestToken: token, Step: step });
      outcomes.push(`${record.step}:${record.outcome}`);
    } catch (error) {
      return { token, outcomes, failed: { step, error } };
    }
  }
  return { token, outcomes };
}

/** What {@link apiEvent} builds a request from. */
export interface ApiEventOptions {
  method?: string;
  path?: string;
  body?: unknown;
  rawBody?: string | null;
  headers?: Record<string, string>;
  caller?: string;
  isBase64Encoded?: boolean;
  /** Which front door's event: the REST API's proxy event or a function URL's. @default 'rest-api' */
  shape?: EndpointKind;
}

/**
 * The event one HTTP request reaches the Lambda as, built by the local server's own mappings: the REST
 * API's proxy event, or a function URL's (payload 2.0). `rawBody` and `isBase64Encoded` may set a body no
 * HTTP request would carry.
 */
export function apiEvent(options: ApiEventOptions): APIGatewayProxyEvent | FunctionUrlEvent {
  const body =
    options.rawBody !== undefined
      ? options.rawBody
      : options.body === undefined
        ? null
        : JSON.stringify(options.body);
  const received = {
    method: options.method ?? 'POST',
    path: options.path ?? '/v1/token',
    query: '',
    rawHeaders: Object.entries(options.headers ?? { 'Content-Type': 'application/json' }).flat(),
    body: Buffer.from(body ?? ''),
    callerArn: options.caller ?? ORDERS_CALLER,
    accessKeyId: 'AKIDTESTHARNESS00001',
    sourceIp: '127.0.0.1',
    requestId: randomUUID(),
    nowMs: Date.now(),
  };
  const isBase64Encoded = options.isBase64Encoded ?? false;
  if (options.shape === 'function-url') {
    const { body: _built, ...event } = toFunctionUrlEvent(received);
    return { ...event, ...(body === null ? {} : { body }), isBase64Encoded };
  }
  return { ...toApiGatewayEvent(received), body, isBase64Encoded };
}

/** A `POST /v1/token` event with a JSON body. */
export function tokenEvent(
  body: Record<string, unknown>,
  caller = ORDERS_CALLER,
  shape: EndpointKind = 'rest-api',
): APIGatewayProxyEvent | FunctionUrlEvent {
  return apiEvent({ body, caller, shape });
}

/** {@link apiEvent} and {@link tokenEvent} for one front door, to run a table of requests through each. */
export function eventsOf(shape: EndpointKind) {
  return {
    apiEvent: (options: Omit<ApiEventOptions, 'shape'>) => apiEvent({ ...options, shape }),
    tokenEvent: (body: Record<string, unknown>, caller = ORDERS_CALLER) => tokenEvent(body, caller, shape),
  };
}

/** Parse a handler answer's JSON body. */
export function bodyOf(response: APIGatewayProxyResult): Record<string, unknown> {
  return JSON.parse(response.body) as Record<string, unknown>;
}
