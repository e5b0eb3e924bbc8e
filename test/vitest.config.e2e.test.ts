/**
 * The test projects of `vitest.config.ts`: a unit test needs Node alone. Run with a PATH that holds
 * nothing but Node — no moto_server, no Python — a unit test file passes, and an integration test file
 * fails for want of moto (which shows the PATH really hides it).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './support/processes';

const VITEST = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
/** A PATH of one directory, holding `node` and nothing else. */
const NODE_ONLY_PATH = mkdtempSync(join(tmpdir(), 'tvs-node-only-'));
symlinkSync(process.execPath, join(NODE_ONLY_PATH, 'node'));

afterAll(() => rmSync(NODE_ONLY_PATH, { recursive: true, force: true }));

function vitest(args: string[]) {
  const { PATH: _path, NODE_OPTIONS: _options, VITEST: _vitest, VITEST_POOL_ID: _pool, ...env } = process.env;
  return spawnSync(process.execPath, [VITEST, 'run', ...args], {
    cwd: ROOT,
    env: { ...env, PATH: NODE_ONLY_PATH, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 120_000,
  });
}

describe('the unit project', () => {
  it('runs a unit test with nothing but Node on the PATH', () => {
    expect(spawnSync('moto_server', ['--help'], { env: { PATH: NODE_ONLY_PATH } }).error).toMatchObject({
      code: 'ENOENT',
    });
    expect(spawnSync('python3', ['--version'], { env: { PATH: NODE_ONLY_PATH } }).error).toMatchObject({
      code: 'ENOENT',
    });

    const run = vitest(['--project', 'unit', 'test/core/policy/cache-policy.test.ts']);

    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout.replace(/\u001b\[[0-9;]*m/g, '')).toMatch(/Test Files\s+1 passed \(1\)/);
  });

  it('is the only one that can: an integration test there fails for want of moto', () => {
    const run = vitest(['--project', 'integration', 'test/core/stores/token-crypto.kms.int.test.ts']);

    expect(run.status).not.toBe(0);
    expect(run.stdout + run.stderr).toContain('moto server is required');
  });
});
