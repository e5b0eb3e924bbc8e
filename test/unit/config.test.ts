import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  grantsForCaller,
  isAuthorized,
  loadServiceConfig,
  parseServiceConfig,
  parseServiceConfigText,
  type ServiceConfig,
} from '../../lambdas/vend-token/config';
import { ConfigError } from '../../src/shared/errors';
import { parseScopes } from '../../src/shared/scopes';

const ACCOUNT = '123456789012';
const ORDERS_ROLE = `arn:aws:iam::${ACCOUNT}:role/orders-service`;
const ORDERS_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/orders-service/i-0abc`;
const ROTATION_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/credential-rotation-prod/run-42`;
const STRANGER_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/stranger/s1`;
const LOGIN_POLICY = 'config/loginPolicies/1ab23c45-6789-0123-d4ef-5g678h90ijk1';

// biome-ignore lint/suspicious/noExplicitAny: the tests reach into and break arbitrary parts of the JSON.
type ConfigDocument = Record<string, any>;

/** A valid document; each test changes a copy of it. */
function validDocument(): ConfigDocument {
  return {
    $schema: './config.schema.json',
    local: { port: 8080, anything: ['is', 'ignored'] },
    clients: {
      'webhooks-us': {
        tokenEndpoint: 'https://v1.api.us.janrain.com/12345678-1234-1234-1234-123456789012/login/token',
        secretId: 'tvs/webhooks-us',
        allowedScopes: ['*:webhooks/**'],
      },
      'config-eu': {
        tokenEndpoint: 'https://v1.api.eu.janrain.com/12345678-1234-1234-1234-123456789012/login/token',
        secretId: `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:tvs/config-eu-AbCdEf`,
        allowedScopes: ['*:config/**'],
      },
      'config-us': {
        tokenEndpoint: 'https://v1.api.us.janrain.com/12345678-1234-1234-1234-123456789012/login/token',
        secretId: 'tvs/config-us',
        allowedScopes: ['*:config/**'],
      },
    },
    grants: [
      { principal: ORDERS_ROLE, client: 'webhooks-us', scopes: ['.:webhooks/**'] },
      {
        principal: `arn:aws:iam::${ACCOUNT}:role/credential-rotation-*`,
        client: 'config-eu',
        scopes: ['*:config/**'],
      },
      {
        principal: ORDERS_ROLE,
        client: 'config-eu',
        scopes: ['.:config/tokenPolicies**', '.:config/loginPolicies**'],
      },
      { principal: ORDERS_ROLE, client: 'config-eu', scopes: ['.:config/loginPolicies**'] },
    ],
  };
}

/** The problems `parseServiceConfig` reports for `document`, failing the test if it accepts it. */
function problemsOf(document: unknown): readonly string[] {
  try {
    parseServiceConfig(document);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the document to be refused');
}

function withChange(change: (document: ConfigDocument) => void): ConfigDocument {
  const document = validDocument();
  change(document);
  return document;
}

describe('parseServiceConfig', () => {
  it('accepts a valid document and keeps only clients and grants', () => {
    // Act
    const config = parseServiceConfig(validDocument());

    // Assert
    const { $schema: _schema, local: _local, ...expected } = validDocument();
    expect(JSON.parse(JSON.stringify(config))).toEqual(expected);
    expect(Object.isFrozen(config.clients['webhooks-us']?.allowedScopes)).toBe(true);
    expect(Object.isFrozen(config.grants[0])).toBe(true);
  });

  it('accepts an empty grants array and loopback http endpoints', () => {
    const document = withChange((d) => {
      d.grants = [];
      d.clients['webhooks-us'].tokenEndpoint = 'http://127.0.0.1:8443/customer/login/token';
      d.clients['config-eu'].tokenEndpoint = 'http://localhost/customer/login/token';
    });
    expect(parseServiceConfig(document).grants).toEqual([]);
  });

  it('does not expose an inherited property as a client', () => {
    const config = parseServiceConfig(validDocument());
    expect(config.clients.constructor).toBeUndefined();
  });

  const failures: { rule: string; change: (d: ConfigDocument) => void; problem: string }[] = [
    { rule: 'an unknown top-level key', change: (d) => (d.extra = 1), problem: 'extra: unknown key' },
    { rule: 'a non-string $schema', change: (d) => (d.$schema = 1), problem: '$schema: expected a string' },
    { rule: 'missing clients', change: (d) => delete d.clients, problem: 'clients: required' },
    { rule: 'clients as an array', change: (d) => (d.clients = []), problem: 'clients: required' },
    { rule: 'no clients', change: (d) => (d.clients = {}), problem: 'clients: expected at least one client' },
    {
      rule: 'an upper-case client name',
      change: (d) => (d.clients['Webhooks-US'] = d.clients['webhooks-us']),
      problem: 'clients.Webhooks-US: client name must match',
    },
    {
      rule: 'a client name with a space',
      change: (d) => (d.clients['web hooks'] = d.clients['webhooks-us']),
      problem: 'clients["web hooks"]: client name must match',
    },
    {
      rule: 'a client name over 64 characters',
      change: (d) => (d.clients[`a${'b'.repeat(64)}`] = d.clients['webhooks-us']),
      problem: `clients.a${'b'.repeat(64)}: client name must match`,
    },
    {
      rule: 'a client that is not an object',
      change: (d) => (d.clients['webhooks-us'] = 'x'),
      problem: 'clients.webhooks-us: expected an object',
    },
    {
      rule: 'an unknown client key',
      change: (d) => (d.clients['webhooks-us'].scope = 'x'),
      problem: 'clients.webhooks-us.scope: unknown key',
    },
    {
      rule: 'a missing tokenEndpoint',
      change: (d) => delete d.clients['webhooks-us'].tokenEndpoint,
      problem: 'clients.webhooks-us.tokenEndpoint: required',
    },
    {
      rule: 'a tokenEndpoint that is not a URL',
      change: (d) => (d.clients['webhooks-us'].tokenEndpoint = 'v1.api.us.janrain.com/login/token'),
      problem: 'clients.webhooks-us.tokenEndpoint: "v1.api.us.janrain.com/login/token" is not a URL',
    },
    {
      rule: 'a non-loopback http tokenEndpoint',
      change: (d) => (d.clients['webhooks-us'].tokenEndpoint = 'http://v1.api.us.janrain.com/c/login/token'),
      problem:
        'clients.webhooks-us.tokenEndpoint: must use https (http is allowed only for 127.0.0.1 and localhost)',
    },
    {
      rule: 'a tokenEndpoint whose host only starts like loopback',
      change: (d) => (d.clients['webhooks-us'].tokenEndpoint = 'http://127.0.0.1.evil.example/c/login/token'),
      problem: 'clients.webhooks-us.tokenEndpoint: must use https',
    },
    {
      rule: 'another scheme',
      change: (d) => (d.clients['webhooks-us'].tokenEndpoint = 'ftp://v1.api.us.janrain.com/c/login/token'),
      problem: 'clients.webhooks-us.tokenEndpoint: must use https, not "ftp:"',
    },
    {
      rule: 'credentials in the tokenEndpoint',
      change: (d) =>
        (d.clients['webhooks-us'].tokenEndpoint = 'https://id:secret@v1.api.us.janrain.com/c/login/token'),
      problem: 'clients.webhooks-us.tokenEndpoint: must not contain a user name or password',
    },
    {
      rule: 'a query in the tokenEndpoint',
      change: (d) =>
        (d.clients['webhooks-us'].tokenEndpoint = 'https://v1.api.us.janrain.com/c/login/token?x=1'),
      problem: 'clients.webhooks-us.tokenEndpoint: must not have a query or fragment',
    },
    {
      rule: 'an empty fragment in the tokenEndpoint',
      change: (d) =>
        (d.clients['webhooks-us'].tokenEndpoint = 'https://v1.api.us.janrain.com/c/login/token#'),
      problem: 'clients.webhooks-us.tokenEndpoint: must not have a query or fragment',
    },
    {
      rule: 'a tokenEndpoint with another path',
      change: (d) => (d.clients['webhooks-us'].tokenEndpoint = 'https://v1.api.us.janrain.com/c/oauth/token'),
      problem: 'clients.webhooks-us.tokenEndpoint: path must end with /login/token',
    },
    {
      rule: 'a tokenEndpoint with surrounding whitespace',
      change: (d) =>
        (d.clients['webhooks-us'].tokenEndpoint = ' https://v1.api.us.janrain.com/c/login/token'),
      problem: 'clients.webhooks-us.tokenEndpoint: must contain only printable ASCII characters',
    },
    {
      rule: 'a missing secretId',
      change: (d) => delete d.clients['webhooks-us'].secretId,
      problem: 'clients.webhooks-us.secretId: required',
    },
    {
      rule: 'a secretId with a space',
      change: (d) => (d.clients['webhooks-us'].secretId = 'tvs/webhooks us'),
      problem: 'clients.webhooks-us.secretId: a secret name may use only',
    },
    {
      rule: 'a secretId over 512 characters',
      change: (d) => (d.clients['webhooks-us'].secretId = 's'.repeat(513)),
      problem: 'clients.webhooks-us.secretId: is 513 characters long; at most 512 are allowed',
    },
    {
      rule: 'a secretId ARN of another service',
      change: (d) => (d.clients['webhooks-us'].secretId = `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/x`),
      problem:
        'clients.webhooks-us.secretId: "arn:aws:ssm:us-east-1:123456789012:parameter/x" is not a Secrets',
    },
    {
      rule: 'empty allowedScopes',
      change: (d) => (d.clients['webhooks-us'].allowedScopes = []),
      problem: 'clients.webhooks-us.allowedScopes: required; expected a non-empty array of scopes',
    },
    {
      rule: 'an allowed scope that does not parse',
      change: (d) => (d.clients['webhooks-us'].allowedScopes = ['*:webhooks/**', 'rw:webhooks']),
      problem: 'clients.webhooks-us.allowedScopes[1]: scope "rw:webhooks": unknown access "rw"',
    },
    {
      rule: 'two scopes in one allowedScopes entry',
      change: (d) => (d.clients['webhooks-us'].allowedScopes = ['*:webhooks/** .:config/**']),
      problem:
        'clients.webhooks-us.allowedScopes[0]: scope "*:webhooks/** .:config/**": character U+0020 at position',
    },
    {
      rule: 'an allowed scope that is not a string',
      change: (d) => (d.clients['webhooks-us'].allowedScopes = [7]),
      problem: 'clients.webhooks-us.allowedScopes[0]: expected a string',
    },
    { rule: 'missing grants', change: (d) => delete d.grants, problem: 'grants: required' },
    { rule: 'grants as an object', change: (d) => (d.grants = {}), problem: 'grants: required' },
    {
      rule: 'a grant that is not an object',
      change: (d) => (d.grants[1] = null),
      problem: 'grants[1]: expected an object',
    },
    {
      rule: 'an unknown grant key',
      change: (d) => (d.grants[0].note = 'x'),
      problem: 'grants[0].note: unknown key',
    },
    {
      rule: 'a missing principal',
      change: (d) => delete d.grants[2].principal,
      problem: 'grants[2].principal: required',
    },
    {
      rule: 'a wildcard outside the role name',
      change: (d) => (d.grants[3].principal = 'arn:aws:iam::*:role/orders-service'),
      problem: 'grants[3].principal: "*" may appear only in the role name',
    },
    {
      rule: 'an unknown client',
      change: (d) => (d.grants[0].client = 'webhooks-eu'),
      problem: 'grants[0].client: unknown client "webhooks-eu"',
    },
    {
      rule: 'an inherited property as the client',
      change: (d) => (d.grants[0].client = 'constructor'),
      problem: 'grants[0].client: unknown client "constructor"',
    },
    {
      rule: 'empty grant scopes',
      change: (d) => (d.grants[0].scopes = []),
      problem: 'grants[0].scopes: required',
    },
    {
      rule: 'a grant scope that does not parse',
      change: (d) => (d.grants[2].scopes = ['.:config/tokenPolicies**', '.:config/***']),
      problem: 'grants[2].scopes[1]: scope ".:config/***": 3 consecutive "*"',
    },
    {
      rule: 'a grant scope wider than the client allows',
      change: (d) => (d.grants[0].scopes = ['.:webhooks/**', '*:**']),
      problem: 'grants[0].scopes[1]: "*:**" is wider than client "webhooks-us" allowedScopes',
    },
    {
      rule: 'a grant scope with wider access than the client allows',
      change: (d) => (d.clients['config-eu'].allowedScopes = ['.:config/**']),
      problem: 'grants[1].scopes[0]: "*:config/**" is wider than client "config-eu" allowedScopes',
    },
  ];

  it.each(failures)('refuses $rule, naming the exact path', ({ change, problem }) => {
    // Arrange
    const document = withChange(change);

    // Act
    const problems = problemsOf(document);

    // Assert
    expect(problems).toHaveLength(1);
    expect(problems[0]?.slice(0, problem.length)).toBe(problem);
  });

  it.each([null, [], 'x', 42])('refuses a document that is not an object: %j', (document) => {
    expect(problemsOf(document)).toEqual(['(document): expected a JSON object with "clients" and "grants"']);
  });

  it('lists every problem at once', () => {
    // Arrange
    const document = withChange((d) => {
      d.extra = true;
      d.clients['webhooks-us'].tokenEndpoint = 'http://example.com/login/token';
      d.clients['webhooks-us'].secretId = '';
      d.grants[0].principal = 'orders-service';
      d.grants[0].scopes = ['*:**'];
      d.grants[3].client = 'nope';
    });

    // Act
    const problems = problemsOf(document);

    // Assert
    expect(problems.map((problem) => problem.slice(0, problem.indexOf(': ')))).toEqual([
      'extra',
      'clients.webhooks-us.tokenEndpoint',
      'clients.webhooks-us.secretId',
      'grants[0].principal',
      'grants[0].scopes[0]',
      'grants[3].client',
    ]);
  });

  it('says in the error message what is wrong', () => {
    const error = (() => {
      try {
        parseServiceConfig(withChange((d) => (d.grants[0].client = 'nope')));
      } catch (caught) {
        return caught as Error;
      }
      return undefined;
    })();
    expect(error?.message).toBe(
      'invalid Token Vending Service configuration:\n  - grants[0].client: unknown client "nope"',
    );
  });
});

describe('parseServiceConfigText', () => {
  it('parses and validates JSON text', () => {
    const config = parseServiceConfigText(JSON.stringify(validDocument()));
    expect(Object.keys(config.clients).sort()).toEqual(['config-eu', 'config-us', 'webhooks-us']);
  });

  it('reports a JSON syntax error as a ConfigError', () => {
    expect(() => parseServiceConfigText('{"clients": ')).toThrow(ConfigError);
    try {
      parseServiceConfigText('{"clients": ');
    } catch (error) {
      expect((error as ConfigError).problems[0]).toMatch(/^\(document\): not valid JSON: /);
    }
  });
});

describe('loadServiceConfig', () => {
  const directory = mkdtempSync(join(tmpdir(), 'tvs-config-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('reads inline JSON from TVS_CONFIG', () => {
    const config = loadServiceConfig({ TVS_CONFIG: JSON.stringify(validDocument()) });
    expect(config.grants).toHaveLength(4);
  });

  it('reads the file named by TVS_CONFIG_FILE when TVS_CONFIG is unset or empty', () => {
    // Arrange
    const file = join(directory, 'config.json');
    writeFileSync(file, JSON.stringify(withChange((d) => (d.grants = []))));

    // Act
    const config = loadServiceConfig({ TVS_CONFIG: '', TVS_CONFIG_FILE: file });

    // Assert
    expect(config.grants).toEqual([]);
  });

  it('prefers TVS_CONFIG over TVS_CONFIG_FILE', () => {
    const config = loadServiceConfig({
      TVS_CONFIG: JSON.stringify(validDocument()),
      TVS_CONFIG_FILE: join(directory, 'missing.json'),
    });
    expect(config.grants).toHaveLength(4);
  });

  it('says how to configure when neither variable is set', () => {
    expect(() => loadServiceConfig({})).toThrow(/set TVS_CONFIG .* or TVS_CONFIG_FILE/);
  });

  it('reports a file that cannot be read', () => {
    const file = join(directory, 'missing.json');
    expect(() => loadServiceConfig({ TVS_CONFIG_FILE: file })).toThrow(
      /cannot read TVS_CONFIG_FILE .*missing\.json.* \(ENOENT\)/,
    );
  });

  it('validates what it loads', () => {
    expect(() => loadServiceConfig({ TVS_CONFIG: '{"clients": {}, "grants": []}' })).toThrow(
      'clients: expected at least one client',
    );
  });

  it('uses process.env by default', () => {
    const saved = { inline: process.env.TVS_CONFIG, file: process.env.TVS_CONFIG_FILE };
    process.env.TVS_CONFIG = JSON.stringify(validDocument());
    try {
      expect(loadServiceConfig().grants).toHaveLength(4);
    } finally {
      if (saved.inline === undefined) delete process.env.TVS_CONFIG;
      else process.env.TVS_CONFIG = saved.inline;
      if (saved.file !== undefined) process.env.TVS_CONFIG_FILE = saved.file;
    }
  });
});

describe('grantsForCaller', () => {
  const config = parseServiceConfig(validDocument());

  it('lists one entry per client, sorted, with the union of the matching grants in canonical order', () => {
    expect(grantsForCaller(config, ORDERS_SESSION)).toEqual([
      { client: 'config-eu', scopes: ['.:config/loginPolicies**', '.:config/tokenPolicies**'] },
      { client: 'webhooks-us', scopes: ['.:webhooks/**'] },
    ]);
  });

  it('matches wildcard principals', () => {
    expect(grantsForCaller(config, ROTATION_SESSION)).toEqual([
      { client: 'config-eu', scopes: ['*:config/**'] },
    ]);
  });

  it('lists nothing for a caller without grants or with a malformed ARN', () => {
    expect(grantsForCaller(config, STRANGER_SESSION)).toEqual([]);
    expect(grantsForCaller(config, 'not an arn')).toEqual([]);
  });
});

describe('isAuthorized', () => {
  const config = parseServiceConfig(validDocument());

  const cases: { caller: string; client: string; scope: string; authorized: boolean }[] = [
    { caller: ORDERS_SESSION, client: 'webhooks-us', scope: '.:webhooks/**', authorized: true },
    {
      caller: ORDERS_SESSION,
      client: 'webhooks-us',
      scope: '.:webhooks/subscriptions/abc',
      authorized: true,
    },
    { caller: ORDERS_SESSION, client: 'webhooks-us', scope: '*:webhooks/**', authorized: false },
    { caller: ORDERS_SESSION, client: 'webhooks-us', scope: '.:config/**', authorized: false },
    { caller: ORDERS_SESSION, client: 'config-eu', scope: `.:${LOGIN_POLICY}`, authorized: true },
    {
      caller: ORDERS_SESSION,
      client: 'config-eu',
      scope: '.:config/tokenPolicies** .:config/loginPolicies**',
      authorized: true,
    },
    { caller: ORDERS_SESSION, client: 'config-eu', scope: '.:config/**', authorized: false },
    { caller: ORDERS_SESSION, client: 'config-eu', scope: `*:${LOGIN_POLICY}`, authorized: false },
    { caller: ROTATION_SESSION, client: 'config-eu', scope: '*:config/**', authorized: true },
    {
      caller: ROTATION_SESSION,
      client: 'config-eu',
      scope: `*:${LOGIN_POLICY} .:config/clients/x`,
      authorized: true,
    },
    { caller: ROTATION_SESSION, client: 'config-eu', scope: '*:**', authorized: false },
    { caller: ROTATION_SESSION, client: 'webhooks-us', scope: '.:webhooks/**', authorized: false },
    { caller: ROTATION_SESSION, client: 'config-us', scope: '.:config/**', authorized: false },
    { caller: STRANGER_SESSION, client: 'webhooks-us', scope: '.:webhooks/**', authorized: false },
    { caller: ORDERS_SESSION, client: 'webhooks-eu', scope: '.:webhooks/**', authorized: false },
    { caller: ORDERS_SESSION, client: 'constructor', scope: '.:webhooks/**', authorized: false },
    { caller: 'garbage', client: 'webhooks-us', scope: '.:webhooks/**', authorized: false },
  ];

  it.each(cases)(
    'answers $authorized for $scope of $client to $caller',
    ({ caller, client, scope, authorized }) => {
      expect(isAuthorized(config, caller, client, parseScopes(scope))).toBe(authorized);
    },
  );

  it('refuses an empty request', () => {
    expect(isAuthorized(config, ORDERS_SESSION, 'webhooks-us', [])).toBe(false);
  });

  it('validates a configuration that did not come from parseServiceConfig instead of trusting it', () => {
    // Arrange: a configuration that never went through validation, whose grant is wider than allowed.
    const unchecked: ServiceConfig = {
      clients: {
        'webhooks-us': {
          tokenEndpoint: 'https://v1.api.us.janrain.com/c/login/token',
          secretId: 'tvs/webhooks-us',
          allowedScopes: ['.:webhooks/**'],
        },
      },
      grants: [{ principal: ORDERS_ROLE, client: 'webhooks-us', scopes: ['*:webhooks/**'] }],
    };

    // Act / Assert: it is validated on first use rather than trusted.
    expect(() => isAuthorized(unchecked, ORDERS_SESSION, 'webhooks-us', parseScopes('*:webhooks/x'))).toThrow(
      ConfigError,
    );
  });

  it('works with a valid configuration that was built by hand', () => {
    const byHand: ServiceConfig = {
      clients: {
        'webhooks-us': {
          tokenEndpoint: 'https://v1.api.us.janrain.com/c/login/token',
          secretId: 'tvs/webhooks-us',
          allowedScopes: ['*:webhooks/**'],
        },
      },
      grants: [{ principal: ORDERS_ROLE, client: 'webhooks-us', scopes: ['.:webhooks/**'] }],
    };
    expect(isAuthorized(byHand, ORDERS_SESSION, 'webhooks-us', parseScopes('.:webhooks/x'))).toBe(true);
    expect(isAuthorized(byHand, ORDERS_SESSION, 'webhooks-us', parseScopes('*:webhooks/x'))).toBe(false);
  });
});
