/**
 * The client behaviours of `behaviours.json`, run against the TypeScript client (the Python client runs
 * the same list: `python-client.test.ts`). Each scenario starts from real time with the upstream up, a
 * new client, and its own scope.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTokenClient, type TokenClient, type VendedToken } from '@tvs/client';
import { fingerprintOf, sleep } from '@tvs/client/contract';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type BehaviourHarness, startBehaviourHarness } from '../support/behaviour-harness';
import { ORDERS } from '../support/processes';

/** One step of a scenario (see `behaviours.json`). */
interface Step {
  readonly do: string;
  readonly scope?: string;
  readonly min_ttl?: number;
  readonly as?: string;
  readonly expect?: string | boolean | { readonly error: Record<string, unknown> };
  readonly concurrent?: number;
  readonly token?: string;
  readonly before_expiry?: number;
  readonly down?: boolean;
  readonly on?: boolean;
  readonly count?: number;
}

interface Scenario {
  readonly name: string;
  readonly steps: readonly Step[];
}

const { scenarios } = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'support', 'behaviours.json'), 'utf8'),
) as {
  scenarios: Scenario[];
};
/** The longest a step that must not wait on the service may take before it counts as waiting. */
const STEP_TIMEOUT_MS = 3_000;

let harness: BehaviourHarness;

async function control(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const answer = await fetch(`${harness.url}/_harness/${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return (await answer.json()) as Record<string, unknown>;
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    promise,
    sleep(STEP_TIMEOUT_MS).then(() => {
      throw new Error(`${what} did not end within ${STEP_TIMEOUT_MS} ms`);
    }),
  ]);
}

/** Runs one scenario's steps against one TypeScript client. */
class Runner {
  private tokens: TokenClient = this.newClient();
  private readonly saved = new Map<string, VendedToken>();

  constructor(private readonly scope: string) {}

  private newClient(): TokenClient {
    return createTokenClient({
      endpoint: harness.url,
      region: 'us-east-1',
      credentials: { accessKeyId: ORDERS.accessKeyId, secretAccessKey: ORDERS.secretAccessKey },
    });
  }

  private get(step: Step): Promise<VendedToken> {
    return this.tokens.getToken({
      client: 'behaviour-us',
      scope: step.scope ?? this.scope,
      ...(step.min_ttl === undefined ? {} : { minTtl: step.min_ttl }),
    });
  }

  private check(token: VendedToken, expectation: Step['expect']): boolean {
    if (typeof expectation !== 'string') return true;
    const [kind, name] = expectation.split(':');
    const other = this.saved.get(name ?? '');
    if (other === undefined) throw new Error(`no token saved as ${name}`);
    return kind === 'same'
      ? token.accessToken === other.accessToken
      : token.accessToken !== other.accessToken;
  }

  async run(step: Step): Promise<void> {
    switch (step.do) {
      case 'get':
        return typeof step.expect === 'object' ? this.getRefused(step, step.expect) : this.getTokens(step);
      case 'eventually':
        return this.eventually(step);
      case 'clock': {
        const token = this.saved.get(step.token ?? '') as VendedToken;
        await control('POST', 'clock', { at: token.expiresAt.getTime() - (step.before_expiry ?? 0) * 1000 });
        return;
      }
      case 'upstream':
        await control('POST', 'upstream', { down: step.down });
        return;
      case 'hold':
        await control('POST', 'hold', { on: step.on });
        return;
      case 'requests':
        return this.requestsArrived(step);
      case 'settle':
        await expect
          .poll(async () => (await control('GET', 'requests')).answered)
          .toBeGreaterThanOrEqual(step.count as number);
        await sleep(50);
        return;
      case 'new_client':
        this.tokens = this.newClient();
        return;
      case 'reject': {
        const token = this.saved.get(step.token ?? '')?.accessToken ?? 'not-a-token-this-client-handed-out';
        expect(this.tokens.reject(token)).toBe(step.expect);
        return;
      }
      case 'rejected':
        return this.lastRequestRejected(step);
      default:
        throw new Error(`unknown step ${step.do}`);
    }
  }

  /** A `get` that must fail with the error the step names. */
  private async getRefused(step: Step, expected: Extract<Step['expect'], object>): Promise<void> {
    const error = await within(this.get(step), 'getToken').catch((e: unknown) => e);
    const { retry_after: retryAfter, ...fields } = expected.error;
    expect(error).toMatchObject(fields);
    if (retryAfter) expect((error as { retryAfter?: number }).retryAfter).toBeGreaterThan(0);
  }

  /** A `get` (maybe several at once) that must return one token, as the step expects it. */
  private async getTokens(step: Step): Promise<void> {
    const tokens = await within(
      Promise.all(Array.from({ length: step.concurrent ?? 1 }, () => this.get(step))),
      'getToken',
    );
    for (const token of tokens) {
      expect(this.check(token, step.expect), `${step.expect}`).toBe(true);
      expect(token.accessToken).toBe(tokens[0]?.accessToken);
    }
    if (step.as) this.saved.set(step.as, tokens[0] as VendedToken);
  }

  private async eventually(step: Step): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      if (this.check(await within(this.get(step), 'getToken'), step.expect)) return;
      await sleep(100);
    }
    throw new Error(`no token ${step.expect} within 50 tries`);
  }

  private async requestsArrived(step: Step): Promise<void> {
    await expect.poll(async () => (await control('GET', 'requests')).arrived).toBe(step.count);
    // Nothing more arrives on its own shortly after.
    await sleep(200);
    expect((await control('GET', 'requests')).arrived).toBe(step.count);
  }

  private async lastRequestRejected(step: Step): Promise<void> {
    const bodies = (await control('GET', 'requests')).bodies as string[];
    const token = this.saved.get(step.token ?? '') as VendedToken;
    expect((JSON.parse(bodies.at(-1) ?? '{}') as { reject?: string }).reject).toBe(
      fingerprintOf(token.accessToken),
    );
  }

  close(): void {
    this.tokens.clear();
  }
}

beforeAll(async () => {
  harness = await startBehaviourHarness();
});

afterAll(async () => {
  await harness?.close();
});

beforeEach(async () => {
  await control('POST', 'reset');
});

describe('the TypeScript client', () => {
  scenarios.forEach((scenario, index) => {
    it(scenario.name, async () => {
      const runner = new Runner(`.:behaviour/ts-${index}/**`);
      try {
        for (const step of scenario.steps) await runner.run(step);
      } finally {
        runner.close();
      }
    });
  });
});
