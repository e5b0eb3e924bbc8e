import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cfnLint,
  describeFinding,
  EXAMPLE_CONFIG_FILE,
  REPOSITORY_ROOT,
  SYNTH_TIMEOUT_MS,
} from '../support/stacks';

/** The environment of a machine with no AWS credentials, no AWS config and no network. */
function offlineEnvironment(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(AWS_|CDK_|NODE_ENV$|VITEST)/.test(name)) env[name] = value;
  }
  return {
    ...env,
    HOME: home,
    AWS_CONFIG_FILE: join(home, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    // Any attempt to reach the network goes to a closed port and fails at once.
    HTTP_PROXY: 'http://127.0.0.1:9',
    HTTPS_PROXY: 'http://127.0.0.1:9',
    NO_PROXY: '',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
  };
}

describe('npx cdk synth', () => {
  const workDir = mkdtempSync(join(tmpdir(), 'tvs-cdk-synth-'));
  const outDir = join(workDir, 'cdk.out');
  let run: ReturnType<typeof spawnSync>;

  beforeAll(() => {
    run = spawnSync('npx', ['--no-install', 'cdk', 'synth', '--quiet', '--no-notices', '-o', outDir], {
      cwd: REPOSITORY_ROOT,
      env: offlineEnvironment(workDir),
      encoding: 'utf8',
      timeout: SYNTH_TIMEOUT_MS - 10_000,
    });
  }, SYNTH_TIMEOUT_MS);

  afterAll(() => rmSync(workDir, { recursive: true, force: true }));

  it('succeeds offline without AWS credentials, cdk-nag included', () => {
    expect({ status: run.status, stderr: run.stderr }).toMatchObject({ status: 0 });
    expect(existsSync(join(outDir, 'TokenVendingService.template.json'))).toBe(true);
  });

  it('bundles the handler with local esbuild, minified with source maps, split, and ships the configuration', () => {
    const assets = readdirSync(outDir).filter((name) => name.startsWith('asset.'));
    const bundle = assets.map((name) => join(outDir, name)).find((dir) => existsSync(join(dir, 'index.mjs')));
    expect(bundle).toBeDefined();
    const directory = bundle as string;
    expect(readdirSync(directory).sort()).toEqual([
      'chunks',
      'index.mjs',
      'index.mjs.map',
      'tvs-config.json',
    ]);
    // What only a cache miss needs is in chunks loaded on first use, not in the cold-start module.
    const chunks = readdirSync(join(directory, 'chunks'));
    expect(chunks.some((name) => /^undici-.*\.mjs$/.test(name))).toBe(true);
    expect(readFileSync(join(directory, 'index.mjs'), 'utf8')).not.toContain('llhttp');
    // The bundle ships the validated document: without the editor's `$schema` reference.
    const { $schema: _schema, ...example } = JSON.parse(readFileSync(EXAMPLE_CONFIG_FILE, 'utf8'));
    expect(JSON.parse(readFileSync(join(directory, 'tvs-config.json'), 'utf8'))).toEqual(example);
    // The AWS SDK is bundled, not left to the runtime's copy.
    expect(readFileSync(join(directory, 'index.mjs'), 'utf8')).not.toMatch(/from\s*["']@aws-sdk\//);
  });

  it('writes a template cfn-lint finds no error in', () => {
    const findings = cfnLint(join(outDir, 'TokenVendingService.template.json'));
    expect(findings.filter((finding) => finding.Level === 'Error').map(describeFinding)).toEqual([]);
  });
});
