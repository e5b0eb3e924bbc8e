/**
 * `tvs serve` refuses what AWS would: with `local.allowedAccounts`, a caller of another account gets 403
 * from the emulated front door before the function runs, and a grant of another account stops the start
 * as it stops synth. A configuration file with a key given twice does not start either.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sendSigned } from '@tvs/client';
import { LocalConfigError } from '@tvs/client/contract';
import { FUNCTION_URL_FORBIDDEN } from '@tvs/local/front-door';
import { startLocalServer } from '@tvs/local/server';
import type { IdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORDERS, STRANGER, serveFixture, type testDocument } from '../support/processes';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
let sim: IdentityCloudSimulator;
let dir: { path: string; remove: () => Promise<void> };
let document: ReturnType<typeof testDocument>;

beforeAll(async () => {
  ({ sim, dir, document } = await serveFixture());
});

afterAll(async () => {
  await sim?.close();
  await dir?.remove();
});

const withLocal = (local: Record<string, unknown>, grants = document.grants) => ({
  ...document,
  grants,
  local: { ...document.local, ...local },
});

const start = (config: unknown) =>
  startLocalServer({ config, configDir: dir.path, port: 0, env: {}, log: quiet });

describe('tvs serve with local.allowedAccounts', () => {
  it.each(['rest-api', 'function-url'] as const)(
    'answers a caller of an account it does not admit 403 before the function runs (%s)',
    async (endpoint) => {
      // The stranger's account (222222222222) holds a grant here, so only the admission can refuse it.
      const grants = [
        ...document.grants,
        {
          principal: 'arn:aws:iam::222222222222:role/somebody',
          client: 'webhooks-us',
          scopes: ['.:webhooks/**'],
        },
      ];
      const open = await start(withLocal({ endpoint }, grants));
      const strict = await start(
        withLocal({ endpoint, allowedAccounts: ['111111111111'] }, grants.slice(0, -1)),
      );
      const ask = (url: string, caller = STRANGER) =>
        sendSigned(
          {
            endpoint: url,
            region: 'us-east-1',
            service: endpoint === 'function-url' ? 'lambda' : 'execute-api',
            credentials: { accessKeyId: caller.accessKeyId, secretAccessKey: caller.secretAccessKey },
          },
          { method: 'GET', path: '/v1/clients' },
        );
      try {
        const admitted = await ask(open.url);
        const refused = await ask(strict.url);
        const granted = await ask(strict.url, ORDERS);

        expect(admitted.status).toBe(200);
        expect(refused.status).toBe(403);
        expect(refused.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
        expect(JSON.parse(refused.text)).toEqual(
          endpoint === 'function-url'
            ? { Message: FUNCTION_URL_FORBIDDEN }
            : {
                message: expect.stringMatching(
                  /^User: arn:aws:sts::222222222222:assumed-role\/somebody\/session is not authorized to perform: execute-api:Invoke/,
                ),
              },
        );
        expect(granted.status).toBe(200);
      } finally {
        await open.close();
        await strict.close();
      }
    },
  );

  it('refuses to start with a grant of an account it does not admit, as synth does', async () => {
    const refusal = await start(withLocal({ allowedAccounts: ['333333333333'] })).catch(
      (error: unknown) => error,
    );

    expect(refusal).toBeInstanceOf(LocalConfigError);
    expect((refusal as Error).message).toMatch(
      /grants\[0\]\.principal: account 111111111111 is not admitted by the resource policy \(admitted: 333333333333\)/,
    );
  });

  it('refuses an allowedAccounts that is not a list of account ids', async () => {
    const refusal = await start(withLocal({ allowedAccounts: ['12345'] })).catch((error: unknown) => error);

    expect((refusal as Error).message).toContain(
      'local.allowedAccounts: must be a non-empty array of 12-digit account ids',
    );
  });
});

describe('tvs serve reads its configuration file strictly', () => {
  it('refuses a file that gives a key twice, naming its path', async () => {
    const text = JSON.stringify(document, null, 2).replace(
      '"allowedScopes": [\n        "*:config/**"\n      ]',
      '"allowedScopes": [".:config/**"],\n      "allowedScopes": ["*:config/**"]',
    );
    expect(text).toContain('"allowedScopes": [".:config/**"]');
    const configPath = join(dir.path, 'duplicate.config.json');
    await writeFile(configPath, text);

    const refusal = await startLocalServer({ configPath, port: 0, env: {}, log: quiet }).catch(
      (error: unknown) => error,
    );

    expect(refusal).toBeInstanceOf(LocalConfigError);
    expect((refusal as Error).message).toContain('clients.config-us.allowedScopes: duplicate key');
  });
});
