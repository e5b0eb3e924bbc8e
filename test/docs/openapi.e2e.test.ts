/**
 * `docs/openapi.json` against what the handler answers: every documented status is produced through the
 * local server, and every answer must match its documented schema exactly — a field gained or lost by
 * the handler, or a status not in the document, fails here. The whole contract runs through both front
 * doors (docs/contract.md "Endpoint kinds"): the local server emulating the REST API (signed for
 * `execute-api`) and emulating a function URL (signed for `lambda`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ServiceAnswer, sendSigned } from '@tvs/client';
import { ENDPOINT_KINDS, type EndpointKind, SIGNING_SERVICE } from '@tvs/client/contract';
import { type LocalServer, startLocalServer } from '@tvs/local/server';
import type { IdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closedPort,
  ORDERS,
  ROOT,
  STRANGER,
  startTestSimulator,
  TEST_SECRETS,
  tempDir,
  testDocument,
  writeJson,
} from '../support/processes';
import { schemaProblems } from '../support/schema-check';

type Json = Record<string, unknown>;
const openapi = JSON.parse(readFileSync(join(ROOT, 'docs', 'openapi.json'), 'utf8')) as Json;
const paths = openapi.paths as Record<string, Record<string, Json>>;

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
let sim: IdentityCloudSimulator;
const servers = new Map<EndpointKind, LocalServer>();
let removeDir: () => Promise<void>;

interface Observed {
  readonly path: string;
  readonly method: string;
  readonly answer: ServiceAnswer;
}

/** Where the calls go, and what they were answered. */
interface FrontDoor {
  readonly kind: EndpointKind;
  readonly observed: Observed[];
}

function serverOf(door: FrontDoor): LocalServer {
  const server = servers.get(door.kind);
  if (!server) throw new Error(`no server for ${door.kind}`);
  return server;
}

async function call(
  door: FrontDoor,
  method: 'GET' | 'POST',
  path: string,
  options: { body?: string; contentType?: string; caller?: typeof ORDERS } = {},
): Promise<ServiceAnswer> {
  const caller = options.caller ?? ORDERS;
  // A 127.0.0.1 host does not say which service to sign for: each front door's is given.
  const answer = await sendSigned(
    {
      endpoint: serverOf(door).url,
      region: 'us-east-1',
      service: SIGNING_SERVICE[door.kind],
      credentials: { accessKeyId: caller.accessKeyId, secretAccessKey: caller.secretAccessKey },
    },
    {
      method,
      path,
      ...(options.body !== undefined
        ? { body: options.body, contentType: options.contentType ?? 'application/json' }
        : {}),
    },
  );
  door.observed.push({ path, method: method.toLowerCase(), answer });
  return answer;
}

const token = (door: FrontDoor, fields: Json) =>
  call(door, 'POST', '/v1/token', { body: JSON.stringify(fields) });

beforeAll(async () => {
  sim = await startTestSimulator();
  const dir = await tempDir();
  removeDir = dir.remove;
  await writeJson(dir.path, 'secrets.json', TEST_SECRETS);
  const config = testDocument({
    tokenEndpoint: sim.tokenEndpoint,
    downEndpoint: `http://127.0.0.1:${await closedPort()}/x/login/token`,
    secretsFile: 'secrets.json',
  });
  for (const endpointKind of ENDPOINT_KINDS) {
    servers.set(
      endpointKind,
      await startLocalServer({ config, configDir: dir.path, port: 0, env: {}, log: quiet, endpointKind }),
    );
  }
});

afterAll(async () => {
  for (const server of servers.values()) await server.close();
  await sim?.close();
  await removeDir?.();
});

/** Why `answer` does not match what the document says `method path` answers with its status. */
function contractProblems({ path, method, answer }: Observed): string[] {
  const operation = paths[path]?.[method];
  if (!operation) return [`${method.toUpperCase()} ${path} is not documented`];
  const response = (operation.responses as Record<string, Json>)[String(answer.status)];
  if (!response)
    return [`${method.toUpperCase()} ${path} answered ${answer.status}, which is not documented`];
  const schema = (response.content as Record<string, { schema: Json }>)['application/json']?.schema;
  if (!schema) return [`${answer.status} has no application/json schema`];
  const problems = schemaProblems(openapi, schema, JSON.parse(answer.text));
  for (const [name, header] of Object.entries((response.headers ?? {}) as Record<string, Json>)) {
    const definition = (header.$ref ? resolve(header.$ref as string) : header) as Json;
    const value = answer.headers.get(name);
    if (value === null) {
      if (definition.required) problems.push(`header ${name} is missing`);
      continue;
    }
    problems.push(...schemaProblems(openapi, definition.schema as Json, value, `header ${name}`));
  }
  return problems.map((problem) => `${method.toUpperCase()} ${path} ${answer.status}: ${problem}`);
}

function resolve(ref: string): unknown {
  let node: unknown = openapi;
  for (const part of ref.slice(2).split('/')) node = (node as Json)[part];
  return node;
}

describe('docs/openapi.json', () => {
  it('documents both routes with SigV4 (AWS_IAM) and every status of the error table', () => {
    expect(Object.keys(paths).sort()).toEqual(['/v1/clients', '/v1/token']);
    expect(Object.keys(paths['/v1/token']?.post?.responses as Json).sort()).toEqual(
      ['200', '400', '403', '415', '500', '502', '503'].sort(),
    );
    for (const operation of [paths['/v1/token']?.post, paths['/v1/clients']?.get]) {
      expect(operation?.['x-amazon-apigateway-auth']).toEqual({ type: 'AWS_IAM' });
    }
    expect(openapi.security).toEqual([{ sigv4: [] }]);
  });

  it('fails an answer that gains or loses a field', () => {
    const schema = { $ref: '#/components/schemas/TokenResponse' };
    const answer = {
      access_token: 't',
      token_type: 'Bearer',
      expires_in: 10,
      expires_at: '2030-01-01T00:00:00.000Z',
      issued_at: '2030-01-01T00:00:00.000Z',
      scope: '.:webhooks/**',
      client: 'webhooks-us',
    };
    const { client: _client, ...lost } = answer;
    const { issued_at: _issuedAt, ...withoutIssuedAt } = answer;

    expect(schemaProblems(openapi, schema, answer)).toEqual([]);
    expect(schemaProblems(openapi, schema, { ...answer, source: 'memory' })).toEqual([
      '$: unexpected field source',
    ]);
    expect(schemaProblems(openapi, schema, lost)).toEqual(['$: missing client']);
    expect(schemaProblems(openapi, schema, withoutIssuedAt)).toEqual(['$: missing issued_at']);
  });
});

describe.each(ENDPOINT_KINDS)('the handler through the %s front door', (kind) => {
  const door: FrontDoor = { kind, observed: [] };

  it('matches every answer of the handler, for every documented status', async () => {
    await token(door, { client: 'webhooks-us', scope: '.:webhooks/**' });
    await token(door, { client: 'webhooks-us', scope: '.:webhooks/**', min_ttl: 60 });
    await token(door, { client: 'webhooks-us', scope: '.:webhooks/**', surprise: true });
    await token(door, { client: 'webhooks-us', scope: 'not-a-scope' });
    await token(door, { client: 'webhooks-us', scope: '*:**' });
    await call(door, 'POST', '/v1/token', { body: 'client=webhooks-us', contentType: 'text/plain' });
    await token(door, { client: 'missing-us', scope: '*:webhooks/**' });
    await token(door, { client: 'broken-us', scope: '*:webhooks/**' });
    await token(door, { client: 'down-us', scope: '*:webhooks/**' });
    await call(door, 'GET', '/v1/clients');
    await call(door, 'GET', '/v1/clients', { caller: STRANGER });
    const signedAs = (accessKeyId: string, secretAccessKey: string) => ({
      endpoint: serverOf(door).url,
      region: 'us-east-1',
      service: SIGNING_SERVICE[door.kind],
      credentials: { accessKeyId, secretAccessKey },
    });
    await sendSigned(signedAs(ORDERS.accessKeyId, 'wrong-wrong-wrong'), {
      method: 'GET',
      path: '/v1/clients',
    }).then((answer) => door.observed.push({ path: '/v1/clients', method: 'get', answer }));
    await sendSigned(signedAs('AKIDNOBODYKNOWSTHIS1', 'x-x-x-x-x'), {
      method: 'POST',
      path: '/v1/token',
      body: '{}',
    }).then((answer) => door.observed.push({ path: '/v1/token', method: 'post', answer }));
    const unsigned = await fetch(`${serverOf(door).url}/v1/clients`);
    door.observed.push({
      path: '/v1/clients',
      method: 'get',
      answer: { status: unsigned.status, headers: unsigned.headers, text: await unsigned.text() },
    });

    const problems = door.observed.flatMap(contractProblems);
    const seen = new Set(
      door.observed.map(({ path, method, answer }) => `${method} ${path} ${answer.status}`),
    );
    const documented = Object.entries(paths).flatMap(([path, operations]) =>
      Object.entries(operations).flatMap(([method, operation]) =>
        Object.keys(operation.responses as Json).map((status) => `${method} ${path} ${status}`),
      ),
    );

    expect(problems).toEqual([]);
    // /v1/clients has no path to a 500 a test can take without breaking the server.
    expect(documented.filter((entry) => !seen.has(entry))).toEqual(['get /v1/clients 500']);
  });

  it('accepts exactly the request bodies the handler accepts', async () => {
    const base = { client: 'webhooks-us', scope: '.:webhooks/**' };
    const hex = 'a'.repeat(64);
    const bodies: Json[] = [
      base,
      { ...base, min_ttl: 0 },
      { ...base, min_ttl: 3000 },
      { ...base, min_ttl: 3001 },
      { ...base, min_ttl: -1 },
      { ...base, min_ttl: 1.5 },
      { ...base, min_ttl: '60' },
      { ...base, reject: hex },
      { ...base, reject: hex.toUpperCase() },
      { ...base, reject: 'abc' },
      { ...base, extra: 1 },
      { scope: base.scope },
      { client: base.client },
      { ...base, client: '' },
      { ...base, client: 'c'.repeat(65) },
      { ...base, scope: 42 },
      { ...base, scope: `.:webhooks/${'x'.repeat(1020)}` },
    ];
    const requestBody = paths['/v1/token']?.post?.requestBody as {
      content: Record<string, { schema: Json }>;
    };
    const schema = requestBody.content['application/json']?.schema as Json;

    const verdicts = [];
    for (const body of bodies) {
      const answer = await call(door, 'POST', '/v1/token', { body: JSON.stringify(body) });
      const refused = answer.status === 400 && (JSON.parse(answer.text) as Json).error === 'invalid_request';
      verdicts.push({
        body,
        schemaAccepts: schemaProblems(openapi, schema, body).length === 0,
        handlerAccepts: !refused,
      });
    }

    expect(verdicts.filter((v) => v.schemaAccepts !== v.handlerAccepts)).toEqual([]);
  });
});
