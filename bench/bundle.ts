import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleFiles, bundleHandler, HANDLER_ENTRY } from '../lib/handler-bundle';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Milliseconds to import a bundle in a fresh Node process: module loading, as in a Lambda cold start. */
function loadMs(file: string, env: NodeJS.ProcessEnv): number {
  const script = `const t=process.hrtime.bigint();await import(${JSON.stringify(pathToFileURL(file).href)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`loading ${file} failed: ${run.stderr}`);
  return Number(run.stdout);
}

const kb = (bytes: number) => Math.round(bytes / 102.4) / 10;

export interface BundleFigures {
  /** The module a cold start loads (`index.mjs`), KiB. */
  bundle_kb: number;
  /** Every chunk, including those only a cache miss loads, KiB. */
  bundle_total_kb: number;
  sdk_only_bundle_kb: number;
  init_ms: number;
  init_sdk_only_ms: number;
  init_over_sdk_only: number;
  /** The handler with undici, Secrets Manager and KMS imported eagerly: what lazy loading saves. */
  init_eager_ms: number;
}

/**
 * Bundle sizes and cold-start load times, all built by `bundleHandler` (what the construct deploys): the
 * handler; a bundle that only imports the two SDK clients; and the handler with its miss-only modules imported eagerly. Runs are
 * interleaved and the median of each is reported.
 */
export function measureBundles(runs = 15): BundleFigures {
  const dir = mkdtempSync(join(tmpdir(), 'tvs-bench-'));
  const sdkEntry = join(dir, 'sdk-only.ts');
  writeFileSync(
    sdkEntry,
    `import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
export const clients = [new DynamoDBClient({}), new SecretsManagerClient({})];
`,
  );
  // Importing the miss-only modules statically puts them back into the cold-start module.
  const singleEntry = join(dir, 'single.ts');
  writeFileSync(
    singleEntry,
    `import * as undici from 'undici';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KMSClient } from '@aws-sdk/client-kms';
export const eager = [undici, new SecretsManagerClient({}), new KMSClient({})];
export { handler } from ${JSON.stringify(HANDLER_ENTRY)};
`,
  );
  const builds = {
    handler: join(dir, 'handler'),
    sdkOnly: join(dir, 'sdk-only'),
    single: join(dir, 'single'),
  };
  bundleHandler(builds.handler, { sourceMap: false });
  bundleHandler(builds.sdkOnly, { sourceMap: false, entry: sdkEntry });
  bundleHandler(builds.single, { sourceMap: false, entry: singleEntry });
  const handlerFiles = bundleFiles(builds.handler);
  const config = {
    clients: {
      'webhooks-us': {
        tokenEndpoint: 'https://v1.api.us.janrain.com/01000000-0000-3000-9000-000000000000/login/token',
        secretId: 'tvs/webhooks-us',
        allowedScopes: ['*:webhooks/**'],
      },
    },
    grants: [
      {
        principal: 'arn:aws:iam::123456789012:role/orders-service',
        client: 'webhooks-us',
        scopes: ['.:webhooks/**'],
      },
    ],
  };
  const env = {
    PATH: process.env.PATH,
    AWS_REGION: 'us-east-1',
    TVS_CONFIG: JSON.stringify(config),
    TVS_TABLE_NAME: 'tvs-bench',
    TVS_KMS_KEY_ID: 'alias/tvs-bench',
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
  const index = (build: string) => join(build, 'index.mjs');
  const times = { handler: [] as number[], sdkOnly: [] as number[], single: [] as number[] };
  loadMs(index(builds.handler), env); // warm the file cache once
  for (let i = 0; i < runs; i++) {
    times.handler.push(loadMs(index(builds.handler), env));
    times.sdkOnly.push(loadMs(index(builds.sdkOnly), env));
    times.single.push(loadMs(index(builds.single), env));
  }
  const initMs = median(times.handler);
  const sdkMs = median(times.sdkOnly);
  return {
    bundle_kb: kb(handlerFiles.get('index.mjs') ?? 0),
    bundle_total_kb: kb([...handlerFiles.values()].reduce((a, b) => a + b, 0)),
    sdk_only_bundle_kb: kb([...bundleFiles(builds.sdkOnly).values()].reduce((a, b) => a + b, 0)),
    init_ms: Math.round(initMs * 10) / 10,
    init_sdk_only_ms: Math.round(sdkMs * 10) / 10,
    init_over_sdk_only: Math.round((initMs / sdkMs) * 100) / 100,
    init_eager_ms: Math.round(median(times.single) * 10) / 10,
  };
}

if (process.argv[1] === import.meta.filename) {
  console.log(JSON.stringify(measureBundles()));
}
