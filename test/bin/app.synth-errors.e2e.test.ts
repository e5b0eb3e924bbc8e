/**
 * `cdk synth` with a bad configuration prints the problem list once, without a stack trace, and exits
 * non-zero; invalid JSON is named by line and column. Runs the real CDK CLI on the app (bin/app.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, spawnChild, tempDir, writeJson } from '../support/processes';

let dir: { path: string; remove: () => Promise<void> };

beforeAll(async () => {
  dir = await tempDir();
});

afterAll(async () => {
  await dir?.remove();
});

async function synth(configPath: string) {
  const child = spawnChild(
    'npx',
    ['cdk', 'synth', '-q', '-c', `config=${configPath}`, '-o', `${dir.path}/out`],
    {
      env: childEnv(),
    },
  );
  const code = await child.exited;
  // The CDK CLI's own last line, and npm's notices, are the CLI's business.
  const stderr = child
    .stderr()
    .split('\n')
    .filter(
      (line) => line !== '' && !/^npm (warn|notice)/.test(line) && !/Subprocess exited with error/.test(line),
    );
  return { code, stderr };
}

describe('cdk synth with a configuration error', () => {
  it('prints only the problem list, once', async () => {
    const path = await writeJson(dir.path, 'bad.json', {
      clients: {
        'hooks-us': { tokenEndpoint: 'ftp://x/login/token', secretId: 's', allowedScopes: ['*:**'] },
      },
      grants: [{ principal: 'arn:aws:iam::123456789012:role/r', client: 'nobody', scopes: ['*:**'] }],
    });
    const { code, stderr } = await synth(path);

    expect(code).not.toBe(0);
    expect(stderr).toEqual([
      'The service configuration given to TokenVendingService is invalid:',
      '  - clients.hooks-us.tokenEndpoint: must use https, not "ftp:"',
      '  - grants[0].client: unknown client "nobody"',
    ]);
  }, 120_000);

  it('names the line and column of invalid JSON', async () => {
    const { writeFile } = await import('node:fs/promises');
    const path = `${dir.path}/broken.json`;
    await writeFile(path, '{\n  "clients": {},\n  "grants": [],\n}\n');
    const { code, stderr } = await synth(path);

    expect(code).not.toBe(0);
    expect(stderr).toEqual([
      `The service configuration ${path} is not valid JSON: line 4, column 1: a trailing comma before "}"`,
    ]);
  }, 120_000);
});
