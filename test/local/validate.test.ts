/**
 * `tvs validate FILE` reports what `tvs serve` would refuse of the same file: here a grant of an account
 * that `local.allowedAccounts` does not admit (the local server refuses to start with it).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalConfigError } from '@tvs/client/contract';
import { startLocalServer } from '@tvs/local/server';
import { validateConfigFile } from '@tvs/local/validate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tvs-validate-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function documentWith(allowedAccounts: string[]) {
  return {
    clients: {
      'webhooks-us': {
        tokenEndpoint: 'http://127.0.0.1:8788/00000000-0000-0000-0000-000000000000/login/token',
        secretId: 'tvs/webhooks-us',
        allowedScopes: ['*:webhooks/**'],
      },
    },
    grants: [
      {
        principal: 'arn:aws:iam::111111111111:role/orders',
        client: 'webhooks-us',
        scopes: ['.:webhooks/**'],
      },
      {
        principal: 'arn:aws:iam::222222222222:role/billing',
        client: 'webhooks-us',
        scopes: ['.:webhooks/**'],
      },
    ],
    local: {
      callers: {
        AKIDLOCAL0000000001: {
          secretAccessKey: 'local-secret',
          arn: 'arn:aws:iam::111111111111:role/orders',
        },
      },
      allowedAccounts,
    },
  };
}

describe('tvs validate with local.allowedAccounts', () => {
  it('reports a grant of an account the local front door does not admit, as tvs serve refuses it', async () => {
    const document = documentWith(['111111111111']);
    const file = join(dir, 'unadmitted.json');
    await writeFile(file, JSON.stringify(document));

    const report = await validateConfigFile(file);
    const served = await startLocalServer({ config: document, configDir: dir, port: 0 }).then(
      async (server) => {
        await server.close();
        return undefined;
      },
      (error: unknown) => error,
    );

    expect(served).toBeInstanceOf(LocalConfigError);
    expect(report.valid).toBe(false);
    if (report.valid) return;
    expect(report.problems).toEqual([
      expect.objectContaining({
        path: 'grants[1].principal',
        message: expect.stringMatching(/account 222222222222 is not admitted/),
      }),
    ]);
  });

  it('accepts the file when every grant is admitted', async () => {
    const file = join(dir, 'admitted.json');
    await writeFile(file, JSON.stringify(documentWith(['111111111111', '222222222222'])));

    expect(await validateConfigFile(file)).toMatchObject({ valid: true, grants: 2, local: true });
  });
});
