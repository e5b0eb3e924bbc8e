import { parseScopes } from '@tvs/client/contract';
import { SimulatorState } from '@tvs/simulator/state';
import { describe, expect, it } from 'vitest';

const CLIENTS = [
  { clientId: 'webhooks', clientSecret: 'webhooks-secret', allowedScopes: ['*:webhooks/**'] },
  {
    clientId: 'rotator',
    clientSecret: 'rotator-secret',
    allowedScopes: ['*:config/**'],
    accessTokenLifetime: 60,
  },
];

describe('SimulatorState', () => {
  it('refuses a client without an id or with a lifetime that is not a positive integer', () => {
    expect(() => new SimulatorState([{ ...CLIENTS[0]!, clientId: '' }])).toThrow(RangeError);
    const state = new SimulatorState(CLIENTS);
    for (const accessTokenLifetime of [0, -60, 1.5]) {
      expect(() => state.upsertClient({ ...CLIENTS[0]!, accessTokenLifetime })).toThrow(RangeError);
    }
    expect(state.client('webhooks')?.accessTokenLifetime).toBe(3600);
  });

  it('authenticates a client only with its live secret', () => {
    const state = new SimulatorState(CLIENTS);
    expect(state.authenticate('webhooks', 'webhooks-secret')?.clientId).toBe('webhooks');
    expect(state.authenticate('webhooks', 'rotator-secret')).toBeUndefined();
    expect(state.authenticate('ghost', 'webhooks-secret')).toBeUndefined();
    state.setClientSecret('webhooks', 'next');
    expect(state.authenticate('webhooks', 'webhooks-secret')).toBeUndefined();
    expect(state.authenticate('webhooks', 'next')?.secret).toBe('next');
  });

  it('knows a minted token as a bearer token with its scope and expiry, a planted one only as issued', () => {
    let clock = 1_000_000;
    const state = new SimulatorState(CLIENTS, () => clock);
    const rotator = state.client('rotator')!;
    const scopes = parseScopes('*:config/**');
    const token = state.mintToken(rotator, scopes);
    clock += 5_000;
    state.recordIssued('planted');
    expect(state.bearerToken(token)).toEqual({ scopes, expiresAt: 1_060_000 });
    expect(state.bearerToken('planted')).toBeUndefined();
    expect(state.issuedTokens).toEqual([token, 'planted']);
    expect(state.stats().issued).toBe(2);
  });

  it('records a reset secret and counts it; resetCounters keeps what was issued', () => {
    const state = new SimulatorState(CLIENTS);
    const webhooks = state.client('webhooks')!;
    state.takeTokenRequest();
    state.takeResetRequest();
    state.resetSecret(webhooks, 'generated');
    expect(state.readSecret(webhooks)).toBe('generated');
    expect(state.authenticate('webhooks', 'generated')).toBe(webhooks);
    expect(state.stats()).toEqual({ tokenRequests: 1, issued: 0, resetRequests: 1, secretResets: 1 });
    expect(state.secretReads).toBe(1);
    state.mintToken(webhooks, []);
    state.resetCounters();
    expect(state.stats()).toEqual({ tokenRequests: 0, issued: 0, resetRequests: 0, secretResets: 0 });
    expect(state.secretReads).toBe(0);
    expect(state.issuedSecrets).toEqual(['generated']);
    expect(state.issuedTokens).toHaveLength(1);
  });

  it('gives each request the next fault of its own endpoint', () => {
    const state = new SimulatorState(CLIENTS);
    state.faults.token.inject({ kind: 'empty-200' });
    state.faults.reset.setPersistent({ kind: 'close-before-reset' });
    expect(state.takeResetRequest()).toEqual({ kind: 'close-before-reset' });
    expect(state.takeTokenRequest()).toEqual({ kind: 'empty-200' });
    expect(state.takeTokenRequest()).toBeUndefined();
    expect(state.takeResetRequest()).toEqual({ kind: 'close-before-reset' });
    expect([state.tokenRequests, state.resetRequests]).toEqual([2, 2]);
  });
});
