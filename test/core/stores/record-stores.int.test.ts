/**
 * One contract, every store: the in-memory store, the DynamoDB store on moto, and the sealing wrapper
 * around each must read and replace records with exactly the same semantics, or the protocol tests that
 * run on the in-memory store would prove nothing about DynamoDB.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fingerprintOf } from '@tvs/client/contract';
import type { CachedToken, CacheRecord, RecordStore } from '@tvs/core/record/cache-record';
import { keepUntil } from '@tvs/core/record/cache-record';
import { DynamoDbRecordStore } from '@tvs/core/stores/dynamodb-store';
import { MemoryRecordStore } from '@tvs/core/stores/memory-store';
import { SealingStore } from '@tvs/core/stores/sealing-store';
import { LocalDataKeyProvider, TokenCipher } from '@tvs/core/stores/token-crypto';
import { ensureTokenTable } from '@tvs/local/aws-resources';
import { beforeAll, describe, expect, it } from 'vitest';
import { useMoto } from '../../support/harness';

let dynamodb: DynamoDBClient;
let tableName: string;

beforeAll(async () => {
  useMoto();
  dynamodb = new DynamoDBClient({});
  tableName = `tvs-stores-${randomUUID().slice(0, 8)}`;
  await ensureTokenTable(dynamodb, tableName);
});

function token(accessToken = `token-${randomUUID()}`, expiresAt = 1_900_000_000): CachedToken {
  return {
    accessToken,
    scope: '*:things/**',
    issuedAt: expiresAt - 3_600,
    expiresAt,
    fingerprint: fingerprintOf(accessToken),
  };
}

/** Stores of opened tokens: the sealing wrapper over each kind, and (for the record semantics) bare memory. */
const stores: [string, () => RecordStore][] = [
  ['memory', () => new MemoryRecordStore()],
  [
    'sealing over memory',
    () => new SealingStore(new MemoryRecordStore(), new TokenCipher(new LocalDataKeyProvider())),
  ],
  [
    'sealing over DynamoDB (moto)',
    () =>
      new SealingStore(
        new DynamoDbRecordStore(dynamodb, tableName),
        new TokenCipher(new LocalDataKeyProvider()),
      ),
  ],
];

describe.each(stores)('the %s store', (_name, makeStore) => {
  it('reads a key it has nothing for as version 0 with no parts', async () => {
    const store = makeStore();
    expect(await store.read(`client#${randomUUID()}`)).toEqual({ key: expect.any(String), version: 0 });
  });

  it('replaces the version it read and answers the stored record, one version higher', async () => {
    const store = makeStore();
    const key = `client#${randomUUID()}`;
    const minted = token();
    const lease = { holder: 'a', until: 1_900_000_000_000 };

    const first = await store.replace(await store.read(key), { token: minted, lease });
    const read = await store.read(key);

    expect(first).toEqual({ key, version: 1, token: minted, lease });
    expect(read).toEqual(first);
  });

  it('refuses to replace a version that is no longer stored, and writes nothing then', async () => {
    const store = makeStore();
    const key = `client#${randomUUID()}`;
    const seen = await store.read(key);
    await store.replace(seen, { lease: { holder: 'a', until: 1 } });

    expect(await store.replace(seen, { lease: { holder: 'b', until: 2 } })).toBeUndefined();
    expect((await store.read(key)).lease?.holder).toBe('a');
  });

  it('lets exactly one of twenty concurrent writers of one version land', async () => {
    const store = makeStore();
    const key = `client#${randomUUID()}`;
    const seen = await store.read(key);

    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.replace(seen, { lease: { holder: `h${i}`, until: 1 } })),
    );

    const landed = results.filter((result): result is CacheRecord => result !== undefined);
    expect(landed).toHaveLength(1);
    expect((await store.read(key)).lease?.holder).toBe(landed[0]?.lease?.holder);
  });

  it('writes whole records: a part left out of the next record is removed', async () => {
    const store = makeStore();
    const key = `client#${randomUUID()}`;
    const minted = token();
    const one = await store.replace(await store.read(key), {
      token: minted,
      lease: { holder: 'a', until: 5 },
      mints: [{ at: 1, by: 'x' }],
    });
    const two = await store.replace(one as CacheRecord, { token: minted });

    expect(await store.read(key)).toEqual({ key, version: 2, token: minted });
    expect(two).toEqual({ key, version: 2, token: minted });
  });
});

describe('the DynamoDB item', () => {
  it('holds the attributes of docs/contract.md, the token sealed, and ttl from keepUntil', async () => {
    const store = new SealingStore(
      new DynamoDbRecordStore(dynamodb, tableName),
      new TokenCipher(new LocalDataKeyProvider()),
    );
    const key = `client#${randomUUID()}`;
    const minted = token('the-access-token-in-the-clear');
    const lease = { holder: 'a', until: 1_900_000_100_000 };
    await store.replace(await store.read(key), { token: minted, lease });

    const { GetItemCommand } = await import('@aws-sdk/client-dynamodb');
    const item =
      (await dynamodb.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: key } } }))).Item ?? {};

    expect(Object.keys(item).sort()).toEqual(
      [
        'dk',
        'expires_at',
        'fingerprint',
        'issued_at',
        'lease_holder',
        'lease_until',
        'pk',
        'scope',
        'seal',
        'tok',
        'ttl',
        'ver',
      ].sort(),
    );
    expect(item.expires_at?.N).toBe(String(minted.expiresAt));
    expect(item.fingerprint?.S).toBe(minted.fingerprint);
    expect(item.ttl?.N).toBe(String(keepUntil({ token: minted, lease })));
    expect(Buffer.from(item.tok?.B ?? []).toString('latin1')).not.toContain('the-access-token-in-the-clear');
  });

  it('reads a token another sealing store cannot open as absent, reports it, and can still replace that record', async () => {
    const inner = new DynamoDbRecordStore(dynamodb, tableName);
    const key = `client#${randomUUID()}`;
    const writer = new SealingStore(inner, new TokenCipher(new LocalDataKeyProvider()));
    await writer.replace(await writer.read(key), { token: token() });
    const unopenable: string[] = [];
    const reader = new SealingStore(inner, new TokenCipher(new LocalDataKeyProvider()), (k) =>
      unopenable.push(k),
    );

    const read = await reader.read(key);
    const replaced = await reader.replace(read, { token: token('the-replacement') });

    expect(read).toEqual({ key, version: 1 });
    expect(unopenable).toEqual([key]);
    expect((await reader.read(key)).token?.accessToken).toBe('the-replacement');
    expect(replaced?.version).toBe(2);
  });
});
