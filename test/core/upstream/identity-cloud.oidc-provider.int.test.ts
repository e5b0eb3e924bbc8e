import { basicAuthorization, IdentityCloudClient } from '@tvs/core/upstream/identity-cloud';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyOf, Harness, ROTATION_CALLER, tokenEvent } from '../../support/harness';
import { type OidcPeer, startOidcProvider } from '../../support/oidc-provider';

// A secret with every character RFC 6749 §2.3.1's form-encoding changes: '+', ':', '%' and a space.
const CLIENT_ID = 'tvs config:client';
const CLIENT_SECRET = 's3cr+t:with%20 space';

let peer: OidcPeer;
let harness: Harness;

beforeAll(async () => {
  peer = await startOidcProvider({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    scopes: ['*:webhooks/**', '.:webhooks/**'],
    accessTokenTtl: 900,
  });
  harness = await Harness.start({
    configure: (config) => {
      (config.clients['webhooks-us'] as { tokenEndpoint: string }).tokenEndpoint = peer.tokenEndpoint;
    },
  });
  await harness.putSecret('webhooks-us', CLIENT_ID, CLIENT_SECRET);
});

afterAll(async () => {
  await harness?.close();
  await peer?.close();
});

describe('token request against oidc-provider, a certified OAuth 2.0 server', () => {
  it('gets a token with client_secret_basic when id and secret hold + : % and space', async () => {
    const client = new IdentityCloudClient();
    try {
      const token = await client.requestToken(
        peer.tokenEndpoint,
        { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
        '*:webhooks/**',
      );
      expect(token.accessToken.length).toBeGreaterThan(20);
      expect(token.expiresIn).toBe(900);
      expect(token.grantedScope).toBe('*:webhooks/**');
    } finally {
      await client.close();
    }
  });

  it('form-urlencodes id and secret before Base64 (RFC 6749 §2.3.1)', () => {
    const header = basicAuthorization({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8');
    expect(decoded).toBe('tvs+config%3Aclient:s3cr%2Bt%3Awith%2520+space');
  });

  it('vends a token end to end through the handler, Secrets Manager in moto, and oidc-provider', async () => {
    const response = await harness
      .container()
      .handle(tokenEvent({ client: 'webhooks-us', scope: '*:webhooks/**' }, ROTATION_CALLER));
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toMatchObject({
      token_type: 'Bearer',
      scope: '*:webhooks/**',
      client: 'webhooks-us',
    });
    expect(bodyOf(response).expires_in).toBeGreaterThan(890);
  });

  it('answers 502 when oidc-provider grants no scope for a scope it does not know', async () => {
    // oidc-provider, like Identity Cloud, answers an unknown scope with a token and no scope field.
    const response = await harness
      .container()
      .handle(tokenEvent({ client: 'webhooks-us', scope: '*:webhooks/x/**' }, ROTATION_CALLER));
    expect(response.statusCode).toBe(502);
    expect(bodyOf(response).error).toBe('server_error');
  });
});
