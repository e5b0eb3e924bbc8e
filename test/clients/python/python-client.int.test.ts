/**
 * The Python client (`clients/python`), installed with pip into a virtual environment of its own, runs
 * its pytest suite: the behaviours of `behaviours.json` (the list the TypeScript client runs in
 * `behaviours.test.ts`) against the same harness, started here, and its own unit tests.
 */
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BehaviourHarness, startBehaviourHarness } from '../../support/behaviour-harness';
import { ORDERS, ROOT, spawnChild } from '../../support/processes';
import { installPythonClient, type PythonClientEnv } from '../../support/python-client';

let harness: BehaviourHarness;
let env: PythonClientEnv;

beforeAll(async () => {
  env = await installPythonClient();
  harness = await startBehaviourHarness();
}, 180_000);

afterAll(async () => {
  await harness?.close();
  await env?.remove();
});

describe('the Python client', () => {
  it('passes the client behaviours and its unit tests under pytest', async () => {
    const pytest = spawnChild(
      env.python,
      ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', join(ROOT, 'clients', 'python', 'tests')],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          PYTHONDONTWRITEBYTECODE: '1',
          TVS_HARNESS_URL: harness.url,
          TVS_BEHAVIOURS: join(ROOT, 'test', 'support', 'behaviours.json'),
          TVS_TEST_ACCESS_KEY_ID: ORDERS.accessKeyId,
          TVS_TEST_SECRET_ACCESS_KEY: ORDERS.secretAccessKey,
        },
        // Not the package's folder: `python -m pytest` imports from its working folder, and the client
        // under test is the one pip installed.
        cwd: dirname(env.python),
      },
    );

    const code = await pytest.exited;

    expect({ code, output: pytest.stdout().split('\n').slice(-30).join('\n') }).toMatchObject({ code: 0 });
    expect(pytest.stdout()).toMatch(/\b1\d passed\b|\b[2-9]\d passed\b/);
  }, 180_000);
});
