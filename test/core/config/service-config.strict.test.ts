/**
 * A configuration that cannot silently mean something else than it reads: a key given twice anywhere
 * in the document, or a second grant of one principal on one client, is an error naming where.
 */

import { loadServiceConfig, parseServiceConfigText } from '@tvs/core/config/service-config';
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../../support/config-problems';

const ENDPOINT = 'https://v1.api.us.janrain.com/00000000-0000-0000-0000-000000000000/login/token';

describe('the configuration document, read strictly', () => {
  // What a new user wrote: a "read-only" client whose second allowedScopes JSON.parse would keep.
  const readOnlyClient = `{
    "clients": {
      "reporting": {
        "tokenEndpoint": "${ENDPOINT}",
        "secretId": "tvs/reporting",
        "allowedScopes": [".:config/**"],
        "allowedScopes": ["*:**"]
      }
    },
    "grants": []
  }`;

  it('refuses a key given twice, naming its path, at cold start as in any parse', () => {
    expect(problemsOf(() => parseServiceConfigText(readOnlyClient))).toEqual([
      'clients.reporting.allowedScopes: duplicate key; it is given more than once in its object, and only one may be',
    ]);
    expect(problemsOf(() => loadServiceConfig({ TVS_CONFIG: readOnlyClient }))).toHaveLength(1);
  });

  it('refuses the same grant twice, naming both, and keeps two grants of one principal on one client as their union', () => {
    const grant = (scope: string) => ({
      principal: 'arn:aws:iam::111111111111:role/orders',
      client: 'webhooks-us',
      scopes: [scope],
    });
    const document = {
      clients: {
        'webhooks-us': { tokenEndpoint: ENDPOINT, secretId: 'tvs/w', allowedScopes: ['*:webhooks/**'] },
      },
      grants: [
        grant('.:webhooks/**'),
        grant('*:webhooks/x/**'),
        { ...grant('.:webhooks/**'), principal: 'arn:aws:iam::111111111111:role/other' },
        grant('.:webhooks/**'),
      ],
    };

    expect(problemsOf(() => parseServiceConfigText(JSON.stringify(document)))).toEqual([
      expect.stringMatching(
        /^grants\[3\]: duplicate grant: grants\[0\] already gives .*role\/orders.* the same scopes on client .*webhooks-us/,
      ),
    ]);
  });
});

describe('ServiceConfig.spenderFor', () => {
  const config = parseServiceConfigText(
    JSON.stringify({
      clients: {
        'webhooks-us': { tokenEndpoint: ENDPOINT, secretId: 'tvs/w', allowedScopes: ['*:webhooks/**'] },
      },
      grants: [
        {
          principal: 'arn:aws:iam::111111111111:role/team-*',
          client: 'webhooks-us',
          scopes: ['.:webhooks/**'],
        },
        {
          principal: 'arn:aws:iam::111111111111:role/team-lead',
          client: 'webhooks-us',
          scopes: ['*:webhooks/**'],
        },
      ],
    }),
  );

  it('charges every role a wildcard grant matches to the grant, and a role granted by name to itself', () => {
    expect(config.spenderFor('arn:aws:sts::111111111111:assumed-role/team-a/s1', 'webhooks-us')).toBe(
      'arn:aws:iam::111111111111:role/team-*',
    );
    expect(config.spenderFor('arn:aws:sts::111111111111:assumed-role/team-b/s2', 'webhooks-us')).toBe(
      'arn:aws:iam::111111111111:role/team-*',
    );
    expect(config.spenderFor('arn:aws:sts::111111111111:assumed-role/team-lead/s3', 'webhooks-us')).toBe(
      'arn:aws:iam::111111111111:role/team-lead',
    );
    expect(
      config.spenderFor('arn:aws:sts::111111111111:assumed-role/other/s4', 'webhooks-us'),
    ).toBeUndefined();
  });
});
