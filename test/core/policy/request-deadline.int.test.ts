/**
 * One deadline for everything a request does: DynamoDB, KMS and Secrets Manager each slow (every answer
 * 4 s late), silent (connections accepted, nothing ever answered), refusing (nothing listens) and
 * throttling, in front of moto. Every answer comes within the request deadline plus a slack that only
 * separates "bounded" from "late or never" on a loaded machine, with the status the fault table promises.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ErrorCode } from '@tvs/client/contract';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DelayingProxy, startDelayingProxy } from '../../support/delaying-proxy';
import {
  bodyOf,
  CountingMetrics,
  Harness,
  ROTATION_CALLER,
  tokenEvent,
  useMoto,
} from '../../support/harness';
import { freePort } from '../../support/moto';

const DEADLINE_MS = 2_000;
/** Far below "4 s late" and "never": a bounded answer, whatever the load of the machine. */
const SLACK_MS = 1_500;
/** A request still unanswered by then is reported as unanswered (old code hung here). */
const GIVE_UP_MS = 12_000;

type Fault = 'slow' | 'silent' | 'refusing' | 'throttling';
const FAULTS: readonly Fault[] = ['slow', 'silent', 'refusing', 'throttling'];

let harness: Harness;
let slow: DelayingProxy;
let silent: DelayingProxy;
let refusing: string;

beforeAll(async () => {
  const moto = useMoto();
  harness = await Harness.start({ settings: { requestDeadlineMs: DEADLINE_MS } });
  slow = await startDelayingProxy(moto, { kind: 'slow', delayMs: 4_000 });
  silent = await startDelayingProxy(moto, { kind: 'silent' });
  refusing = `http://127.0.0.1:${await freePort()}`;
});

afterAll(async () => {
  await slow?.close();
  await silent?.close();
  await harness?.close();
});

beforeEach(async () => {
  await harness.upstreamHealthy();
});

interface SdkClient {
  middlewareStack: { add(middleware: unknown, options: { step: 'initialize'; name: string }): void };
}

/** An SDK client of `make` whose every call meets `fault`. Throttling cannot be produced by moto. */
function faulty<C extends SdkClient>(
  make: (config: { endpoint: string; maxAttempts: number }) => C,
  fault: Fault,
  throttle: () => Error,
): C {
  const endpoint = { slow: slow.endpoint, silent: silent.endpoint, refusing, throttling: useMoto() }[fault];
  const client = make({ endpoint, maxAttempts: 3 });
  if (fault === 'throttling') {
    client.middlewareStack.add(
      () => async () => {
        throw throttle();
      },
      { step: 'initialize', name: 'throttle-everything' },
    );
  }
  return client;
}

/** A throttling error as an AWS service answers it (HTTP 400, a throttling code). */
function throttlingException(): Error {
  return Object.assign(new Error('Rate exceeded'), {
    name: 'ThrottlingException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
  });
}

const table = (fault: Fault) =>
  faulty(
    (config) => new DynamoDBClient(config),
    fault,
    () => {
      return new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} });
    },
  );
const kms = (fault: Fault) => faulty((config) => new KMSClient(config), fault, throttlingException);
const secrets = (fault: Fault) =>
  faulty((config) => new SecretsManagerClient(config), fault, throttlingException);

function request(scope: string) {
  return tokenEvent({ client: 'webhooks-us', scope }, ROTATION_CALLER);
}

/** The answer and how long it took, or `unanswered` past {@link GIVE_UP_MS}. */
async function timed(answer: Promise<APIGatewayProxyResult>) {
  const started = Date.now();
  const outcome = await Promise.race([
    answer,
    new Promise<'unanswered'>((resolve) => setTimeout(() => resolve('unanswered'), GIVE_UP_MS).unref()),
  ]);
  return { outcome, ms: Date.now() - started };
}

function expectAnswer(
  answer: Awaited<ReturnType<typeof timed>>,
  status: number,
  code?: ErrorCode,
): asserts answer is { outcome: APIGatewayProxyResult; ms: number } {
  expect(answer.outcome).not.toBe('unanswered');
  const response = answer.outcome as APIGatewayProxyResult;
  expect(response.statusCode).toBe(status);
  if (status === 503) {
    expect(bodyOf(response)).toMatchObject({ error: 'temporarily_unavailable', code });
    expect(response.headers?.['Retry-After']).toMatch(/^\d+$/);
  }
  expect(answer.ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
}

const freshScope = () => `*:webhooks/${randomUUID()}/**`;

/**
 * A store (the table, or KMS opening what it holds) that answers late or never costs the request that
 * meets it its deadline (503, `TVS_ERR_DEADLINE`: no time was left to ask Identity Cloud); one that refuses
 * or throttles fails at once and the request degrades (200).
 */
const STORE_OUTCOMES = [
  ['slow', 503],
  ['silent', 503],
  ['refusing', 200],
  ['throttling', 200],
] as const;

/**
 * The first answer of `container` for `first` (its status `status`) and the next for `next` (200: the
 * table skipped, memory and one upstream fetch), both within the deadline, and a store failure counted.
 */
async function expectDegraded(
  container: ReturnType<Harness['container']>,
  metrics: CountingMetrics,
  scopes: { first: string; next: string },
  status: number,
): Promise<void> {
  const answer = await timed(container.handle(request(scopes.first)));
  const next = await timed(container.handle(request(scopes.next)));

  expectAnswer(answer, status, 'TVS_ERR_DEADLINE');
  expectAnswer(next, 200);
  expect(metrics.get('StoreFailure')).toBeGreaterThanOrEqual(1);
}

describe('DynamoDB', () => {
  it.each(STORE_OUTCOMES)(
    'when %s: the answer (%i) comes within the deadline, then the table is skipped and tokens are served from memory',
    async (fault, first) => {
      const metrics = new CountingMetrics();
      const container = harness.container({ dynamodb: table(fault), metrics });

      await expectDegraded(container, metrics, { first: freshScope(), next: freshScope() }, first);
    },
  );
});

describe('KMS', () => {
  it.each(FAULTS)(
    'when %s while sealing a new token: 200 with the token within the deadline, not stored',
    async (fault) => {
      const metrics = new CountingMetrics();
      const container = harness.container({ kms: kms(fault), metrics });

      const answer = await timed(container.handle(request(freshScope())));

      expectAnswer(answer, 200);
      expect(metrics.get('StoreFailure')).toBe(1);
    },
  );

  it.each(STORE_OUTCOMES)(
    'when %s while opening a cached token in a cold container: the answer (%i) comes within the deadline, and the next is served',
    async (fault, first) => {
      const scope = freshScope();
      expect((await harness.container().handle(request(scope))).statusCode).toBe(200);
      const metrics = new CountingMetrics();
      const cold = harness.container({ kms: kms(fault), metrics });

      await expectDegraded(cold, metrics, { first: scope, next: scope }, first);
    },
  );
});

describe('Secrets Manager', () => {
  it.each(FAULTS)(
    'when %s while a token must be minted: 503 with Retry-After within the deadline, never 500',
    async (fault) => {
      const container = harness.container({ secretsManager: secrets(fault) });

      const answer = await timed(container.handle(request(freshScope())));

      expectAnswer(answer, 503, 'TVS_ERR_DEPENDENCY_UNAVAILABLE');
      // Identity Cloud was not asked, and its circuit stays closed: the next healthy request mints.
      expect(harness.sim.tokenRequests).toBe(0);
      expect((await harness.container().handle(request(freshScope()))).statusCode).toBe(200);
    },
  );
});
