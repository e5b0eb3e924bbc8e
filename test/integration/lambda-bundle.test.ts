import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleHandler } from '../../lib/handler-bundle';
import { bodyOf, Harness, ORDERS_CALLER, tokenEvent } from '../support/harness';

let harness: Harness;
let outdir: string;
let handler: (event: unknown) => Promise<APIGatewayProxyResult>;

beforeAll(async () => {
  harness = await Harness.start();
  outdir = mkdtempSync(join(tmpdir(), 'tvs-bundle-'));
  // The configuration goes in the bundle exactly as the construct ships it.
  bundleHandler(outdir, { configDocument: JSON.parse(JSON.stringify(harness.config)) });
  process.env.TVS_CONFIG_FILE = join(outdir, 'tvs-config.json');
  process.env.TVS_TABLE_NAME = harness.tableName;
  process.env.TVS_KMS_KEY_ID = harness.keyId;
  ({ handler } = (await import(pathToFileURL(join(outdir, 'index.mjs')).href)) as {
    handler: typeof handler;
  });
}, 120_000);

afterAll(async () => {
  delete process.env.TVS_CONFIG_FILE;
  await harness?.close();
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe('the deployed bundle (lib/handler-bundle.ts output)', () => {
  it('loads its configuration file at cold start and vends a token, loading the miss-only chunks on demand', async () => {
    const response = await handler(
      tokenEvent({ client: 'webhooks-us', scope: '.:webhooks/**' }, ORDERS_CALLER),
    );
    const failure = harness.capture.lines.find((line) => line.message === 'request failed');
    expect({ status: response.statusCode, detail: failure?.detail }).toEqual({
      status: 200,
      detail: undefined,
    });
    expect(harness.sim.issuedTokens).toContain(bodyOf(response).access_token);
    expect(response.headers).toMatchObject({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  });

  it('answers a function URL event as it answers the REST proxy event', async () => {
    const request = { client: 'webhooks-us', scope: '.:webhooks/**' };
    const viaRestApi = await handler(tokenEvent(request, ORDERS_CALLER, 'rest-api'));
    const viaFunctionUrl = await handler(tokenEvent(request, ORDERS_CALLER, 'function-url'));

    expect(viaFunctionUrl.statusCode).toBe(200);
    expect(viaFunctionUrl.headers).toEqual(viaRestApi.headers);
    expect(bodyOf(viaFunctionUrl).access_token).toBe(bodyOf(viaRestApi).access_token);
  });

  it('answers the contract error bodies from the bundle too', async () => {
    const response = await handler(
      tokenEvent({ client: 'webhooks-us', scope: '*:config/**' }, ORDERS_CALLER),
    );
    expect(response.statusCode).toBe(403);
    expect(bodyOf(response).error).toBe('access_denied');
  });
});
