import { parseSimulatorConfig } from '@tvs/simulator/config';
import { describe, expect, it } from 'vitest';

const CLIENT = { clientId: 'a', clientSecret: 'top-secret', allowedScopes: ['*:webhooks/**'] };

describe('parseSimulatorConfig', () => {
  it.each([
    [[], 'not an object'],
    [{ customerId: 5, clients: [CLIENT] }, 'customerId must be a string of letters, digits and -'],
    [{ customerId: 'c 1', clients: [CLIENT] }, 'customerId must be a string of letters, digits and -'],
    [{ latencyMs: -1, clients: [CLIENT] }, 'latencyMs must be a number ≥ 0'],
    [{ latencyMs: Number.NaN, clients: [CLIENT] }, 'latencyMs must be a number ≥ 0'],
    [{ latencyMs: '5', clients: [CLIENT] }, 'latencyMs must be a number ≥ 0'],
    [{ tokenPolicies: [], clients: [CLIENT] }, 'tokenPolicies must be an object'],
    [{ tokenPolicies: 'hooks', clients: [CLIENT] }, 'tokenPolicies must be an object'],
    [{}, 'clients must be a non-empty array'],
    [{ clients: [CLIENT, null] }, 'clients[1] is not an object'],
    [{ clients: [{ ...CLIENT, clientId: '' }] }, 'clients[0].clientId must be a string'],
    [{ clients: [{ ...CLIENT, clientSecret: 7 }] }, 'clients[0].clientSecret must be a non-empty string'],
    [{ clients: [{ ...CLIENT, tokenPolicy: 3 }] }, 'clients[0].tokenPolicy names no token policy'],
    [{ clients: [{ ...CLIENT, tokenPolicy: 'toString' }] }, 'clients[0].tokenPolicy names no token policy'],
    [
      { clients: [{ ...CLIENT, allowedScopes: ['*:a/**', 1] }] },
      'clients[0]: allowedScopes must be an array of strings',
    ],
    [
      {
        tokenPolicies: { p: { allowedScopes: ['*:a/**'], accessTokenLifetime: 1.5 } },
        clients: [{ ...CLIENT, tokenPolicy: 'p' }],
      },
      'clients[0]: accessTokenLifetime must be a positive integer',
    ],
    [
      {
        tokenPolicies: { p: { allowedScopes: ['*:a/**', 'no good'] } },
        clients: [{ ...CLIENT, tokenPolicy: 'p' }],
      },
      'clients[0]: allowed scope "no good" does not parse',
    ],
  ])('refuses %j, naming the first problem and never the secret', (document, problem) => {
    expect(() => parseSimulatorConfig(document)).toThrow(new Error(`invalid simulator config: ${problem}`));
  });

  it('takes a named token policy over the client’s own scopes, and tokenPolicies: null as none', () => {
    const options = parseSimulatorConfig({
      tokenPolicies: { p: { allowedScopes: ['.:config/**'] } },
      clients: [{ ...CLIENT, allowedScopes: ['nonsense'], tokenPolicy: 'p' }],
    });
    expect(options).toEqual({
      clients: [{ clientId: 'a', clientSecret: 'top-secret', allowedScopes: ['.:config/**'] }],
    });
    expect(parseSimulatorConfig({ tokenPolicies: null, latencyMs: 0, clients: [CLIENT] })).toEqual({
      latencyMs: 0,
      clients: [CLIENT],
    });
  });
});
