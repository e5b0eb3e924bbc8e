import { describe, expect, it } from 'vitest';
import { useDeployedBundle } from '../support/deployed-bundle';
import { bodyOf, ORDERS_CALLER, tokenEvent } from '../support/harness';

const deployed = useDeployedBundle();

describe('the deployed bundle (lib/handler-bundle.ts output)', () => {
  it('loads its configuration file at cold start and vends a token, loading the miss-only chunks on demand', async () => {
    const response = await deployed.handler(
      tokenEvent({ client: 'webhooks-us', scope: '.:webhooks/**' }, ORDERS_CALLER),
    );
    const failure = deployed.harness.capture.lines.find((line) => line.message === 'request failed');
    expect({ status: response.statusCode, detail: failure?.detail }).toEqual({
      status: 200,
      detail: undefined,
    });
    expect(deployed.harness.sim.issuedTokens).toContain(bodyOf(response).access_token);
    expect(response.headers).toMatchObject({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  });

  it('answers a function URL event as it answers the REST proxy event', async () => {
    const request = { client: 'webhooks-us', scope: '.:webhooks/**' };
    const viaRestApi = await deployed.handler(tokenEvent(request, ORDERS_CALLER, 'rest-api'));
    const viaFunctionUrl = await deployed.handler(tokenEvent(request, ORDERS_CALLER, 'function-url'));

    expect(viaFunctionUrl.statusCode).toBe(200);
    expect(viaFunctionUrl.headers).toEqual(viaRestApi.headers);
    expect(bodyOf(viaFunctionUrl).access_token).toBe(bodyOf(viaRestApi).access_token);
  });

  it('answers the contract error bodies from the bundle too', async () => {
    const response = await deployed.handler(
      tokenEvent({ client: 'webhooks-us', scope: '*:config/**' }, ORDERS_CALLER),
    );
    expect(response.statusCode).toBe(403);
    expect(bodyOf(response).error).toBe('access_denied');
  });
});
