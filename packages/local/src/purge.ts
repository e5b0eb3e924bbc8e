/**
 * `tvs purge --client NAME (--scope SCOPE | --all)`: remove cached tokens from the service's table, so
 * every container stops serving them within {@link MEMORY_RECHECK_MS} and the next request mints anew.
 *
 * It writes the table directly with the operator's AWS credentials (`dynamodb:GetItem` and
 * `dynamodb:UpdateItem` on the table; `dynamodb:Scan` too for `--all`) and needs no KMS: removing a sealed
 * token does not open it. The table is `--table`, else `$TVS_TABLE_NAME`, else `tvs-tokens` (the local
 * server's); the endpoint `$AWS_ENDPOINT_URL_DYNAMODB` or `$AWS_ENDPOINT_URL` when set (moto, the
 * embedded table `tvs serve` prints), else DynamoDB in the region.
 */
import { DynamoDBClient, paginateScan } from '@aws-sdk/client-dynamodb';
import { cacheKeyFor, canonicalScope, parseScopes } from '@tvs/client/contract';
import { type PurgedToken, purgeRecord } from '@tvs/core/protocol/purge';
import { DynamoDbRecordStore } from '@tvs/core/stores/dynamodb-store';
import { MEMORY_RECHECK_MS } from '@tvs/core/stores/memory-cache';
import { DEFAULT_TABLE_NAME } from './server.js';

export { MEMORY_RECHECK_MS };

/** What to purge. */
export interface PurgeRequest {
  readonly client: string;
  /** One scope string (canonicalized as the service does); absent with `all`. */
  readonly scope?: string;
  /** Every cached token of the client. */
  readonly all?: boolean;
  readonly table?: string;
  readonly region?: string;
  readonly env: NodeJS.ProcessEnv;
}

/** What a purge did. */
export interface PurgeReport {
  readonly table: string;
  readonly client: string;
  readonly purged: readonly PurgedToken[];
  /** Containers stop serving the purged tokens from memory within this many seconds. */
  readonly boundSeconds: number;
}

function dynamodbClient(request: PurgeRequest): DynamoDBClient {
  const { env } = request;
  const endpoint = env.AWS_ENDPOINT_URL_DYNAMODB || env.AWS_ENDPOINT_URL || undefined;
  return new DynamoDBClient({
    region: request.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    ...(endpoint ? { endpoint } : {}),
    maxAttempts: 3,
  });
}

/** The token keys of `client` in the table: `<client>#<sha256>`, never its budget record. */
async function tokenKeysOf(dynamodb: DynamoDBClient, table: string, client: string): Promise<string[]> {
  const keys: string[] = [];
  const pages = paginateScan(
    { client: dynamodb },
    {
      TableName: table,
      ProjectionExpression: 'pk',
      FilterExpression: 'begins_with(pk, :prefix) AND attribute_exists(fingerprint)',
      ExpressionAttributeValues: { ':prefix': { S: `${client}#` } },
      ConsistentRead: true,
    },
  );
  for await (const page of pages) {
    for (const item of page.Items ?? []) if (item.pk?.S) keys.push(item.pk.S);
  }
  return keys;
}

/** Purge `request`'s tokens; see the module comment. Throws a `ScopeSyntaxError` for a bad scope. */
export async function purgeTokens(request: PurgeRequest): Promise<PurgeReport> {
  const table = request.table ?? (request.env.TVS_TABLE_NAME || DEFAULT_TABLE_NAME);
  const dynamodb = dynamodbClient(request);
  try {
    const store = new DynamoDbRecordStore(dynamodb, table);
    const keys = request.all
      ? await tokenKeysOf(dynamodb, table, request.client)
      : [cacheKeyFor(request.client, canonicalScope(parseScopes(request.scope ?? '')))];
    const purged: PurgedToken[] = [];
    for (const key of keys) {
      const removed = await purgeRecord(store, key);
      if (removed) purged.push(removed);
    }
    return { table, client: request.client, purged, boundSeconds: MEMORY_RECHECK_MS / 1000 };
  } finally {
    dynamodb.destroy();
  }
}

/** The report as `tvs purge` prints it without `--json`. */
export function formatPurge(report: PurgeReport): string {
  if (report.purged.length === 0) {
    return `tvs: no cached token of ${report.client} to purge in table ${report.table}\n`;
  }
  const lines = report.purged.map(
    (token) =>
      `  ${token.scope}  fingerprint ${token.fingerprint.slice(0, 16)}…  valid at Identity Cloud until ${new Date(token.expiresAt * 1000).toISOString()}`,
  );
  const count = report.purged.length === 1 ? '1 token' : `${report.purged.length} tokens`;
  return [
    `tvs: purged ${count} of ${report.client} from table ${report.table}:`,
    ...lines,
    `Every container stops serving ${report.purged.length === 1 ? 'it' : 'them'} within ${report.boundSeconds} s; the next request mints a new token.`,
    'A purged token stays valid at Identity Cloud until it expires: nothing revokes it there. If the',
    "client's secret may have leaked too, rotate it now (tvs rotate).",
    '',
  ].join('\n');
}
