import { fingerprintOf, UpstreamUnavailableError } from '@tvs/client/contract';
import { parseServiceConfig } from '@tvs/core/config/service-config';
import { VendingService } from '@tvs/core/flow/vending-service';
import { DEFAULT_POLICY, policyWith } from '@tvs/core/policy/cache-policy';
import { timingFor } from '@tvs/core/policy/timing';
import { circuitKey, UpstreamCircuit } from '@tvs/core/protocol/upstream-circuit';
import type { CachedToken } from '@tvs/core/record/cache-record';
import { MemoryRecordStore } from '@tvs/core/stores/memory-store';
import type { MintRequest } from '@tvs/core/upstream/minter';
import { describe, expect, it } from 'vitest';

const timing = timingFor(10);
const policy = policyWith({});
const CLIENT = 'webhooks-us';
const outage = () => new UpstreamUnavailableError('simulated 503', 'http_5xx', 1);

/** Containers' circuits over one shared in-memory store, under a clock the test moves. */
function circuits(count: number) {
  let clock = 1_800_000_000_000;
  const store = new MemoryRecordStore({ now: () => clock });
  const containers = Array.from(
    { length: count },
    (_, i) => new UpstreamCircuit({ store, holder: `container-${i}`, timing, policy, now: () => clock }),
  );
  return {
    store,
    containers,
    now: () => clock,
    advance: (ms: number) => {
      clock += ms;
    },
    /** What each container's `admit` answers at once: `closed`, `probe` or `refused`. */
    admitAll: async () =>
      Promise.all(
        containers.map((circuit) =>
          circuit.admit(CLIENT, clock + timing.requestDeadlineMs).catch((error: unknown) => {
            expect(error).toMatchObject({ status: 503, reason: 'circuit_open' });
            return 'refused' as const;
          }),
        ),
      ),
  };
}

describe('the upstream circuit protocol', () => {
  it('admits every mint while closed, and writes nothing', async () => {
    const world = circuits(3);
    expect(await world.admitAll()).toEqual(['closed', 'closed', 'closed']);
    expect(world.store.size).toBe(0);
  });

  it('refuses every mint for one probe interval after a failure, with Retry-After, then lets exactly one probe through', async () => {
    const world = circuits(5);
    await world.containers[0]!.failed(CLIENT, 'closed', outage());

    const refusal = await world.containers[1]!.admit(CLIENT, world.now() + 8_000).catch((error) => error);
    expect(refusal).toBeInstanceOf(UpstreamUnavailableError);
    expect(refusal.retryAfterSeconds).toBe(2);
    world.advance(1_999);
    expect(await world.admitAll()).toEqual(Array(5).fill('refused'));

    world.advance(1);
    const admitted = await world.admitAll();
    expect(admitted.filter((a) => a === 'probe')).toHaveLength(1);
    expect(admitted.filter((a) => a === 'refused')).toHaveLength(4);
  });

  it('never starts a second probe while one runs, however long it takes, until its request can no longer run', async () => {
    const world = circuits(2);
    const [first, second] = world.containers as [UpstreamCircuit, UpstreamCircuit];
    await first.failed(CLIENT, 'closed', outage());
    world.advance(2_000);
    expect(await first.admit(CLIENT, world.now() + timing.requestDeadlineMs)).toBe('probe');

    // The probe hangs (or its container died): a second probe waits for the end of the first's slot.
    world.advance(timing.requestDeadlineMs + timing.leaseSlackMs - 1);
    const meanwhile = await second.admit(CLIENT, world.now() + 8_000).catch((error) => error);
    expect(meanwhile).toMatchObject({ reason: 'circuit_open', retryAfterSeconds: 2 });
    world.advance(1);
    expect(await second.admit(CLIENT, world.now() + 8_000)).toBe('probe');
  });

  it('after a failed probe lets the next one through a probe interval later; after a successful one, every mint', async () => {
    const world = circuits(3);
    const [first, second] = world.containers as [UpstreamCircuit, UpstreamCircuit];
    await first.failed(CLIENT, 'closed', outage());
    world.advance(2_000);
    expect(await second.admit(CLIENT, world.now() + 8_000)).toBe('probe');
    world.advance(300);
    await second.failed(CLIENT, 'probe', outage());

    world.advance(1_999);
    expect(await world.admitAll()).toEqual(Array(3).fill('refused'));
    world.advance(1);
    const admitted = await world.admitAll();
    const prober = admitted.indexOf('probe');
    expect(prober).toBeGreaterThanOrEqual(0);
    await world.containers[prober]!.succeeded(CLIENT);

    expect(await world.admitAll()).toEqual(['closed', 'closed', 'closed']);
    expect((await world.store.read(circuitKey(CLIENT))).circuit).toBeUndefined();
  });

  it('waits as long as Identity Cloud asked (a 429 with Retry-After) before the next probe', async () => {
    const world = circuits(1);
    await world.containers[0]!.failed(
      CLIENT,
      'closed',
      new UpstreamUnavailableError('slow down', 'http_429', 120),
    );
    world.advance(119_000);
    const refusal = await world.containers[0]!.admit(CLIENT, world.now() + 8_000).catch((error) => error);
    expect(refusal).toMatchObject({ reason: 'circuit_open', retryAfterSeconds: 1 });
    world.advance(1_000);
    expect(await world.containers[0]!.admit(CLIENT, world.now() + 8_000)).toBe('probe');
  });

  it('leaves an open circuit as it is when a mint admitted before it opened fails too', async () => {
    const world = circuits(2);
    const [first, second] = world.containers as [UpstreamCircuit, UpstreamCircuit];
    await first.failed(CLIENT, 'closed', outage());
    world.advance(2_000);
    expect(await first.admit(CLIENT, world.now() + 8_000)).toBe('probe');
    const probing = (await world.store.read(circuitKey(CLIENT))).circuit;

    await second.failed(CLIENT, 'closed', outage());

    expect((await world.store.read(circuitKey(CLIENT))).circuit).toEqual(probing);
  });
});

/** Containers of the whole flow over one shared store, a minter that counts, and Identity Cloud up or down. */
function service(containerCount: number) {
  let clock = 1_800_000_000_000;
  let up = true;
  let attempts = 0;
  const config = parseServiceConfig({
    clients: {
      [CLIENT]: {
        tokenEndpoint: 'https://v1.api.us.janrain.com/00000000-0000-0000-0000-000000000000/login/token',
        secretId: 'tvs/webhooks-us',
        allowedScopes: ['*:webhooks/**'],
      },
    },
    grants: [
      {
        principal: 'arn:aws:iam::111111111111:role/orders-service',
        client: CLIENT,
        scopes: ['*:webhooks/**'],
      },
    ],
  });
  const minter = {
    mint: async (request: MintRequest): Promise<CachedToken> => {
      attempts += 1;
      if (!up) throw outage();
      const issuedAt = Math.floor(clock / 1000);
      const accessToken = `token-${attempts}`;
      return {
        accessToken,
        scope: request.canonical,
        issuedAt,
        expiresAt: issuedAt + 60,
        fingerprint: fingerprintOf(accessToken),
      };
    },
  };
  const store = new MemoryRecordStore({ now: () => clock });
  const containers = Array.from(
    { length: containerCount },
    (_, i) =>
      new VendingService({
        config,
        store,
        minter,
        settings: { ...DEFAULT_POLICY, mintsPerMinute: 10 },
        now: () => clock,
        holderId: `container-${i}`,
        sleep: async () => {},
      }),
  );
  const caller = 'arn:aws:sts::111111111111:assumed-role/orders-service/i-1';
  return {
    containers,
    attempts: () => attempts,
    setUp: (value: boolean) => {
      up = value;
    },
    advance: (ms: number) => {
      clock += ms;
    },
    ask: async (container: VendingService, scope: string) => {
      try {
        await container.vend(caller, { client: CLIENT, scope, minTtl: 0 });
        return { status: 200 };
      } catch (error) {
        if (!(error instanceof UpstreamUnavailableError)) throw error;
        return { status: 503, reason: error.reason, retryAfter: error.retryAfterSeconds };
      }
    },
  };
}

type World = ReturnType<typeof service>;
type Answer = Awaited<ReturnType<World['ask']>>;

/** `steps` steps of 100 ms, each container asking for a key in turn; every answer must be a 503. */
async function askDuringOutage(world: World, scopes: readonly string[], steps: number): Promise<Answer[]> {
  const refusals: Answer[] = [];
  for (let step = 0; step < steps; step++) {
    for (const [index, container] of world.containers.entries()) {
      const answer = await world.ask(container, scopes[(step + index) % scopes.length]!);
      expect(answer.status).toBe(503);
      refusals.push(answer);
    }
    world.advance(100);
  }
  return refusals;
}

/**
 * Steps of 100 ms, each container asking for every key, until every container has been served every key
 * (or `maxSteps` have passed): which were served, and after how many steps.
 */
async function stepsUntilServed(
  world: World,
  scopes: readonly string[],
  maxSteps: number,
): Promise<{ served: Set<string>; steps: number }> {
  const served = new Set<string>();
  let steps = 0;
  while (served.size < world.containers.length * scopes.length && steps < maxSteps) {
    for (const [index, container] of world.containers.entries()) {
      for (const scope of scopes) {
        if ((await world.ask(container, scope)).status === 200) served.add(`${index} ${scope}`);
      }
    }
    world.advance(100);
    steps += 1;
  }
  return { served, steps };
}

describe('the flow during an upstream outage, three containers', () => {
  const scopes = [0, 1, 2, 3].map((i) => `*:webhooks/key-${i}/**`);

  it('sends one probe per interval, refuses every other mint with Retry-After, spends no budget, and serves everyone within one interval of the return', async () => {
    const world = service(3);
    for (const scope of scopes) expect((await world.ask(world.containers[0]!, scope)).status).toBe(200);
    world.advance(61_000); // every token has expired
    world.setUp(false);
    const before = world.attempts();

    // 40 s of outage, every container asking for every key every 100 ms.
    const refusals = await askDuringOutage(world, scopes, 400);
    const outageAttempts = world.attempts() - before;
    // The first failure, then one probe per 2 s.
    expect(outageAttempts).toBeGreaterThanOrEqual(20);
    expect(outageAttempts).toBeLessThanOrEqual(1 + 40 / 2);
    expect(refusals.filter((r) => r.reason === 'circuit_open').length).toBe(1_200 - outageAttempts);
    expect(Math.max(...refusals.map((r) => r.retryAfter ?? 0))).toBeLessThanOrEqual(2);

    // Identity Cloud is back: count the 100 ms steps until every container has every key.
    world.setUp(true);
    const { served, steps } = await stepsUntilServed(world, scopes, 100);
    expect(served.size).toBe(12);
    expect(steps).toBeLessThanOrEqual(21); // within one probe interval (2 s) and a step
    // Four keys minted after the return; no budget refusal (the outage's attempts were refunded).
    expect(world.attempts() - before - outageAttempts).toBe(scopes.length);
  });
});
