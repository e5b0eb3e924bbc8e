/**
 * The shipped JSON Schema (config/tvs.config.schema.json) and the parser (packages/core/src/config/service-config.ts)
 * agree: over generated documents, valid and broken, the schema refuses exactly the structurally broken
 * ones the parser refuses, and never refuses a document the parser accepts. Faults only the parser sees
 * (docs/configuration.md "JSON Schema and tvs validate") are generated too: the schema lets them pass.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, LocalConfigError } from '@tvs/client/contract';
import { parseServiceConfig } from '@tvs/core/config/service-config';
import { parseLocalSection } from '@tvs/local/local-config';
import AjvModule from 'ajv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const schema = JSON.parse(readFileSync(join(ROOT, 'config', 'tvs.config.schema.json'), 'utf8'));
const Ajv = (AjvModule as unknown as { default?: typeof AjvModule }).default ?? AjvModule;
const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

function parserAccepts(document: unknown): boolean {
  try {
    parseServiceConfig(document);
    return true;
  } catch (error) {
    if (error instanceof ConfigError) return false;
    throw error;
  }
}

/** Whether the local server (`tvs serve`) accepts the document's `local` section. */
function localServerAccepts(document: unknown): boolean {
  try {
    parseLocalSection(document, ROOT);
    return true;
  } catch (error) {
    if (error instanceof LocalConfigError) return false;
    throw error;
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Doc = { [key: string]: Json };

const CLIENT_NAMES = ['webhooks-us', 'config-us', 'a', 'x.y_z-9', '0'.repeat(64)];
const ENDPOINTS = [
  'https://v1.api.us.janrain.com/00000000-0000-0000-0000-000000000000/login/token',
  'https://v1.api.eu.janrain.com/c/login/token',
  'http://127.0.0.1:8788/01000000-0000-3000-9000-000000000000/login/token',
  'HTTPS://v1.api.us.janrain.com/c/login/token',
  'http://localhost/x/login/token',
];
const SECRET_IDS = [
  'tvs/webhooks-us',
  'a',
  'x+=.@-_/y',
  'arn:aws:secretsmanager:us-east-1:123456789012:secret:tvs/webhooks-us-AbCdEf',
];
const PRINCIPALS = [
  'arn:aws:iam::123456789012:role/orders-service',
  'arn:aws:iam::123456789012:role/credential-*',
  'arn:aws-cn:iam::123456789012:user/ops',
];
/** Client scope sets, each with grant scopes it covers. */
const SCOPE_SETS = [
  { allowed: ['*:webhooks/**'], granted: [['.:webhooks/**'], ['*:webhooks/**', '.:webhooks/x']] },
  { allowed: ['*:config/**'], granted: [['.:config/**'], ['*:config/clients/*']] },
  { allowed: ['*:**'], granted: [['*:**'], ['.:config/loginPolicies/abc']] },
];

/** A valid document: clients (some rotating via a client that can reset), grants within their scopes. */
const validDocument: fc.Arbitrary<Doc> = fc
  .tuple(
    fc.uniqueArray(fc.constantFrom(...CLIENT_NAMES), { minLength: 1, maxLength: 3 }),
    fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.boolean(), fc.integer({ min: 1, max: 1000 })), {
      minLength: 3,
      maxLength: 3,
    }),
    fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { maxLength: 4 }),
    fc.boolean(),
  )
  .map(([names, picks, grantPicks, withSchema]) => {
    const clients: Doc = {};
    const sets = new Map<string, (typeof SCOPE_SETS)[number]>();
    names.forEach((name, index) => {
      const [endpoint, secret, set, rotate, days] = picks[index] as [number, number, number, boolean, number];
      const scopes = SCOPE_SETS[set % SCOPE_SETS.length] as (typeof SCOPE_SETS)[number];
      sets.set(name, scopes);
      const canReset = scopes.allowed[0] !== '*:webhooks/**';
      clients[name] = {
        tokenEndpoint: ENDPOINTS[endpoint % ENDPOINTS.length] as string,
        secretId: SECRET_IDS[secret % SECRET_IDS.length] as string,
        allowedScopes: [...scopes.allowed],
        ...(rotate && canReset
          ? { rotation: { every: `${days} day${days === 1 ? '' : 's'}`, via: name }, clientId: `${name}-id` }
          : {}),
      };
    });
    const grants = grantPicks.map(([principal, client, granted]) => {
      const name = names[client % names.length] as string;
      const set = sets.get(name) as (typeof SCOPE_SETS)[number];
      return {
        principal: PRINCIPALS[principal % PRINCIPALS.length] as string,
        client: name,
        scopes: [...(set.granted[granted % set.granted.length] as string[])],
      };
    });
    // The same grant twice is an error of the parser's (a semantic rule): a valid document has each once.
    const unique = [...new Map(grants.map((grant) => [JSON.stringify(grant), grant])).values()];
    return { ...(withSchema ? { $schema: './tvs.config.schema.json' } : {}), clients, grants: unique };
  });

/** Where a mutation applies: a path of keys into the document, and what it does there. */
type Mutation = (doc: Doc) => void;

const clone = (doc: Doc): Doc => structuredClone(doc);
const firstClient = (doc: Doc) => {
  const clients = doc.clients as Doc;
  const name = Object.keys(clients)[0] as string;
  return { name, client: clients[name] as Doc, clients };
};
const firstGrant = (doc: Doc): Doc | undefined => (doc.grants as Json[])[0] as Doc | undefined;
/** Values of the wrong type for every field they are put in (a string would be right for some). */
const wrongValues: Json[] = [null, 7, true, [], {}];

/** Faults of structure: the schema and the parser both refuse them. */
const structural: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constantFrom<Mutation>(
    (doc) => delete doc.clients,
    (doc) => delete doc.grants,
    (doc) => (doc.clients = {}),
    (doc) => (doc.extra = 1),
    (doc) => delete firstClient(doc).client.tokenEndpoint,
    (doc) => delete firstClient(doc).client.secretId,
    (doc) => delete firstClient(doc).client.allowedScopes,
    (doc) => (firstClient(doc).client.allowedScopes = []),
    (doc) => (firstClient(doc).client.tokenendpoint = 'x'),
    (doc) => (firstClient(doc).client.rotation = { every: '30 days' }),
    (doc) => (firstClient(doc).client.rotation = { via: firstClient(doc).name }),
    (doc) => (firstClient(doc).client.rotation = { every: '30 days', via: firstClient(doc).name, at: 1 }),
    (doc) => {
      const { client } = firstClient(doc);
      client.rotation = { every: '30 days', via: firstClient(doc).name };
      delete client.clientId;
    },
    (doc) => {
      const { client } = firstClient(doc);
      delete client.rotation;
      client.clientId = 'an-id';
    },
    (doc) => {
      const { client, name } = firstClient(doc);
      client.rotation = { every: '30 days', via: name };
      client.clientId = 'has space';
    },
    (doc) => (doc.grants = [{ principal: PRINCIPALS[0] as string, client: firstClient(doc).name }]),
    (doc) =>
      (doc.grants = [{ principal: PRINCIPALS[0] as string, client: firstClient(doc).name, scopes: [] }]),
    (doc) =>
      (doc.grants = [
        { principal: PRINCIPALS[0] as string, client: firstClient(doc).name, scopes: ['*:**'], note: 'x' },
      ]),
  ),
  fc.constantFrom('Upper', '-x', 'a'.repeat(65), '', 'a b', 'a#b').map<Mutation>((bad) => (doc) => {
    const { name, client, clients } = firstClient(doc);
    delete clients[name];
    clients[bad] = client;
  }),
  fc
    .constantFrom(
      'ftp://v1.api.us.janrain.com/c/login/token',
      'https://v1.api.us.janrain.com/c/login/token?x=1',
      'https://v1.api.us.janrain.com/c/login/token#f',
      'https://user:pass@v1.api.us.janrain.com/c/login/token',
      'https://v1.api.us.janrain.com/a b/login/token',
      ' https://v1.api.us.janrain.com/c/login/token',
      'https://v1.api.us.janrain.com/é/login/token',
      `https://v1.api.us.janrain.com/${'c'.repeat(2048)}/login/token`,
      '',
    )
    .map<Mutation>((bad) => (doc) => (firstClient(doc).client.tokenEndpoint = bad)),
  fc
    .constantFrom('a b', 'arn:aws:s3:::bucket', '', 'x'.repeat(513), 'tvs:webhooks', 'é')
    .map<Mutation>((bad) => (doc) => (firstClient(doc).client.secretId = bad)),
  fc
    .constantFrom('0 days', '1001 days', '30', '30 Days', 'thirty days', ' 30 days', '030 days')
    .map<Mutation>(
      (bad) => (doc) => (firstClient(doc).client.rotation = { every: bad, via: firstClient(doc).name }),
    ),
  fc
    .constantFrom('config/**', '*:', '+:config/**', '*:config/%20', '*:a b', '*:config/?')
    .map<Mutation>((bad) => (doc) => (firstClient(doc).client.allowedScopes = [bad])),
  fc
    .constantFrom('role/orders', 'arn:aws:sts::123456789012:assumed-role/r/s', 'arn:aws:iam::12345:role/r')
    .map<Mutation>((bad) => (doc) => {
      doc.grants = [{ principal: bad, client: firstClient(doc).name, scopes: ['.:x'] }];
    }),
  fc
    .tuple(
      fc.constantFrom<(doc: Doc) => [Doc, string] | undefined>(
        (doc) => [doc, 'clients'],
        (doc) => [doc, 'grants'],
        (doc) => [doc, '$schema'],
        (doc) => [firstClient(doc).client, 'tokenEndpoint'],
        (doc) => [firstClient(doc).client, 'secretId'],
        (doc) => [firstClient(doc).client, 'allowedScopes'],
        (doc) => [firstClient(doc).clients, firstClient(doc).name],
        (doc) => {
          const grant = firstGrant(doc);
          return grant && [grant, 'principal'];
        },
        (doc) => {
          const grant = firstGrant(doc);
          return grant && [grant, 'client'];
        },
        (doc) => {
          const grant = firstGrant(doc);
          return grant && [grant, 'scopes'];
        },
      ),
      fc.constantFrom(...wrongValues),
    )
    .map<Mutation>(([where, value]) => (doc) => {
      const at = where(doc);
      if (at === undefined) {
        doc.grants = value as Json;
        if (Array.isArray(value)) doc.grants = [value];
        return;
      }
      const [parent, key] = at;
      // An empty array is the right type for array fields: give them an array of a number instead.
      const fitting = Array.isArray(value) && Array.isArray(parent[key]) ? [7] : value;
      parent[key] = fitting as Json;
    }),
);

/** Faults only the parser sees (see docs/configuration.md): the schema accepts them. */
const semantic: fc.Arbitrary<Mutation> = fc.constantFrom<Mutation>(
  (doc) =>
    (doc.grants = [{ principal: PRINCIPALS[0] as string, client: 'no-such-client', scopes: ['*:**'] }]),
  (doc) => {
    const { name, client } = firstClient(doc);
    client.allowedScopes = ['.:webhooks/**'];
    doc.grants = [{ principal: PRINCIPALS[0] as string, client: name, scopes: ['*:webhooks/**'] }];
  },
  (doc) => {
    const { client } = firstClient(doc);
    client.rotation = { every: '30 days', via: 'no-such-client' };
    client.clientId = 'an-id';
  },
  (doc) => {
    const { client, name } = firstClient(doc);
    client.allowedScopes = ['*:webhooks/**'];
    client.rotation = { every: '30 days', via: name };
    client.clientId = 'an-id';
    doc.grants = [];
  },
  (doc) => {
    const grant = { principal: PRINCIPALS[0] as string, client: firstClient(doc).name, scopes: ['*:**'] };
    firstClient(doc).client.allowedScopes = ['*:**'];
    doc.grants = [grant, { ...grant, scopes: ['*:**'] }];
  },
  (doc) => (firstClient(doc).client.allowedScopes = ['*:a//b']),
  (doc) => (firstClient(doc).client.allowedScopes = ['*:/config/**']),
  (doc) => (firstClient(doc).client.allowedScopes = ['*:config/***']),
  (doc) => (firstClient(doc).client.allowedScopes = ['*:config/../x']),
  (doc) => (firstClient(doc).client.tokenEndpoint = 'http://v1.api.us.janrain.com/c/login/token'),
  (doc) => (firstClient(doc).client.tokenEndpoint = 'https://v1.api.us.janrain.com/c/login/tokens'),
  (doc) => (firstClient(doc).client.tokenEndpoint = 'https:'),
  (doc) => {
    doc.grants = [
      { principal: 'arn:aws:iam::123456789012:role/a/b', client: firstClient(doc).name, scopes: ['.:x'] },
    ];
    firstClient(doc).client.allowedScopes = ['*:**'];
  },
);

function apply(doc: Doc, mutation: Mutation): Doc {
  const copy = clone(doc);
  try {
    mutation(copy);
  } catch {
    // An edit that no longer fits a document an earlier edit changed leaves it as it was.
    return clone(doc);
  }
  return copy;
}

describe('config/tvs.config.schema.json', () => {
  it('accepts every valid document the parser accepts', () => {
    fc.assert(
      fc.property(validDocument, (doc) => {
        expect(parserAccepts(doc)).toBe(true);
        expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses exactly what the parser refuses for faults of structure', () => {
    fc.assert(
      fc.property(validDocument, structural, (doc, mutation) => {
        const broken = apply(doc, mutation);
        expect(parserAccepts(broken)).toBe(false);
        expect(validate(broken)).toBe(false);
      }),
      { numRuns: 1_000 },
    );
  });

  it('lets pass the faults only the parser checks, which the parser refuses', () => {
    fc.assert(
      fc.property(validDocument, semantic, (doc, mutation) => {
        const broken = apply(doc, mutation);
        expect(parserAccepts(broken)).toBe(false);
        expect(validate(broken), JSON.stringify(validate.errors)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('never refuses a document the parser accepts, over mixed edits', () => {
    fc.assert(
      fc.property(validDocument, fc.array(fc.oneof(structural, semantic), { maxLength: 3 }), (doc, edits) => {
        const edited = edits.reduce(apply, doc);
        if (parserAccepts(edited)) expect(validate(edited), JSON.stringify(validate.errors)).toBe(true);
        if (!validate(edited)) expect(parserAccepts(edited)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('agrees with the local server on the local section, allowedAccounts included', () => {
    const base = {
      clients: { a: { tokenEndpoint: ENDPOINTS[0], secretId: 'a', allowedScopes: ['*:webhooks/**'] } },
      grants: [],
    };
    const caller = { AKIDLOCAL0000001: { secretAccessKey: 'local-secret', arn: PRINCIPALS[0] } };
    const accounts = fc.oneof(
      fc.array(fc.stringMatching(/^[0-9]{12}$/), { minLength: 1, maxLength: 3 }),
      fc.constantFrom<Json>([], ['12345678901'], ['1234567890123'], [123456789012], 'abc', ['x'.repeat(12)]),
    );
    fc.assert(
      fc.property(accounts, fc.boolean(), (allowedAccounts, withRegion) => {
        const doc = {
          ...base,
          local: { callers: caller, allowedAccounts, ...(withRegion ? { region: 'eu-west-1' } : {}) },
        };
        expect(parserAccepts(doc)).toBe(true);
        expect(validate(doc), JSON.stringify(validate.errors)).toBe(localServerAccepts(doc));
      }),
      { numRuns: 200 },
    );
  });

  it('accepts the shipped configuration files', () => {
    for (const file of ['config/tvs.config.json', 'demo/tvs.config.json']) {
      const document = JSON.parse(readFileSync(join(ROOT, file), 'utf8'));
      expect(validate(document), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });
});
