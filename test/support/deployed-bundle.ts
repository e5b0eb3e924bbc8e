/**
 * The deployed bundle (lib/handler-bundle.ts output) loaded as Lambda loads it: the harness's
 * configuration written into the bundle as the construct ships it, the environment the construct sets,
 * and `index.mjs` imported from the bundle's folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll } from 'vitest';
import { bundleHandler } from '../../lib/handler-bundle';
import { Harness } from './harness';

/** A loaded bundle: its handler, and `remove()` for the folder and the environment it set. */
export interface DeployedBundle {
  readonly handler: (event: unknown) => Promise<APIGatewayProxyResult>;
  remove(): void;
}

/** Bundle the handler with `harness`'s configuration and load it against the harness's table and key. */
export async function loadDeployedBundle(harness: Harness): Promise<DeployedBundle> {
  const outdir = mkdtempSync(join(tmpdir(), 'tvs-bundle-'));
  // The configuration goes in the bundle exactly as the construct ships it.
  bundleHandler(outdir, { configDocument: JSON.parse(JSON.stringify(harness.config)) });
  process.env.TVS_CONFIG_FILE = join(outdir, 'tvs-config.json');
  process.env.TVS_TABLE_NAME = harness.tableName;
  process.env.TVS_KMS_KEY_ID = harness.keyId;
  const { handler } = (await import(pathToFileURL(join(outdir, 'index.mjs')).href)) as Pick<
    DeployedBundle,
    'handler'
  >;
  return {
    handler,
    remove() {
      delete process.env.TVS_CONFIG_FILE;
      rmSync(outdir, { recursive: true, force: true });
    },
  };
}

/** What a test file of the deployed bundle uses: the harness, and the bundle's handler. */
export interface DeployedBundleFixture {
  readonly harness: Harness;
  readonly handler: DeployedBundle['handler'];
}

/**
 * Start a harness and load the deployed bundle against it once for the calling test file (its
 * `beforeAll`), and remove both after it; the fields are set when the file's tests run.
 */
export function useDeployedBundle(): DeployedBundleFixture {
  const fixture = {} as { harness: Harness; handler: DeployedBundle['handler'] };
  let bundle: DeployedBundle | undefined;
  beforeAll(async () => {
    fixture.harness = await Harness.start();
    bundle = await loadDeployedBundle(fixture.harness);
    fixture.handler = bundle.handler;
  }, 120_000);
  afterAll(async () => {
    bundle?.remove();
    await fixture.harness?.close();
  });
  return fixture;
}
