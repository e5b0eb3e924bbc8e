import { defineConfig } from 'vitest/config';

/**
 * Tests mirror the source: the tests of `packages/core/src/protocol/lease-coordinator.ts` are
 * `test/core/protocol/lease-coordinator*.test.ts`, those of `lib/trust-boundary.ts` are
 * `test/lib/trust-boundary*.test.ts`. What a test needs is in its name, and decides its project:
 *
 * - `unit` — `*.test.ts`: Node alone; no moto, no Python, no child process.
 * - `integration` — `*.int.test.ts`: moto server (one per run), real HTTP servers on 127.0.0.1.
 * - `e2e` — `*.e2e.test.ts`: child processes (`tvs serve`, `npm pack`, `cdk synth`, Python) and moto.
 * - `infra` — `test/lib/**`: the synthesized CDK templates (cdk-nag, cfn-lint, IAM policy evaluation).
 *
 * `npm test` runs all four; `npx vitest run --project unit` needs nothing but Node.
 */
const SLOW = ['**/*.int.test.ts', '**/*.e2e.test.ts'];

export default defineConfig({
  // The repository's packages are read from their TypeScript sources (the `tvs-source` export condition).
  resolve: { conditions: ['tvs-source'] },
  ssr: { resolve: { conditions: ['tvs-source'], externalConditions: ['tvs-source'] } },
  test: {
    pool: 'forks',
    execArgv: ['--conditions=tvs-source'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    env: {
      // Powertools Metrics would print EMF blobs on every request in tests.
      POWERTOOLS_METRICS_DISABLED: 'true',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...SLOW, 'test/lib/**'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          globalSetup: ['test/support/moto-global-setup.ts', 'test/support/leak-scan-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e.test.ts'],
          globalSetup: ['test/support/moto-global-setup.ts', 'test/support/leak-scan-setup.ts'],
        },
      },
      {
        extends: true,
        test: { name: 'infra', include: ['test/lib/**/*.test.ts'], exclude: SLOW },
      },
    ],
  },
});
