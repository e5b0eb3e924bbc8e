import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { StoreUnavailableError } from '@tvs/client/contract';
import { requestSignal } from '../policy/request-deadline.js';
import {
  type CacheRecord,
  type Circuit,
  keepUntil,
  type Lease,
  type Mint,
  type RecordContent,
  type RecordStore,
  storedRecord,
} from '../record/cache-record.js';
import type { SealedCachedToken } from './sealing-store.js';

type Item = Record<string, AttributeValue>;

/** Attribute names of the item (docs/contract.md "DynamoDB cache item"), each part of the record in one place. */
const ATTRIBUTES = {
  version: 'ver',
  ttl: 'ttl',
  token: ['tok', 'dk', 'seal', 'scope', 'issued_at', 'expires_at', 'fingerprint', 'made_by'],
  lease: ['lease_holder', 'lease_until'],
  mints: ['mints'],
  circuit: ['circuit_opened_at', 'circuit_probe_at', 'circuit_prober'],
} as const;

function decodeToken(item: Item): SealedCachedToken | undefined {
  const { tok, dk, seal, scope, issued_at, expires_at, fingerprint, made_by } = item;
  if (!tok?.B || !dk?.B || !scope?.S || !issued_at?.N || !expires_at?.N || !fingerprint?.S) return undefined;
  return {
    scope: scope.S,
    issuedAt: Number(issued_at.N),
    expiresAt: Number(expires_at.N),
    fingerprint: fingerprint.S,
    ...(made_by?.S ? { madeBy: made_by.S } : {}),
    sealed: { ciphertext: Buffer.from(tok.B), encryptedKey: Buffer.from(dk.B), format: Number(seal?.N ?? 1) },
  };
}

function encodeToken(token: SealedCachedToken): Item {
  return {
    tok: { B: token.sealed.ciphertext },
    dk: { B: token.sealed.encryptedKey },
    seal: { N: String(token.sealed.format) },
    scope: { S: token.scope },
    issued_at: { N: String(token.issuedAt) },
    expires_at: { N: String(token.expiresAt) },
    fingerprint: { S: token.fingerprint },
    ...(token.madeBy ? { made_by: { S: token.madeBy } } : {}),
  };
}

function decodeLease(item: Item): Lease | undefined {
  const { lease_holder, lease_until } = item;
  return lease_holder?.S && lease_until?.N
    ? { holder: lease_holder.S, until: Number(lease_until.N) }
    : undefined;
}

function decodeMints(item: Item): Mint[] | undefined {
  const list = item.mints?.L;
  if (!list) return undefined;
  return list.flatMap((entry) =>
    entry.M?.at?.N !== undefined
      ? [
          {
            at: Number(entry.M.at.N),
            by: entry.M.by?.S ?? '',
            ...(entry.M.upkeep?.BOOL === true ? { upkeep: true as const } : {}),
          },
        ]
      : [],
  );
}

function decodeCircuit(item: Item): Circuit | undefined {
  const { circuit_opened_at: openedAt, circuit_probe_at: probeAt, circuit_prober: prober } = item;
  if (!openedAt?.N || !probeAt?.N) return undefined;
  return {
    openedAt: Number(openedAt.N),
    probeAt: Number(probeAt.N),
    ...(prober?.S ? { prober: prober.S } : {}),
  };
}

function encodeCircuit(circuit: Circuit): Item {
  return {
    circuit_opened_at: { N: String(circuit.openedAt) },
    circuit_probe_at: { N: String(circuit.probeAt) },
    ...(circuit.prober ? { circuit_prober: { S: circuit.prober } } : {}),
  };
}

/** The record an item holds. An item written before records had versions reads as version 0. */
export function decodeItem(key: string, item: Item | undefined): CacheRecord<SealedCachedToken> {
  if (!item) return { key, version: 0 };
  return storedRecord(key, Number(item.ver?.N ?? 0), {
    token: decodeToken(item),
    lease: decodeLease(item),
    mints: decodeMints(item),
    circuit: decodeCircuit(item),
  });
}

/** The attributes `content` sets (and which of the record's attributes it therefore removes). */
export function encodeContent(content: RecordContent<SealedCachedToken>, version: number): Item {
  return {
    ver: { N: String(version) },
    ttl: { N: String(keepUntil(content)) },
    ...(content.token ? encodeToken(content.token) : {}),
    ...(content.lease
      ? { lease_holder: { S: content.lease.holder }, lease_until: { N: String(content.lease.until) } }
      : {}),
    ...(content.mints && content.mints.length > 0
      ? {
          mints: {
            L: content.mints.map((mint) => ({
              M: {
                at: { N: String(mint.at) },
                by: { S: mint.by },
                ...(mint.upkeep ? { upkeep: { BOOL: true } } : {}),
              },
            })),
          },
        }
      : {}),
    ...(content.circuit ? encodeCircuit(content.circuit) : {}),
  };
}

const ALL_ATTRIBUTES: readonly string[] = [
  ATTRIBUTES.version,
  ATTRIBUTES.ttl,
  ...ATTRIBUTES.token,
  ...ATTRIBUTES.lease,
  ...ATTRIBUTES.mints,
  ...ATTRIBUTES.circuit,
];

/**
 * The records in a DynamoDB table (partition key `pk`, TTL attribute `ttl`): I/O only. A read is a
 * consistent `GetItem`; a replace is one `UpdateItem` that sets every attribute of the new record and
 * removes the rest, on the condition that `ver` is still the version read. Sealed tokens pass through as
 * bytes: opening them is the sealing wrapper's business. Every call ends by the request's deadline
 * (`request-deadline.ts`); one that does not is a `StoreUnavailableError` like any other failure.
 */
export class DynamoDbRecordStore implements RecordStore<SealedCachedToken> {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async read(key: string): Promise<CacheRecord<SealedCachedToken>> {
    const answer = await this.call('GetItem', () =>
      this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
        requestSignal(),
      ),
    );
    return decodeItem(key, answer.Item);
  }

  async replace(
    current: CacheRecord<SealedCachedToken>,
    next: RecordContent<SealedCachedToken>,
  ): Promise<CacheRecord<SealedCachedToken> | undefined> {
    const version = current.version + 1;
    const attributes = encodeContent(next, version);
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = {};
    const sets: string[] = [];
    const removes: string[] = [];
    ALL_ATTRIBUTES.forEach((name, index) => {
      names[`#a${index}`] = name;
      const value = attributes[name];
      if (value === undefined) {
        removes.push(`#a${index}`);
      } else {
        values[`:a${index}`] = value;
        sets.push(`#a${index} = :a${index}`);
      }
    });
    const versionName = `#a${ALL_ATTRIBUTES.indexOf(ATTRIBUTES.version)}`;
    if (current.version > 0) values[':expected'] = { N: String(current.version) };
    try {
      await this.call('UpdateItem', () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: { pk: { S: current.key } },
            UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
            ConditionExpression:
              current.version > 0 ? `${versionName} = :expected` : `attribute_not_exists(${versionName})`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
          requestSignal(),
        ),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
    return storedRecord(current.key, version, next);
  }

  private async call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw error;
      const name = error instanceof Error ? error.name : 'Error';
      throw new StoreUnavailableError(`DynamoDB ${operation} failed (${name})`, { cause: error });
    }
  }
}
