/**
 * The AWS resources the local server needs when it runs against an AWS endpoint (moto, LocalStack, a
 * dev account): the token table and a KMS key. Several servers may start at once against the same
 * endpoint — that is how they share one cache, like Lambda containers — so creation tolerates losing the
 * race to another server.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  AlreadyExistsException,
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  type KMSClient,
  NotFoundException,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { sleep } from '@tvs/client/contract';

/** The alias of the key the local server creates when `TVS_KMS_KEY_ID` is not set. */
export const LOCAL_KMS_ALIAS = 'alias/tvs-local';

async function waitForActiveTable(
  dynamodb: DynamoDBClient,
  tableName: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 10; ; pause = Math.min(pause * 2, 500)) {
    try {
      const answer = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
      if (answer.Table?.TableStatus === 'ACTIVE') return;
    } catch (error) {
      // Another server's CreateTable may not be visible yet.
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
    if (Date.now() > deadline)
      throw new Error(`table ${tableName} did not become ACTIVE within ${timeoutMs} ms`);
    await sleep(pause);
  }
}

/** Create the token table unless it exists; losing the race to another server's CreateTable is fine. */
async function createTokenTableIfMissing(dynamodb: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  try {
    await dynamodb.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (error) {
    // Another server created it between our DescribeTable and CreateTable.
    if (!(error instanceof ResourceInUseException)) throw error;
  }
}

/** Turn on TTL on the attribute `ttl` unless it is on or turning on. */
async function enableTokenTtl(dynamodb: DynamoDBClient, tableName: string): Promise<void> {
  const ttl = await dynamodb.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
  if (status === 'ENABLED' || status === 'ENABLING') return;
  try {
    await dynamodb.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      }),
    );
  } catch (error) {
    // Another server enabled it first: DynamoDB answers ValidationException "already enabled".
    if ((error as { name?: string }).name !== 'ValidationException') throw error;
  }
}

/**
 * Make sure the token table exists and is ACTIVE: partition key `pk` (string), on-demand, and — unless
 * `enableTtl` is false (dynalite has no TTL API) — the TTL attribute `ttl`.
 */
export async function ensureTokenTable(
  dynamodb: DynamoDBClient,
  tableName: string,
  options: { enableTtl?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  await createTokenTableIfMissing(dynamodb, tableName);
  await waitForActiveTable(dynamodb, tableName, options.timeoutMs ?? 30_000);
  if (options.enableTtl !== false) await enableTokenTtl(dynamodb, tableName);
}

async function keyIdOfAlias(kms: KMSClient, alias: string): Promise<string | undefined> {
  try {
    const answer = await kms.send(new DescribeKeyCommand({ KeyId: alias }));
    return answer.KeyMetadata?.KeyId;
  } catch (error) {
    if (error instanceof NotFoundException) return undefined;
    throw error;
  }
}

/**
 * The KMS key id for the token cipher: `configuredKeyId` when given, otherwise the key behind
 * {@link LOCAL_KMS_ALIAS}, created with the alias when missing. When two servers race, the loser schedules
 * its own new key for deletion and uses the winner's.
 */
export async function ensureKmsKey(kms: KMSClient, configuredKeyId?: string): Promise<string> {
  if (configuredKeyId) return configuredKeyId;
  const existing = await keyIdOfAlias(kms, LOCAL_KMS_ALIAS);
  if (existing) return existing;
  const created = await kms.send(
    new CreateKeyCommand({ Description: 'Token Vending Service local server (tvs serve)' }),
  );
  const keyId = created.KeyMetadata?.KeyId;
  if (!keyId) throw new Error('KMS CreateKey answered without a key id');
  try {
    await kms.send(new CreateAliasCommand({ AliasName: LOCAL_KMS_ALIAS, TargetKeyId: keyId }));
    return keyId;
  } catch (error) {
    if (!(error instanceof AlreadyExistsException)) throw error;
  }
  await kms
    .send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
    .catch(() => undefined);
  const winner = await keyIdOfAlias(kms, LOCAL_KMS_ALIAS);
  if (!winner) throw new Error(`${LOCAL_KMS_ALIAS} vanished while the local server was starting`);
  return winner;
}
