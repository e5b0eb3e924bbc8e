/**
 * `tvs dev --config FILE` through the real CLI: a configuration with no `local` section runs with a
 * simulator, secrets and callers derived from it; every `tvs token` command it prints, pasted into a
 * shell, prints a token; a caller gets only its grants; and `tvs purge` against the embedded DynamoDB it
 * names replaces a token.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Child,
  childEnv,
  ROOT,
  runCli,
  spawnChild,
  TVS_FROM_SOURCE,
  tempDir,
  writeJson,
} from '../support/processes';

let dev: Child | undefined;
let removeDir: () => Promise<void>;
let banner = '';

const ENDPOINT = 'https://v1.api.us.janrain.com/00000000-0000-0000-0000-000000000000/login/token';

beforeAll(async () => {
  const dir = await tempDir();
  removeDir = dir.remove;
  const configPath = await writeJson(dir.path, 'mine.json', {
    $schema: '../config/tvs.config.schema.json',
    clients: {
      'hooks-eu': { tokenEndpoint: ENDPOINT, secretId: 'prod/hooks-eu', allowedScopes: ['*:webhooks/**'] },
      'admin-eu': {
        tokenEndpoint: ENDPOINT,
        secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/admin-eu-AbCdEf',
        allowedScopes: ['*:config/**'],
      },
    },
    grants: [
      { principal: 'arn:aws:iam::123456789012:role/billing', client: 'hooks-eu', scopes: ['.:webhooks/**'] },
      {
        principal: 'arn:aws:iam::123456789012:role/ops-*',
        client: 'admin-eu',
        scopes: ['.:config/**', '*:config/loginPolicies/**'],
      },
    ],
  });
  dev = spawnChild(process.execPath, [...TVS_FROM_SOURCE, 'dev', '--config', configPath, '--port', '0'], {
    env: childEnv(),
  });
  await dev.waitFor(/^Press Ctrl-C to stop\.$/, 30_000);
  banner = dev.stdout();
});

afterAll(async () => {
  if (dev && dev.process.exitCode === null) process.kill(dev.pid, 'SIGTERM');
  await dev?.exited;
  await removeDir?.();
});

const printedCommands = () =>
  banner
    .split('\n')
    .filter((line) => / npx tvs token /.test(line))
    .map((l) => l.trim());

describe('tvs dev', () => {
  it('prints one tvs token command per grant, and each prints a token', async () => {
    const commands = printedCommands();
    expect(commands).toHaveLength(2);
    expect(banner).toContain('arn:aws:iam::123456789012:role/ops-dev');
    for (const command of commands) {
      const run = spawnChild('bash', ['-c', command], { env: childEnv() });
      expect(await run.exited).toBe(0);
      expect(run.stdout()).toMatch(/^[A-Za-z0-9_-]{64}\n$/);
      expect(run.stderr().replace(/^npm warn .*\n/gm, '')).toBe('');
    }
  });

  it('gives each derived caller only its own grants', async () => {
    const billing = printedCommands().find((command) => command.includes('hooks-eu')) as string;
    const asBilling = billing.replace(
      "--client hooks-eu --scope '.:webhooks/**'",
      "--client admin-eu --scope '.:config/**'",
    );
    const run = spawnChild('bash', ['-c', asBilling], { env: childEnv() });

    expect(await run.exited).toBe(1);
    expect(run.stderr()).toMatch(/\(access_denied, HTTP 403\)/);
  });

  it('names its embedded DynamoDB, where tvs purge replaces a token', async () => {
    const command = printedCommands().find((c) => c.includes('hooks-eu')) as string;
    const token = async () => {
      const run = spawnChild('bash', ['-c', command], { env: childEnv() });
      await run.exited;
      return run.stdout().trim();
    };
    const before = await token();
    expect(await token()).toBe(before);
    const endpoint = /DynamoDB is embedded at (http:\/\/127\.0\.0\.1:\d+)/.exec(banner)?.[1] as string;
    expect(endpoint).toBeDefined();

    const purge = await runCli(
      ['purge', '--client', 'hooks-eu', '--scope', '.:webhooks/**', '--json'],
      undefined,
      {
        AWS_ENDPOINT_URL_DYNAMODB: endpoint,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
      },
    );
    expect(purge.code).toBe(0);
    const report = JSON.parse(purge.stdout);
    expect(report).toMatchObject({ table: 'tvs-tokens', client: 'hooks-eu', boundSeconds: 5 });
    expect(report.purged).toHaveLength(1);
    expect(report.purged[0].scope).toBe('.:webhooks/**');

    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(await token()).not.toBe(before);
  });

  it('runs the command docs/local.md gives, and its printed command prints a token', async () => {
    const page = readFileSync(join(ROOT, 'docs', 'local.md'), 'utf8');
    const documented = /<!-- tvs-dev:start -->\s*```sh\n([^\n]+)\n```/.exec(page)?.[1] as string;
    expect(documented).toMatch(/^npx tvs dev --config \S+$/);
    // Verbatim but for the port (free ones, as the suite runs in parallel), in its own process group.
    const docsDev = spawnChild('bash', ['-c', `${documented} --port 0`], { env: childEnv(), detached: true });
    try {
      await docsDev.waitFor(/^Press Ctrl-C to stop\.$/, 30_000);
      const command = docsDev
        .stdout()
        .split('\n')
        .find((line) => / npx tvs token /.test(line))
        ?.trim() as string;
      const run = spawnChild('bash', ['-c', command], { env: childEnv() });
      expect(await run.exited).toBe(0);
      expect(run.stdout()).toMatch(/^[A-Za-z0-9_-]{64}\n$/);
    } finally {
      process.kill(-docsDev.pid, 'SIGTERM');
      await Promise.race([docsDev.exited, new Promise((resolve) => setTimeout(resolve, 8_000))]);
    }
  }, 60_000);

  it('refuses an invalid configuration with every problem, before starting anything', async () => {
    const dir = await tempDir();
    try {
      const bad = await writeJson(dir.path, 'bad.json', { clients: {}, grants: [] });
      const run = await runCli(['dev', '--config', bad, '--port', '0'], undefined);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('clients: expected at least one client');
    } finally {
      await dir.remove();
    }
  });
});
