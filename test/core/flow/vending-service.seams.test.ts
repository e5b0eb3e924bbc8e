/**
 * The flow where its parts meet: the memory re-check, the store-failure degrade, the request deadline and
 * the upstream circuit, over in-memory stores and a clock the test moves. A table that answers late is
 * modelled as a read that takes the request's whole deadline and then fails, as the SDK's abort does.
 */

import { fingerprintOf, StoreUnavailableError, UpstreamUnavailableError } from '@tvs/client/contract';
import { parseServiceConfig } from '@tvs/core/config/service-config';
import { VendingService } from '@tvs/core/flow/vending-service';
import { DEFAULT_POLICY } from '@tvs/core/policy/cache-policy';
import { timingFor } from '@tvs/core/policy/timing';
import { budgetKey, MintBudget } from '@tvs/core/protocol/mint-budget';
import type { CachedToken, CacheRecord, RecordContent, RecordStore } from '@tvs/core/record/cache-record';
import { MemoryRecordStore } from '@tvs/core/stores/memory-store';
import type { MintRequest } from '@tvs/core/upstream/minter';
import { describe, expect, it } from 'vitest';

const CLIENT = 'webhooks-us';
const SCOPE = '*:webhooks/**';
const CALLER = 'arn:aws:sts::111111111111:assumed-role/orders-service/i-1';
const LIFETIME = 60;
const timing = timingFor(10);

function world() {
  let clock = 1_800_000_000_000;
  let table: 'healthy' | 'slow' | 'failing' = 'healthy';
  let outage: UpstreamUnavailableError | undefined;
  let mints = 0;
  const inner = new MemoryRecordStore({ now: () => clock });
  /** The table: healthy, or so slow that every call ends at the request's deadline, failed. */
  const store: RecordStore = {
    read: async (key: string) => {
      if (table === 'failing')
        throw new StoreUnavailableError('DynamoDB GetItem failed (ThrottlingException)');
      if (table === 'slow') {
        clock += timing.requestDeadlineMs;
        throw new StoreUnavailableError('DynamoDB GetItem failed (AbortError)');
      }
      return inner.read(key);
    },
    replace: async (current: CacheRecord, next: RecordContent) => {
      if (table === 'failing')
        throw new StoreUnavailableError('DynamoDB UpdateItem failed (ThrottlingException)');
      if (table === 'slow') {
        clock += timing.requestDeadlineMs;
        throw new StoreUnavailableError('DynamoDB UpdateItem failed (AbortError)');
      }
      return inner.replace(current, next);
    },
  };
  const config = parseServiceConfig({
    clients: {
      [CLIENT]: {
        tokenEndpoint: 'https://v1.api.us.janrain.com/00000000-0000-0000-0000-000000000000/login/token',
        secretId: 'tvs/webhooks-us',
        allowedScopes: [SCOPE],
      },
    },
    grants: [{ principal: 'arn:aws:iam::111111111111:role/orders-service', client: CLIENT, scopes: [SCOPE] }],
  });
  const minter = {
    mint: async (request: MintRequest): Promise<CachedToken> => {
      mints += 1;
      if (outage) throw outage;
      const issuedAt = Math.floor(clock / 1000);
      const accessToken = `token-${mints}`;
      return {
        accessToken,
        scope: request.canonical,
        issuedAt,
        expiresAt: issuedAt + LIFETIME,
        fingerprint: fingerprintOf(accessToken),
      };
    },
  };
  const service = new VendingService({
    config,
    store,
    minter,
    settings: { ...DEFAULT_POLICY },
    now: () => clock,
    sleep: async () => {},
  });
  return {
    service,
    mints: () => mints,
    advance: (ms: number) => {
      clock += ms;
    },
    setTable: (state: 'healthy' | 'slow' | 'failing') => {
      table = state;
    },
    /** Identity Cloud answers every mint with `error`, or (undefined) tokens again. */
    failUpstream: (error: UpstreamUnavailableError | undefined) => {
      outage = error;
    },
    ask: (scope = SCOPE) => service.vend(CALLER, { client: CLIENT, scope, minTtl: 0 }),
  };
}

describe('a container holding a still-valid token', () => {
  it('serves it when the table answers only at the deadline, inside the refresh margin', async () => {
    const w = world();
    const first = await w.ask();
    // Inside the refresh margin (15 s of a 60 s token), past the memory's 5 s confirmation.
    w.advance(46_000);
    w.setTable('slow');

    const answer = await w.ask();

    expect(answer.token.accessToken).toBe(first.token.accessToken);
  });
});

describe('the memory re-check', () => {
  it('serves the remembered token while the table fails, past its 5 s confirmation', async () => {
    const w = world();
    const first = await w.ask();
    w.advance(6_000);
    w.setTable('failing');

    const answers = [await w.ask(), await w.ask()];

    expect(answers.map((answer) => [answer.token.accessToken, answer.source])).toEqual([
      [first.token.accessToken, 'memory'],
      [first.token.accessToken, 'memory'],
    ]);
    expect(w.mints()).toBe(1);
  });

  it('confirms and serves a remembered token while the circuit is open, fresh or inside its margin', async () => {
    const w = world();
    const first = await w.ask();
    // Another key's mint meets Identity Cloud failing, asking for a minute's pause: the circuit opens.
    w.failUpstream(new UpstreamUnavailableError('simulated 429', 'http_429', 60));
    await expect(w.ask('*:webhooks/other/**')).rejects.toMatchObject({ status: 503 });
    const mints = w.mints();

    w.advance(6_000);
    const fresh = await w.ask();
    w.advance(40_000);
    const dueForRefresh = await w.ask();

    expect(fresh.token.accessToken).toBe(first.token.accessToken);
    expect(dueForRefresh.token.accessToken).toBe(first.token.accessToken);
    expect(w.mints()).toBe(mints);
  });
});

describe('refunding a mint', () => {
  it('takes back the mint it was given, an upkeep one beside a counted one of the same spender and millisecond', async () => {
    const at = 1_800_000_000_000;
    const store = new MemoryRecordStore({ now: () => at });
    const budget = new MintBudget(store, DEFAULT_POLICY, () => at);
    const counted = await budget.charge(CLIENT, { spender: 'role/a', upkeep: false });
    const upkeep = await budget.charge(CLIENT, { spender: 'role/a', upkeep: true });
    expect(upkeep).toEqual({ at, by: 'role/a', upkeep: true });

    await budget.refund(CLIENT, upkeep);

    expect((await store.read(budgetKey(CLIENT))).mints).toEqual([counted]);
  });
});
