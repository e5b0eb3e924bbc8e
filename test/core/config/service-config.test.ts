import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, covers, parseScope, parseScopes, type Scope } from '@tvs/client/contract';
import {
  loadServiceConfig,
  parseServiceConfig,
  parseServiceConfigText,
  ServiceConfig,
} from '@tvs/core/config/service-config';
import {
  callerPrincipal,
  isValidPrincipalPattern,
  parsePrincipalPattern,
  principalMatches,
} from '@tvs/core/policy/principals';
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';

// Every parser of principals and scopes, wrapped in a spy that counts calls and does what the original
// does, for every module that imports it: the test that authorizing parses nothing of the configuration.
vi.mock('@tvs/core/policy/principals', async (importOriginal) => {
  const original = await importOriginal<typeof import('@tvs/core/policy/principals')>();
  return {
    ...original,
    callerPrincipal: vi.fn(original.callerPrincipal),
    isValidPrincipalPattern: vi.fn(original.isValidPrincipalPattern),
    parsePrincipalPattern: vi.fn(original.parsePrincipalPattern),
    principalMatches: vi.fn(original.principalMatches),
  };
});
vi.mock('@tvs/client/contract', async (importOriginal) => {
  const original = await importOriginal<typeof import('@tvs/client/contract')>();
  return {
    ...original,
    covers: vi.fn(original.covers),
    parseScope: vi.fn(original.parseScope),
    parseScopes: vi.fn(original.parseScopes),
  };
});

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
    expect(JSON.parse(JSON.stringify(config.document))).toEqual(expected);
    expect(Object.isFrozen(config.document.clients['webhooks-us']?.allowedScopes)).toBe(true);
    expect(Object.isFrozen(config.document.grants[0])).toBe(true);
  });

  it('accepts an empty grants array and loopback http endpoints', () => {
    const document = withChange((d) => {
      d.grants = [];
      d.clients['webhooks-us'].tokenEndpoint = 'http://127.0.0.1:8443/customer/login/token';
      d.clients['config-eu'].tokenEndpoint = 'http://localhost/customer/login/token';
    });
    expect(parseServiceConfig(document).document.grants).toEqual([]);
  });

  it('does not expose an inherited property as a client', () => {
    const config = parseServiceConfig(validDocument());
    expect(config.document.clients.constructor).toBeUndefined();
    expect(config.client('constructor')).toBeUndefined();
    expect(config.client('__proto__')).toBeUndefined();
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
    expect(Object.keys(config.document.clients).sort()).toEqual(['config-eu', 'config-us', 'webhooks-us']);
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
    expect(config.document.grants).toHaveLength(4);
  });

  it('reads the file named by TVS_CONFIG_FILE when TVS_CONFIG is unset or empty', () => {
    // Arrange
    const file = join(directory, 'config.json');
    writeFileSync(file, JSON.stringify(withChange((d) => (d.grants = []))));

    // Act
    const config = loadServiceConfig({ TVS_CONFIG: '', TVS_CONFIG_FILE: file });

    // Assert
    expect(config.document.grants).toEqual([]);
  });

  it('prefers TVS_CONFIG over TVS_CONFIG_FILE', () => {
    const config = loadServiceConfig({
      TVS_CONFIG: JSON.stringify(validDocument()),
      TVS_CONFIG_FILE: join(directory, 'missing.json'),
    });
    expect(config.document.grants).toHaveLength(4);
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
      expect(loadServiceConfig().document.grants).toHaveLength(4);
    } finally {
      if (saved.inline === undefined) delete process.env.TVS_CONFIG;
      else process.env.TVS_CONFIG = saved.inline;
      if (saved.file !== undefined) process.env.TVS_CONFIG_FILE = saved.file;
    }
  });
});

describe('ServiceConfig.clientsFor', () => {
  const config = parseServiceConfig(validDocument());

  it('lists one entry per client, sorted, with the union of the matching grants in canonical order', () => {
    expect(config.clientsFor(ORDERS_SESSION)).toEqual([
      { client: 'config-eu', scopes: ['.:config/loginPolicies**', '.:config/tokenPolicies**'] },
      { client: 'webhooks-us', scopes: ['.:webhooks/**'] },
    ]);
  });

  it('matches wildcard principals', () => {
    expect(config.clientsFor(ROTATION_SESSION)).toEqual([{ client: 'config-eu', scopes: ['*:config/**'] }]);
  });

  it('lists nothing for a caller without grants or with a malformed ARN', () => {
    expect(config.clientsFor(STRANGER_SESSION)).toEqual([]);
    expect(config.clientsFor('not an arn')).toEqual([]);
  });
});

describe('ServiceConfig.authorize', () => {
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
      expect(config.authorize(caller, client, parseScopes(scope))).toBe(authorized);
    },
  );

  it('refuses an empty request', () => {
    expect(config.authorize(ORDERS_SESSION, 'webhooks-us', [])).toBe(false);
  });

  it('refuses a hand-written configuration whose grant is wider than its client, and needs it parsed', () => {
    // Arrange: a document that never went through validation, whose grant is wider than allowed.
    const unchecked = {
      clients: {
        'webhooks-us': {
          tokenEndpoint: 'https://v1.api.us.janrain.com/c/login/token',
          secretId: 'tvs/webhooks-us',
          allowedScopes: ['.:webhooks/**'],
        },
      },
      grants: [{ principal: ORDERS_ROLE, client: 'webhooks-us', scopes: ['*:webhooks/**'] }],
    };

    // Act / Assert: the only way to a ServiceConfig is the parser, and it refuses the document.
    expect(() => parseServiceConfig(unchecked)).toThrow(ConfigError);
    // @ts-expect-error a plain object lacks the private members of ServiceConfig
    const trusted: ServiceConfig = unchecked;
    expect(trusted).not.toBeInstanceOf(ServiceConfig);
  });

  it('works with a valid configuration that was written by hand and parsed', () => {
    const byHand = parseServiceConfig({
      clients: {
        'webhooks-us': {
          tokenEndpoint: 'https://v1.api.us.janrain.com/c/login/token',
          secretId: 'tvs/webhooks-us',
          allowedScopes: ['*:webhooks/**'],
        },
      },
      grants: [{ principal: ORDERS_ROLE, client: 'webhooks-us', scopes: ['.:webhooks/**'] }],
    });
    expect(byHand.authorize(ORDERS_SESSION, 'webhooks-us', parseScopes('.:webhooks/x'))).toBe(true);
    expect(byHand.authorize(ORDERS_SESSION, 'webhooks-us', parseScopes('*:webhooks/x'))).toBe(false);
  });

  it('parses no principal pattern and no scope of the configuration, and the caller once, per call', () => {
    // Arrange: the parsers are wrapped in counting spies (vi.mock at the top of this file). Parsing a
    // configuration goes through them, which shows they see what the configuration module calls.
    const config = parseServiceConfig(validDocument());
    expect(vi.mocked(parsePrincipalPattern).mock.calls.length).toBeGreaterThan(0);
    expect(vi.mocked(parseScope).mock.calls.length).toBeGreaterThan(0);
    const requests = cases.map(({ caller, client, scope }) => ({
      caller,
      client,
      scopes: parseScopes(scope),
    }));
    vi.clearAllMocks();

    // Act
    for (const { caller, client, scopes } of requests) {
      config.authorize(caller, client, scopes);
      config.clientsFor(caller);
      config.withinAllowedScopes(client, scopes);
    }

    // Assert
    for (const parser of [
      parsePrincipalPattern,
      isValidPrincipalPattern,
      principalMatches,
      parseScope,
      parseScopes,
    ]) {
      expect(vi.mocked(parser)).not.toHaveBeenCalled();
    }
    // One principal per authorize and per clientsFor, except for requests refused before the caller
    // matters (an unknown client).
    const unknownClients = requests.filter(({ client }) => config.client(client) === undefined).length;
    expect(vi.mocked(callerPrincipal)).toHaveBeenCalledTimes(2 * requests.length - unknownClients);
  });
});

describe('ServiceConfig.authorize, remembering decisions', () => {
  const callers = [ORDERS_SESSION, ROTATION_SESSION, STRANGER_SESSION, `${ORDERS_SESSION}-other-session`];
  const clients = ['webhooks-us', 'config-eu', 'config-us'];
  const scopeTexts = [
    '.:webhooks/**',
    '*:webhooks/**',
    '.:webhooks/subscriptions/*',
    '*:config/**',
    '.:config/**',
    `.:${LOGIN_POLICY}`,
    `*:${LOGIN_POLICY}`,
    '.:config/tokenPolicies**',
    '*:config/clients/x',
  ];

  it('answers every sequence of questions as a configuration that remembers nothing does', () => {
    const computing = parseServiceConfig(validDocument(), { maxRememberedDecisions: 0 });
    const question = fc.record({
      caller: fc.constantFrom(...callers),
      client: fc.constantFrom(...clients),
      scope: fc
        .array(fc.constantFrom(...scopeTexts), { minLength: 1, maxLength: 3 })
        .map((texts) => texts.join(' ')),
    });
    fc.assert(
      fc.property(fc.array(question, { minLength: 1, maxLength: 40 }), (questions) => {
        // A small memo, so questions evict each other too.
        const remembering = parseServiceConfig(validDocument(), { maxRememberedDecisions: 4 });
        for (const { caller, client, scope } of questions) {
          const scopes = parseScopes(scope);
          expect(remembering.authorize(caller, client, scopes)).toBe(
            computing.authorize(caller, client, scopes),
          );
        }
      }),
      { numRuns: 200 },
    );
  });

  it('remembers at most maxRememberedDecisions, forgetting the least recently used first', () => {
    // Arrange: a computed decision checks containment; a remembered one does not.
    const config = parseServiceConfig(validDocument(), { maxRememberedDecisions: 2 });
    const computes = (scope: string): boolean => {
      vi.mocked(covers).mockClear();
      config.authorize(ORDERS_SESSION, 'config-eu', parseScopes(scope));
      return vi.mocked(covers).mock.calls.length > 0;
    };

    // Act / Assert
    expect(computes(`.:${LOGIN_POLICY}`)).toBe(true);
    expect(computes('.:config/tokenPolicies/x')).toBe(true);
    expect(computes(`.:${LOGIN_POLICY}`)).toBe(false);
    expect(computes('.:config/**')).toBe(true); // the memo is full: forgets tokenPolicies/x
    expect(computes(`.:${LOGIN_POLICY}`)).toBe(false);
    expect(computes('.:config/tokenPolicies/x')).toBe(true);
  });

  it('shares a decision between sessions of one role, and between spellings of one set of scopes', () => {
    const config = parseServiceConfig(validDocument());
    const computes = (caller: string, scope: string): boolean => {
      vi.mocked(covers).mockClear();
      config.authorize(caller, 'config-eu', parseScopes(scope));
      return vi.mocked(covers).mock.calls.length > 0;
    };
    expect(computes(ORDERS_SESSION, '.:config/tokenPolicies/x .:config/loginPolicies/y')).toBe(true);
    expect(
      computes(
        `${ORDERS_SESSION}-2`,
        ' .:config/loginPolicies/y  .:config/tokenPolicies/x .:config/loginPolicies/y',
      ),
    ).toBe(false);
  });

  it('keys a decision by what containment reads: a scope whose text says otherwise cannot widen one', () => {
    // Arrange: a scope whose text claims more than its access and path, which containment reads.
    const config = parseServiceConfig(validDocument());
    const misleading: Scope = { access: '.', path: 'webhooks/x', text: '*:webhooks/**' };
    expect(config.authorize(ORDERS_SESSION, 'webhooks-us', [misleading])).toBe(true);

    // Act / Assert: the question its text spells is still answered on its own.
    expect(config.authorize(ORDERS_SESSION, 'webhooks-us', parseScopes('*:webhooks/**'))).toBe(false);
  });

  it('refuses a bound that is not a whole number, 0 or more', () => {
    expect(() => parseServiceConfig(validDocument(), { maxRememberedDecisions: -1 })).toThrow(RangeError);
    expect(() => parseServiceConfig(validDocument(), { maxRememberedDecisions: 1.5 })).toThrow(RangeError);
  });
});

describe('ServiceConfig', () => {
  const config = parseServiceConfig(validDocument());

  it('cannot be forged from a plain object, to the type checker or at run time', () => {
    // Arrange: an object with every public member of a ServiceConfig.
    const forged = {
      document: config.document,
      clients: config.clients,
      client: () => undefined,
      clientsFor: () => [],
      authorize: () => true,
      withinAllowedScopes: () => true,
    };

    // Act / Assert
    // @ts-expect-error the class has private members, so it is nominal: a look-alike is not one
    const accepted: ServiceConfig = forged;
    expect(accepted).not.toBeInstanceOf(ServiceConfig);
    expect(() =>
      ServiceConfig.prototype.authorize.call(
        forged,
        ORDERS_SESSION,
        'webhooks-us',
        parseScopes('.:webhooks/x'),
      ),
    ).toThrow(TypeError);
    // Type-level only: the constructor is private, so `new` does not compile outside the class.
    const _constructDirectly = (): ServiceConfig =>
      // @ts-expect-error only parseServiceConfig may construct one
      new ServiceConfig({ document: config.document, clients: new Map(), grants: [] });
  });

  it('is immutable', () => {
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.clients)).toBe(true);
    expect(
      config.clients.every((client) => Object.isFrozen(client) && Object.isFrozen(client.allowedScopes)),
    ).toBe(true);
  });

  it('holds each client with its allowed scopes parsed, in document order', () => {
    expect(config.clients.map((client) => client.name)).toEqual(['webhooks-us', 'config-eu', 'config-us']);
    expect(config.client('config-eu')).toEqual({
      name: 'config-eu',
      tokenEndpoint: 'https://v1.api.eu.janrain.com/12345678-1234-1234-1234-123456789012/login/token',
      secretId: `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:tvs/config-eu-AbCdEf`,
      allowedScopes: parseScopes('*:config/**'),
    });
    expect(config.client('webhooks-eu')).toBeUndefined();
  });

  it('keeps a deeply frozen document that round-trips through JSON to an equal configuration', () => {
    // Act
    const reparsed = parseServiceConfigText(JSON.stringify(config.document));

    // Assert
    const { $schema: _schema, local: _local, ...expected } = validDocument();
    expect(reparsed.document).toEqual(expected);
    expect(JSON.stringify(reparsed.document)).toBe(JSON.stringify(config.document));
    expect(JSON.stringify(config)).toBe(JSON.stringify(config.document));
    expect(reparsed.clients).toEqual(config.clients);
    const callers = [ORDERS_SESSION, ROTATION_SESSION, STRANGER_SESSION];
    expect(callers.map((caller) => reparsed.clientsFor(caller))).toEqual(
      callers.map((caller) => config.clientsFor(caller)),
    );
    const frozenThroughout = (value: unknown): boolean =>
      typeof value !== 'object' ||
      value === null ||
      (Object.isFrozen(value) && Object.values(value).every(frozenThroughout));
    expect(frozenThroughout(config.document)).toBe(true);
  });

  it('checks a request against the client’s allowedScopes alone for the pre-warm', () => {
    expect(config.withinAllowedScopes('config-us', parseScopes('*:config/** .:config/clients/x'))).toBe(true);
    expect(config.withinAllowedScopes('config-us', parseScopes('*:webhooks/**'))).toBe(false);
    expect(config.withinAllowedScopes('config-us', [])).toBe(false);
    expect(config.withinAllowedScopes('constructor', parseScopes('*:config/**'))).toBe(false);
  });
});

describe('rotation', () => {
  const ROTATION_ROLE = `arn:aws:iam::${ACCOUNT}:role/tvs-rotation`;
  const ROTATION_ROLE_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/tvs-rotation/secret-rotation`;
  const WEBHOOKS_ID = 'sgnyvus6pc4jm7khr2neq5gs89gbr2eq';
  const CONFIG_US_ID = '7ba51661-1a7e-4c56-9d1f-2c1a6f0e9e11';
  const CONFIG_EU_ID = 'c0nf1geu';
  const reset = (clientId: string) => parseScopes(`*:config/clients/${clientId}`);

  it('accepts a rotation through another client or the client itself, with its client id, and parses it', () => {
    const config = parseServiceConfig(
      withChange((document) => {
        document.clients['webhooks-us'].rotation = { every: '30 days', via: 'config-us' };
        document.clients['webhooks-us'].clientId = WEBHOOKS_ID;
        document.clients['config-us'].rotation = { every: '1 day', via: 'config-us' };
        document.clients['config-us'].clientId = CONFIG_US_ID;
      }),
    );

    expect(config.client('webhooks-us')?.rotation).toEqual({
      everyDays: 30,
      via: 'config-us',
      clientId: WEBHOOKS_ID,
    });
    expect(config.client('config-us')?.rotation).toEqual({
      everyDays: 1,
      via: 'config-us',
      clientId: CONFIG_US_ID,
    });
    expect(config.document.clients['webhooks-us']).toMatchObject({
      rotation: { every: '30 days', via: 'config-us' },
      clientId: WEBHOOKS_ID,
    });
    expect(config.client('config-eu')?.rotation).toBeUndefined();
  });

  it('requires the client id with a rotation, and only with one, in a form that can stand in a scope', () => {
    expect(
      problemsOf(
        withChange((document) => {
          document.clients['webhooks-us'].rotation = { every: '30 days', via: 'config-us' };
          document.clients['config-us'].clientId = CONFIG_US_ID;
          document.clients['config-eu'].rotation = { every: '30 days', via: 'config-eu' };
          document.clients['config-eu'].clientId = 'a*';
        }),
      ),
    ).toEqual([
      'clients.webhooks-us.clientId: required with "rotation": the client\'s Identity Cloud client id (a rotation refuses a secret naming another)',
      'clients.config-eu.clientId: expected an Identity Cloud client id: 1 to 256 of A-Z a-z 0-9 . _ ~ -',
      'clients.config-us.clientId: only with "rotation" (it names the client whose secret the rotation resets)',
    ]);
  });

  it('refuses a via that is not a client, cannot reset this client id, or is another customer or origin', () => {
    expect(
      problemsOf(
        withChange((document) => {
          document.clients['config-us'].rotation = { every: '30 days', via: 'nobody' };
          document.clients['config-us'].clientId = CONFIG_US_ID;
          document.clients['config-eu'].rotation = { every: '30 days', via: 'webhooks-us' };
          document.clients['config-eu'].clientId = CONFIG_EU_ID;
          // config-eu can reset anything, but it is another origin (eu) than webhooks-us (us).
          document.clients['webhooks-us'].rotation = { every: '30 days', via: 'config-eu' };
          document.clients['webhooks-us'].clientId = WEBHOOKS_ID;
        }),
      ),
    ).toEqual([
      'clients.webhooks-us.rotation.via: client "config-eu" has another token endpoint origin or customer id; a reset must go to the rotated client\'s own Identity Cloud customer',
      `clients.config-eu.rotation.via: client "webhooks-us" cannot reset this secret: its allowedScopes do not cover "*:config/clients/${CONFIG_EU_ID}"`,
      'clients.config-us.rotation.via: unknown client "nobody"',
    ]);
    // The same origin with another customer id.
    expect(
      problemsOf(
        withChange((document) => {
          document.clients['webhooks-us'].tokenEndpoint =
            'https://v1.api.us.janrain.com/99999999-1234-1234-1234-123456789012/login/token';
          document.clients['webhooks-us'].rotation = { every: '30 days', via: 'config-us' };
          document.clients['webhooks-us'].clientId = WEBHOOKS_ID;
        }),
      ),
    ).toEqual([
      'clients.webhooks-us.rotation.via: client "config-us" has another token endpoint origin or customer id; a reset must go to the rotated client\'s own Identity Cloud customer',
    ]);
  });

  it('refuses a rotation of the wrong shape, every problem at once', () => {
    expect(
      problemsOf(
        withChange((document) => {
          document.clients['webhooks-us'].rotation = { every: '30 minutes', via: '', when: 'now' };
          document.clients['webhooks-us'].clientId = WEBHOOKS_ID;
          document.clients['config-us'].rotation = { every: '1001 days', via: 'config-us' };
          document.clients['config-us'].clientId = CONFIG_US_ID;
          document.clients['config-eu'].rotation = 'monthly';
          document.clients['config-eu'].clientId = CONFIG_EU_ID;
        }),
      ),
    ).toEqual([
      'clients.webhooks-us.rotation.when: unknown key; expected one of "every", "via"',
      'clients.webhooks-us.rotation.every: expected "<n> days", n from 1 to 1000 (Secrets Manager rotates at most that rarely)',
      'clients.webhooks-us.rotation.via: required; expected the name of the client whose token resets this secret (it may be itself)',
      'clients.config-eu.rotation: expected an object like {"every": "30 days", "via": "<client name>"}',
      'clients.config-us.rotation.every: expected "<n> days", n from 1 to 1000 (Secrets Manager rotates at most that rarely)',
    ]);
  });

  it('grants the rotation function exactly the reset of each client it rotates on its via client, never a wildcard', () => {
    const document = withChange((changed) => {
      changed.clients['webhooks-us'].rotation = { every: '30 days', via: 'config-us' };
      changed.clients['webhooks-us'].clientId = WEBHOOKS_ID;
      changed.clients['config-us'].rotation = { every: '30 days', via: 'config-us' };
      changed.clients['config-us'].clientId = CONFIG_US_ID;
    });
    const config = parseServiceConfig(document, { rotationPrincipal: ROTATION_ROLE });

    expect(config.authorize(ROTATION_ROLE_SESSION, 'config-us', reset(WEBHOOKS_ID))).toBe(true);
    expect(config.authorize(ROTATION_ROLE_SESSION, 'config-us', reset(CONFIG_US_ID))).toBe(true);
    // What a secret with a swapped client_id would ask for: another client's reset, or every client's.
    expect(config.authorize(ROTATION_ROLE_SESSION, 'config-us', reset('someone-else'))).toBe(false);
    expect(config.authorize(ROTATION_ROLE_SESSION, 'config-us', reset('*'))).toBe(false);
    expect(config.authorize(ROTATION_ROLE_SESSION, 'config-us', parseScopes('*:config/flows/x'))).toBe(false);
    expect(config.authorize(ROTATION_ROLE_SESSION, 'config-eu', reset(WEBHOOKS_ID))).toBe(false);
    expect(config.clientsFor(ROTATION_ROLE_SESSION)).toEqual([
      {
        client: 'config-us',
        scopes: [`*:config/clients/${CONFIG_US_ID}`, `*:config/clients/${WEBHOOKS_ID}`],
      },
    ]);
    // Without the principal (the bundled document, synth) there is no such grant.
    expect(
      parseServiceConfig(document).authorize(ROTATION_ROLE_SESSION, 'config-us', reset(WEBHOOKS_ID)),
    ).toBe(false);
    expect(parseServiceConfig(document, { rotationPrincipal: ROTATION_ROLE }).document.grants).toEqual(
      parseServiceConfig(document).document.grants,
    );
  });

  it('takes the rotation principal from TVS_ROTATION_PRINCIPAL at cold start', () => {
    const document = withChange((changed) => {
      changed.clients['webhooks-us'].rotation = { every: '30 days', via: 'config-us' };
      changed.clients['webhooks-us'].clientId = WEBHOOKS_ID;
    });
    const config = loadServiceConfig({
      TVS_CONFIG: JSON.stringify(document),
      TVS_ROTATION_PRINCIPAL: ROTATION_ROLE,
    });

    expect(config.authorize(ROTATION_ROLE_SESSION, 'config-us', reset(WEBHOOKS_ID))).toBe(true);
    expect(config.authorize(ROTATION_ROLE_SESSION, 'config-us', reset('abc'))).toBe(false);
  });
});
