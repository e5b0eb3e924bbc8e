import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type OidcPeer, startOidcProvider } from './oidc-provider';

const CLIENT_ID = 'tvs config:client';
const SECRET = 's3cr+t:with%20 space';

function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

let peer: OidcPeer;

async function token(authorization: string, scope?: string) {
  const params = new URLSearchParams({ grant_type: 'client_credentials' });
  if (scope !== undefined) params.set('scope', scope);
  const res = await request(peer.tokenEndpoint, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
    body: params.toString(),
  });
  return {
    status: res.statusCode,
    headers: res.headers,
    body: (await res.body.json()) as Record<string, unknown>,
  };
}

const encodedBasic = `Basic ${Buffer.from(`${formEncode(CLIENT_ID)}:${formEncode(SECRET)}`).toString('base64')}`;

beforeAll(async () => {
  peer = await startOidcProvider({
    clientId: CLIENT_ID,
    clientSecret: SECRET,
    scopes: ['*:webhooks/**', '.:config/**'],
    accessTokenTtl: 600,
  });
});

afterAll(async () => {
  await peer?.close();
});

describe('oidc-provider peer', () => {
  it('serves the token endpoint at the Identity Cloud path', () => {
    expect(peer.tokenEndpoint).toBe(`${peer.issuer}/01000000-0000-3000-9000-000000000000/login/token`);
  });

  it('issues an opaque Bearer token for client_secret_basic with a form-urlencoded special-character secret', async () => {
    const res = await token(encodedBasic, '*:webhooks/**');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: '*:webhooks/**' });
    const accessToken = res.body.access_token as string;
    expect(accessToken).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(accessToken.split('.')).toHaveLength(1);
    expect(res.body).not.toHaveProperty('refresh_token');
  });

  it('grants several configured scopes and returns them', async () => {
    const res = await token(encodedBasic, '*:webhooks/** .:config/**');
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('*:webhooks/** .:config/**');
  });

  it('refuses the same secret put raw (not form-urlencoded) into the Basic header', async () => {
    const raw = `Basic ${Buffer.from(`${CLIENT_ID}:${SECRET}`).toString('base64')}`;
    const res = await token(raw, '*:webhooks/**');
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  it('refuses a wrong secret', async () => {
    const wrong = `Basic ${Buffer.from(`${formEncode(CLIENT_ID)}:${formEncode('other')}`).toString('base64')}`;
    expect((await token(wrong, '*:webhooks/**')).status).toBe(401);
  });

  it('omits scope from the answer for a scope it does not know (200, nothing granted)', async () => {
    const res = await token(encodedBasic, '.:webhooks/**');
    expect(res.status).toBe(200);
    expect(res.body).not.toHaveProperty('scope');
  });
});
