import type { APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DeployedBundle, loadDeployedBundle } from '../support/deployed-bundle';
import { bodyOf, Harness, ORDERS_CALLER, tokenEvent } from '../support/harness';

let harness: Harness;
let bundle: DeployedBundle | undefined;
let handler: (event: unknown) => Promise<APIGatewayProxyResult>;

beforeAll(async () => {
  harness = await Harness.start();
  bundle = await loadDeployedBundle(harness);
  handler = bundle.handler;
}, 120_000);

afterAll(async () => {
  bundle?.remove();
  await harness?.close();
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
