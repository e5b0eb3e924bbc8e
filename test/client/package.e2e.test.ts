/**
 * @tvs/client as another team gets it: `npm pack` of the client workspace, installed from the tarball
 * into an empty folder with npm offline (it has no dependencies), then used there with plain Node — no
 * tsx, no loader, no NODE_OPTIONS — against `tvs serve` and the Identity Cloud simulator: the client
 * imported from an ES module, and `npx tvs`. And the same package packed under a company's own scope by
 * `npm run pack:client -- --name @acme/tvs-client`.
 */
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNBOUNDED_MINTS_ENV } from '../support/mint-bounds';
import {
  type Child,
  childEnv,
  ORDERS,
  ROOT,
  recordServeTraffic,
  type ServeProcess,
  serveFixture,
  spawnChild,
  startServe,
  tempDir,
  writeJson,
} from '../support/processes';

/** The largest installed size of the package, bytes. */
const MAX_INSTALLED_BYTES = 2 * 1024 * 1024;
/** A token of the simulator: 48 random bytes, base64url. */
const SIMULATOR_TOKEN = /^[A-Za-z0-9_-]{64}$/;
const WEBHOOKS = { client: 'webhooks-us', scope: '.:webhooks/**' };

const version = JSON.parse(await readFile(join(ROOT, 'packages', 'client', 'package.json'), 'utf8'))
  .version as string;

/**
 * The consumer's program: imports the package named in CLIENT_PACKAGE, gets a token with the caller's
 * credentials given, then with none given (the environment's keys: the optional peer is not installed),
 * then with no keys at all; prints what it saw as JSON.
 */
const CONSUMER_SCRIPT = `
const name = process.env.CLIENT_PACKAGE;
const { createTokenClient, TokenServiceError } = await import(name);
const endpoint = process.env.TVS_ENDPOINT;
const request = { client: 'webhooks-us', scope: '.:webhooks/**' };

const given = await createTokenClient({
  endpoint,
  credentials: {
    accessKeyId: process.env.CALLER_ACCESS_KEY_ID,
    secretAccessKey: process.env.CALLER_SECRET_ACCESS_KEY,
  },
}).getToken(request);
const fromEnvironment = await createTokenClient({ endpoint }).getToken(request);
delete process.env.AWS_ACCESS_KEY_ID;
delete process.env.AWS_SECRET_ACCESS_KEY;
const failure = await createTokenClient({ endpoint }).getToken(request).catch((error) => error);

process.stdout.write(JSON.stringify({
  resolved: import.meta.resolve(name),
  execArgv: process.execArgv,
  nodeOptions: process.env.NODE_OPTIONS ?? null,
  given: { ...given, expiresAt: given.expiresAt.toISOString() },
  fromEnvironment: fromEnvironment.accessToken,
  failure: {
    isTokenServiceError: failure instanceof TokenServiceError,
    status: failure.status,
    error: failure.error,
    code: failure.code,
    description: failure.error_description,
  },
}));
`;

/** What {@link CONSUMER_SCRIPT} prints. */
interface ConsumerReport {
  readonly resolved: string;
  readonly execArgv: string[];
  readonly nodeOptions: string | null;
  readonly given: {
    accessToken: string;
    tokenType: string;
    client: string;
    scope: string;
    expiresAt: string;
  };
  readonly fromEnvironment: string;
  readonly failure: {
    isTokenServiceError: boolean;
    status: number;
    error: string;
    code: string;
    description: string;
  };
}

let sim: IdentityCloudSimulator;
let serve: ServeProcess;
let fixtureDir: { path: string; remove: () => Promise<void> };
let work: { path: string; remove: () => Promise<void> };
/** The folder the tarball of `npm pack` is installed in. */
let app: string;
/** What the consumer's processes wrote to stderr: never a token. */
const consumerStderr: string[] = [];

/**
 * This environment as another repository's shell has it: no AWS or TVS settings, no NODE_OPTIONS, none
 * of the npm settings of the npm running these tests; plus `extra`. npm is kept offline and npx from
 * installing anything, so that nothing but the tarball can end up in the folder.
 */
function consumerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = childEnv();
  for (const name of Object.keys(env)) {
    if (name === 'NODE_OPTIONS' || name.toLowerCase().startsWith('npm_')) delete env[name];
  }
  return {
    ...env,
    npm_config_offline: 'true',
    npm_config_yes: 'false',
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    ...extra,
  };
}

/** Run `command` in `cwd` to its end; rejects with its output when it exits other than `expected`. */
async function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; expected?: number },
): Promise<Child> {
  const child = spawnChild(command, args, { cwd: options.cwd, env: options.env ?? consumerEnv() });
  const code = await child.exited;
  if (options.cwd !== ROOT) consumerStderr.push(child.stderr());
  if (code !== (options.expected ?? 0)) {
    throw new Error(`${command} ${args.join(' ')} exited ${code}\n${child.stdout()}\n${child.stderr()}`);
  }
  return child;
}

/** An empty project folder with `tarball` installed by npm, offline. */
async function installed(tarball: string, name: string): Promise<string> {
  const folder = join(work.path, name);
  await mkdir(folder);
  await writeJson(folder, 'package.json', { name, version: '1.0.0', private: true, type: 'module' });
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: folder });
  await writeFile(join(folder, 'consumer.mjs'), CONSUMER_SCRIPT);
  return folder;
}

/** The packages in `folder`'s node_modules, as `@scope/name` (npm's own dot files left out). */
async function installedPackages(folder: string): Promise<string[]> {
  const names: string[] = [];
  const modules = join(folder, 'node_modules');
  for (const entry of await readdir(modules)) {
    if (entry.startsWith('.')) continue;
    if (!entry.startsWith('@')) names.push(entry);
    else for (const inner of await readdir(join(modules, entry))) names.push(`${entry}/${inner}`);
  }
  return names.sort();
}

/** The bytes of every file under `path`. */
async function sizeOf(path: string): Promise<number> {
  const stats = await lstat(path);
  if (!stats.isDirectory()) return stats.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await sizeOf(join(path, entry));
  return total;
}

/** Plain `node consumer.mjs` in `folder`, importing `packageName`: what the program printed. */
async function consume(folder: string, packageName: string): Promise<ConsumerReport> {
  const child = await run(process.execPath, ['consumer.mjs'], {
    cwd: folder,
    env: consumerEnv({
      CLIENT_PACKAGE: packageName,
      TVS_ENDPOINT: serve.url,
      CALLER_ACCESS_KEY_ID: ORDERS.accessKeyId,
      CALLER_SECRET_ACCESS_KEY: ORDERS.secretAccessKey,
      AWS_ACCESS_KEY_ID: ORDERS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ORDERS.secretAccessKey,
    }),
  });
  return JSON.parse(child.stdout()) as ConsumerReport;
}

beforeAll(async () => {
  work = await tempDir();
  const tarballs = join(work.path, 'tarballs');
  await mkdir(tarballs);
  // As a release would: npm pack of the workspace, whose prepack builds it.
  await run('npm', ['pack', '-w', 'packages/client', '--pack-destination', tarballs], {
    cwd: ROOT,
    env: consumerEnv(),
  });
  const [tarball] = (await readdir(tarballs)).filter((name) => name.endsWith('.tgz'));
  if (tarball === undefined) throw new Error('npm pack wrote no tarball');
  app = await installed(join(tarballs, tarball), 'consumer-app');

  const fixture = await serveFixture();
  sim = fixture.sim;
  fixtureDir = fixture.dir;
  const configPath = await writeJson(fixtureDir.path, 'tvs.config.json', fixture.document);
  serve = await startServe(configPath, childEnv(UNBOUNDED_MINTS_ENV));
}, 240_000);

afterAll(async () => {
  await serve?.stop();
  await sim?.close();
  await fixtureDir?.remove();
  await work?.remove();
  if (serve && sim) {
    recordServeTraffic(
      'test/client/package.e2e.test.ts (tvs serve, and the installed package)',
      serve,
      sim,
      consumerStderr.join(''),
    );
  }
});

describe('the packed @tvs/client, installed from its tarball', () => {
  it('installs alone: no dependency in node_modules, and kilobytes on disk', async () => {
    const size = await sizeOf(join(app, 'node_modules', '@tvs', 'client'));

    expect(await installedPackages(app)).toEqual(['@tvs/client']);
    expect(size, `installed size ${size} bytes`).toBeLessThan(MAX_INSTALLED_BYTES);
    expect((await readdir(join(app, 'node_modules', '@tvs', 'client'))).sort()).toEqual([
      'README.md',
      'bin',
      'dist',
      'package.json',
    ]);
    const built = await readdir(join(app, 'node_modules', '@tvs', 'client', 'dist'), {
      recursive: true,
      withFileTypes: true,
    });
    const files = built.filter((entry) => entry.isFile()).map((entry) => entry.name);
    expect(files).toContain('index.js');
    expect(files.filter((name) => !/\.(js|d\.ts)(\.map)?$/.test(name))).toEqual([]);
  });

  it('gets a token from tvs serve in plain Node: given credentials, the environment keys, and none', async () => {
    const seen = await consume(app, '@tvs/client');

    expect(seen.resolved).toMatch(/\/node_modules\/@tvs\/client\/dist\/index\.js$/);
    expect({ execArgv: seen.execArgv, nodeOptions: seen.nodeOptions }).toEqual({
      execArgv: [],
      nodeOptions: null,
    });
    expect(seen.given).toMatchObject({ tokenType: 'Bearer', ...WEBHOOKS });
    expect(seen.given.accessToken).toMatch(SIMULATOR_TOKEN);
    expect(sim.issuedTokens).toContain(seen.given.accessToken);
    expect(Date.parse(seen.given.expiresAt)).toBeGreaterThan(Date.now() + 3_000_000);
    expect(sim.issuedTokens).toContain(seen.fromEnvironment);
    expect(seen.failure).toMatchObject({
      isTokenServiceError: true,
      status: 0,
      error: 'no_credentials',
      code: 'TVS_ERR_NO_CREDENTIALS',
    });
    expect(seen.failure.description).toContain('install @aws-sdk/credential-provider-node');
    expect(seen.failure.description).toContain('AWS_ACCESS_KEY_ID');
  });

  it('runs `npx tvs token` with the keys in the environment (over AWS_PROFILE), printing the token only', async () => {
    const args = ['tvs', 'token', '--endpoint', serve.url, '--client', 'webhooks-us'];
    const env = consumerEnv({
      AWS_ACCESS_KEY_ID: ORDERS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ORDERS.secretAccessKey,
      AWS_PROFILE: 'a-profile-nobody-configured',
    });
    const token = await run('npx', [...args, '--scope', '.:webhooks/**'], { cwd: app, env });
    const printed = token.stdout();

    expect(printed).toMatch(/^[A-Za-z0-9_-]{64}\n$/);
    expect(sim.issuedTokens).toContain(printed.trim());
    expect(token.stderr()).toBe('');

    const none = await run('npx', [...args, '--scope', '.:webhooks/**'], {
      cwd: app,
      env: consumerEnv(),
      expected: 1,
    });
    expect(none.stdout()).toBe('');
    expect(none.stderr()).toMatch(
      /^tvs: no AWS credentials found to sign the request with: set AWS_ACCESS_KEY_ID/,
    );
    expect(none.stderr()).toContain('@aws-sdk/credential-provider-node');
  });

  it('runs `npx tvs --version`, and says the service commands come with the service', async () => {
    const versionRun = await run('npx', ['tvs', '--version'], { cwd: app });
    const serveRun = await run('npx', ['tvs', 'serve', '--config', 'tvs.config.json'], {
      cwd: app,
      expected: 2,
    });

    expect(versionRun.stdout()).toBe(`tvs ${version}\n`);
    expect(serveRun.stdout()).toBe('');
    expect(serveRun.stderr()).toMatch(
      /^tvs: serve is one of the service's own commands; it comes with the service's repository, not with this package/,
    );
  });
});

describe('npm run pack:client under a company scope', () => {
  it('packs @acme/tvs-client, which installs, imports and runs as @acme/tvs-client', async () => {
    const out = join(work.path, 'acme-tarballs');
    const pack = await run(
      'npm',
      ['run', '--silent', 'pack:client', '--', '--name', '@acme/tvs-client', '--out', out],
      { cwd: ROOT, env: consumerEnv() },
    );
    const tarball = pack.stdout().trim().split('\n').at(-1) as string;
    const misnamed = await run('npm', ['run', '--silent', 'pack:client', '--', '--name', 'Acme Client'], {
      cwd: ROOT,
      env: consumerEnv(),
      expected: 2,
    });
    expect(misnamed.stderr()).toContain('pack:client: --name must be an npm package name');

    expect(tarball).toBe(join(out, `acme-tvs-client-${version}.tgz`));
    const acme = await installed(tarball, 'acme-app');
    expect(await installedPackages(acme)).toEqual(['@acme/tvs-client']);
    const manifest = JSON.parse(
      await readFile(join(acme, 'node_modules', '@acme', 'tvs-client', 'package.json'), 'utf8'),
    );
    expect(manifest).toMatchObject({ name: '@acme/tvs-client', version, dependencies: {} });
    expect(manifest.scripts).toBeUndefined();

    const seen = await consume(acme, '@acme/tvs-client');
    expect(seen.resolved).toMatch(/\/node_modules\/@acme\/tvs-client\/dist\/index\.js$/);
    expect(sim.issuedTokens).toContain(seen.given.accessToken);
    const versionRun = await run('npx', ['tvs', '--version'], { cwd: acme });
    expect(versionRun.stdout()).toBe(`tvs ${version}\n`);
  }, 180_000);
});
