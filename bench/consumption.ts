/**
 * What one token request consumes at steady state, from counted calls (`npm run bench` prints it):
 * DynamoDB reads and writes, KMS and Secrets Manager calls, upstream token requests, the function's
 * billed duration and the bytes it logs, per 1,000 requests.
 *
 * The traffic is a realistic mix driven through the real handler on a virtual clock, so hours of traffic
 * take seconds: {@link CONSUMPTION_MIX} callers asking for 50 cache keys (5 clients × 10 scopes) spread
 * over 4 containers — 4 runtimes in this process, each with its own memory cache and its own SDK clients,
 * sharing one table in moto — at a fixed rate. Every SDK client carries a middleware that counts the
 * commands it sends (per attempt, as AWS bills them); the Identity Cloud simulator counts the token
 * requests; each handler call is timed; the Powertools log and metric lines are captured and measured.
 *
 * The window counted starts after a warm-up in which every key is minted (its first mints are not steady
 * state), and lasts a whole number of token lifetimes, so each key's refreshes, each container's hourly
 * data key and each re-read of a cached secret fall in it as often as they do in any such stretch.
 */
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseServiceConfig } from '@tvs/core/config/service-config';
import { createHandler } from '@tvs/core/entry/vend-handler';
import { createRuntime, powertoolsMetrics } from '@tvs/core/entry/vend-runtime';
import { SERVICE_NAME } from '@tvs/core/policy/service-name';
import { KmsDataKeyProvider, tokenEncryptionContext } from '@tvs/core/stores/token-crypto';
import { SecretsManagerSource } from '@tvs/core/upstream/credentials';
import { IdentityCloudClient } from '@tvs/core/upstream/identity-cloud';
import { ensureTokenTable } from '@tvs/local/aws-resources';
import { toApiGatewayEvent } from '@tvs/local/lambda-events';
import { startIdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { seededRandom } from '../test/support/seeded-random';

/** The traffic every scenario runs. */
export const CONSUMPTION_MIX = {
  /** Distinct caller principals (assumed roles), each asking for any key. */
  callers: 200,
  /** Configuration clients of Identity Cloud; each has {@link CONSUMPTION_MIX.scopesPerClient} scopes asked for. */
  clients: 5,
  scopesPerClient: 10,
  /** Lambda containers: runtimes with their own memory cache and SDK clients, one shared table. */
  containers: 4,
  /** Requests per second across all containers, each to a random caller, key and container. */
  requestsPerSecond: 50,
  /** The function's memory (the construct's default), for GB-seconds. */
  memoryMb: 512,
  /** Identity Cloud's answer time (the simulator waits this long). */
  upstreamLatencyMs: 100,
} as const;

/** What one scenario counted, in its window. */
export interface Consumption {
  readonly tokenLifetimeSeconds: number;
  readonly windowSeconds: number;
  readonly requests: number;
  readonly failures: number;
  /**
   * Calls by service and command, e.g. `DynamoDB.GetItem`; DynamoDB calls on a client's mint budget
   * record (`<client>#mints`) apart, as `DynamoDB.UpdateItem budget`, since its size is its own.
   */
  readonly calls: Readonly<Record<string, number>>;
  readonly upstreamCalls: number;
  /** Handler time of each request, ms. */
  readonly handlerMs: readonly number[];
  /** Bytes the function wrote to its log (its JSON line and the EMF metrics line), all requests. */
  readonly logBytes: number;
  /** Largest token item and largest budget record in the table at the end, bytes by DynamoDB's rule. */
  readonly largestItemBytes: { readonly token: number; readonly budget: number };
}

/** The key suffix of a client's mint budget record (`mint-budget.ts`). */
const BUDGET_SUFFIX = '#mints';

/** Counts the commands an SDK client sends, per attempt, under `<service>.<command>`. */
function countCommands(
  client: DynamoDBClient | KMSClient | SecretsManagerClient,
  service: string,
  calls: Map<string, number>,
): void {
  type Next = (args: unknown) => Promise<unknown>;
  // The three clients' stacks differ only in their command types, which counting does not look at.
  const stack = client.middlewareStack as unknown as {
    add(
      middleware: (next: Next, context: { commandName?: string }) => Next,
      options: { step: 'deserialize'; name: string },
    ): void;
  };
  stack.add(
    (next, context) => async (args) => {
      const key = (args as { input?: { Key?: { pk?: { S?: string } } } }).input?.Key?.pk?.S;
      const command = String(context.commandName ?? 'unknown').replace(/Command$/, '');
      const name = `${service}.${command}${key?.endsWith(BUDGET_SUFFIX) ? ' budget' : ''}`;
      calls.set(name, (calls.get(name) ?? 0) + 1);
      return next(args);
    },
    // Below the retry middleware: each attempt is a request AWS bills.
    { step: 'deserialize', name: 'benchCountCommands' },
  );
}

/** DynamoDB's item size: attribute names plus values (numbers roughly one byte per two digits, plus one). */
function itemBytes(item: Record<string, Record<string, unknown>>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) {
    bytes += Buffer.byteLength(name);
    if (typeof value.S === 'string') bytes += Buffer.byteLength(value.S);
    else if (typeof value.N === 'string') bytes += Math.ceil(value.N.replace(/[-.]/g, '').length / 2) + 1;
    else if (value.B instanceof Uint8Array) bytes += value.B.length;
    else if (Array.isArray(value.L)) bytes += 3 + Buffer.byteLength(JSON.stringify(value.L));
    else bytes += Buffer.byteLength(JSON.stringify(value));
  }
  return bytes;
}

/** The requests counted in the window: how many, how many failed, and each one's time in the handler. */
interface CountedRequests {
  requests: number;
  failures: number;
  readonly handlerMs: number[];
}

/**
 * Each container answers its queue one request at a time, as a Lambda container does; they run side by
 * side. The answers are counted in `counted` when it is given.
 */
async function answerQueues(
  handlers: readonly ((event: APIGatewayProxyEvent) => Promise<unknown>)[],
  queues: readonly APIGatewayProxyEvent[][],
  counted: CountedRequests | undefined,
): Promise<void> {
  await Promise.all(
    handlers.map(async (handler, index) => {
      for (const event of queues[index] ?? []) {
        const started = process.hrtime.bigint();
        const answer = (await handler(event)) as { statusCode: number };
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        if (counted) {
          counted.requests += 1;
          counted.handlerMs.push(ms);
          if (answer.statusCode !== 200) counted.failures += 1;
        }
      }
    }),
  );
}

/** The calls of each kind made since `atStart` was taken, leaving out the kinds not called since. */
function callsSince(
  calls: ReadonlyMap<string, number>,
  atStart: ReadonlyMap<string, number>,
): Record<string, number> {
  const since: Record<string, number> = {};
  for (const [name, count] of calls) {
    const inWindow = count - (atStart.get(name) ?? 0);
    if (inWindow > 0) since[name] = inWindow;
  }
  return since;
}

/** The largest token item and the largest budget item of the table, in DynamoDB's bytes. */
async function largestItemsOf(
  dynamodb: DynamoDBClient,
  tableName: string,
): Promise<{ token: number; budget: number }> {
  const items = await dynamodb.send(new ScanCommand({ TableName: tableName }));
  const largest = { token: 0, budget: 0 };
  for (const item of items.Items ?? []) {
    const kind = item.pk?.S?.endsWith(BUDGET_SUFFIX) ? 'budget' : 'token';
    const bytes = itemBytes(item as unknown as Record<string, Record<string, unknown>>);
    largest[kind] = Math.max(largest[kind], bytes);
  }
  return largest;
}

/** Captures what is written to stdout and stderr (the Powertools lines) while on, counting its bytes. */
class OutputTap {
  bytes = 0;
  counting = false;
  private readonly restore: () => void;

  constructor() {
    const out = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    const tap =
      (original: typeof out) =>
      (chunk: unknown, ...rest: unknown[]): boolean => {
        if (this.counting) {
          this.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as Uint8Array).length;
          return true;
        }
        return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
      };
    process.stdout.write = tap(out) as typeof process.stdout.write;
    process.stderr.write = tap(err) as typeof process.stderr.write;
    this.restore = () => {
      process.stdout.write = out;
      process.stderr.write = err;
    };
  }

  close(): void {
    this.restore();
  }
}

/** How long to run a scenario, in seconds of virtual time. */
export interface ConsumptionWindow {
  /** Traffic before counting starts: long enough for every key to be minted. */
  readonly warmupSeconds: number;
  /** Whole token lifetimes counted. */
  readonly lifetimes: number;
}

/**
 * Run the mix at `tokenLifetimeSeconds` against the moto server `AWS_ENDPOINT_URL` points at, and count
 * the window after the warm-up. `progress` reports stages (on the real stderr).
 */
export async function measureConsumption(
  tokenLifetimeSeconds: number,
  window: ConsumptionWindow,
  progress: (line: string) => void,
): Promise<Consumption> {
  const mix = CONSUMPTION_MIX;
  const run = randomUUID().slice(0, 8);
  const clients = Array.from({ length: mix.clients }, (_, index) => ({
    name: `client-${index}`,
    clientId: `bench-${run}-${index}`,
    clientSecret: `bench secret ${index}+${run}`,
  }));
  const sim = await startIdentityCloudSimulator({
    clients: clients.map(({ clientId, clientSecret }) => ({
      clientId,
      clientSecret,
      allowedScopes: ['*:webhooks/**'],
      accessTokenLifetime: tokenLifetimeSeconds,
    })),
    latencyMs: mix.upstreamLatencyMs,
  });
  const setup = {
    dynamodb: new DynamoDBClient({}),
    kms: new KMSClient({}),
    secrets: new SecretsManagerClient({}),
  };
  const identityClouds: IdentityCloudClient[] = [];
  const tap = new OutputTap();
  try {
    const tableName = `tvs-bench-cost-${run}`;
    await ensureTokenTable(setup.dynamodb, tableName);
    const keyId = (await setup.kms.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId as string;
    for (const client of clients) {
      await setup.secrets.send(
        new CreateSecretCommand({
          Name: `tvs/${run}/${client.name}`,
          SecretString: JSON.stringify({ client_id: client.clientId, client_secret: client.clientSecret }),
        }),
      );
    }
    const config = parseServiceConfig({
      clients: Object.fromEntries(
        clients.map((client) => [
          client.name,
          {
            tokenEndpoint: sim.tokenEndpoint,
            secretId: `tvs/${run}/${client.name}`,
            allowedScopes: ['*:webhooks/**'],
          },
        ]),
      ),
      // A grant per service and client, as a deployment grants its callers: a wildcard grant would make
      // all 200 callers one spender, whose share of each client's budget keeps only about 7 keys of 60 s
      // tokens alive (docs/decisions.md, "Who pays for keeping a key alive").
      grants: clients.flatMap((client) =>
        Array.from({ length: mix.callers }, (_, caller) => ({
          principal: `arn:aws:iam::111111111111:role/service-${caller}`,
          client: client.name,
          scopes: ['*:webhooks/**'],
        })),
      ),
    });

    // Four containers on one virtual clock, each with its own counted SDK clients.
    let clock = Date.now();
    const now = () => clock;
    const calls = new Map<string, number>();
    const handlers = Array.from({ length: mix.containers }, () => {
      const dynamodb = new DynamoDBClient({ maxAttempts: 2 });
      const kms = new KMSClient({});
      const secretsManager = new SecretsManagerClient({});
      countCommands(dynamodb, 'DynamoDB', calls);
      countCommands(kms, 'KMS', calls);
      countCommands(secretsManager, 'SecretsManager', calls);
      // On the virtual clock too, so its deadline is the request's however far behind real time it runs.
      const identityCloud = new IdentityCloudClient({ now });
      identityClouds.push(identityCloud);
      // As deployed: Powertools Logger at INFO and Powertools Metrics (EMF), their lines captured.
      const metricsWereDisabled = process.env.POWERTOOLS_METRICS_DISABLED;
      delete process.env.POWERTOOLS_METRICS_DISABLED;
      const metrics = powertoolsMetrics(
        new Metrics({ serviceName: SERVICE_NAME, namespace: 'TokenVendingService' }),
      );
      if (metricsWereDisabled !== undefined) process.env.POWERTOOLS_METRICS_DISABLED = metricsWereDisabled;
      return createHandler(
        createRuntime({
          config,
          tableName,
          dataKeys: new KmsDataKeyProvider(keyId, tokenEncryptionContext(tableName), kms),
          dynamodb,
          secrets: new SecretsManagerSource(secretsManager),
          identityCloud,
          log: new Logger({ serviceName: SERVICE_NAME, logLevel: 'INFO' }),
          metrics,
          now,
        }),
      );
    });

    // The requests: caller × key events, built once by the local server's REST mapping.
    const keys = clients.flatMap((client) =>
      Array.from({ length: mix.scopesPerClient }, (_, index) => ({
        client: client.name,
        scope: `.:webhooks/area-${index}/**`,
      })),
    );
    const events = new Map<number, APIGatewayProxyEvent>();
    const eventFor = (caller: number, key: number): APIGatewayProxyEvent => {
      const id = caller * keys.length + key;
      let event = events.get(id);
      if (!event) {
        event = toApiGatewayEvent({
          method: 'POST',
          path: '/v1/token',
          query: '',
          rawHeaders: [
            'Content-Type',
            'application/json',
            'Host',
            'abc123.execute-api.us-east-1.amazonaws.com',
          ],
          body: Buffer.from(JSON.stringify(keys[key])),
          callerArn: `arn:aws:sts::111111111111:assumed-role/service-${caller}/session`,
          accessKeyId: 'ASIABENCH00000000001',
          sourceIp: '10.0.0.1',
          requestId: randomUUID(),
          nowMs: clock,
        });
        events.set(id, event);
      }
      return event;
    };

    const draw = seededRandom(tokenLifetimeSeconds);
    const { warmupSeconds } = window;
    const windowSeconds = window.lifetimes * tokenLifetimeSeconds;
    const counted: CountedRequests = { requests: 0, failures: 0, handlerMs: [] };
    let upstreamAtStart = 0;
    let callsAtStart = new Map<string, number>();
    for (let second = 0; second < warmupSeconds + windowSeconds; second++) {
      if (second === warmupSeconds) {
        upstreamAtStart = sim.tokenRequests;
        callsAtStart = new Map(calls);
        tap.bytes = 0;
        progress(`  ${tokenLifetimeSeconds} s tokens: warm-up done, counting ${windowSeconds} s of traffic`);
      }
      const inWindow = second >= warmupSeconds;
      const queues: APIGatewayProxyEvent[][] = handlers.map(() => []);
      for (let i = 0; i < mix.requestsPerSecond; i++) {
        const event = eventFor(Math.floor(draw() * mix.callers), Math.floor(draw() * keys.length));
        queues[Math.floor(draw() * handlers.length)]?.push(event);
      }
      tap.counting = true;
      await answerQueues(handlers, queues, inWindow ? counted : undefined);
      tap.counting = false;
      clock += 1000;
    }
    const windowCalls = callsSince(calls, callsAtStart);
    const largestItemBytes = await largestItemsOf(setup.dynamodb, tableName);
    return {
      tokenLifetimeSeconds,
      windowSeconds,
      requests: counted.requests,
      failures: counted.failures,
      calls: windowCalls,
      upstreamCalls: sim.tokenRequests - upstreamAtStart,
      handlerMs: counted.handlerMs,
      logBytes: tap.bytes,
      largestItemBytes,
    };
  } finally {
    tap.close();
    for (const identityCloud of identityClouds) await identityCloud.close();
    await sim.close();
  }
}
