/**
 * `tvs validate FILE`: its report of a file it cannot read, of invalid JSON, of the service's and the
 * `local` section's problems, and of a valid file; and that it reports what `tvs serve` would refuse of the
 * same file: here a grant of an account that `local.allowedAccounts` does not admit (the local server
 * refuses to start with it).
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

describe('validateConfigFile', () => {
  it('reports a file it cannot read', async () => {
    const file = join(dir, 'absent.json');
    expect(await validateConfigFile(file)).toEqual({
      valid: false,
      file,
      problems: [{ path: '(file)', message: 'cannot read the file (ENOENT)' }],
    });
  });

  it('reports invalid JSON with its line and column, and nothing else', async () => {
    const file = join(dir, 'broken.json');
    await writeFile(file, '{\n  "clients": {,\n}');
    const report = await validateConfigFile(file);
    expect(report).toEqual({
      valid: false,
      file,
      problems: [
        {
          path: '(document)',
          line: 2,
          column: expect.any(Number),
          message: expect.stringMatching(/^not valid JSON: /),
        },
      ],
    });
  });

  it("reports the service's problems, then the local section's", async () => {
    const document = documentWith(['111111111111']);
    const file = join(dir, 'both.json');
    const grants = [{ ...document.grants[0], client: 'nobody' }];
    await writeFile(
      file,
      JSON.stringify({ ...document, grants, local: { ...document.local, region: 'Mars' } }),
    );
    const report = await validateConfigFile(file);
    expect(report.valid).toBe(false);
    if (report.valid) return;
    expect(report.problems).toEqual([
      { path: 'grants[0].client', message: expect.stringContaining('nobody') },
      { path: 'local.region', message: 'must be a region like us-east-1' },
    ]);
  });

  it('summarizes a valid file', async () => {
    const { local: _local, ...document } = documentWith(['111111111111']);
    const file = join(dir, 'no-local.json');
    await writeFile(file, JSON.stringify(document));
    expect(await validateConfigFile(file)).toEqual({
      valid: true,
      file,
      clients: 1,
      grants: 2,
      rotated: 0,
      local: false,
    });
  });
});
