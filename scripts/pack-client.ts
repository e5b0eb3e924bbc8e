/**
 * `npm run pack:client -- [--name @scope/name] [--out DIR]`: the client package (`packages/client`) as an
 * npm tarball, under a name of your choosing, without renaming anything in the repository. It builds the
 * client, stages what the package publishes — package.json (with the name given), the README and the
 * package's `files` (bin, dist) — in a temporary folder, runs `npm pack` there and prints the tarball's
 * path. Publish it to a company registry with `npm publish <tarball> --registry https://npm.example.internal`.
 *
 * Exit codes: 0 packed; 1 the build or `npm pack` failed; 2 usage.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UsageError } from '@tvs/client/contract';

const CLIENT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'packages', 'client');

const USAGE = 'usage: npm run pack:client -- [--name @scope/name] [--out DIR]';

/** An npm package name, scoped or not: lower case, URL-safe, at most 214 characters. */
const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

/** What is packed, and where the tarball goes. */
interface PackOptions {
  /** The package's name in the tarball. @default the client's own (`@tvs/client`) */
  readonly name?: string;
  /** The folder the tarball is written to (created if missing). @default the folder npm was run from */
  readonly out?: string;
}

interface ClientManifest {
  name: string;
  files: string[];
  scripts?: Record<string, string>;
  devDependencies?: Record<string, string>;
  [field: string]: unknown;
}

/**
 * Run npm in `cwd`; its stdout is returned when `capture`, else written to this process's stderr (stdout
 * carries only the tarball's path).
 */
function npm(args: readonly string[], cwd: string, capture = false): string {
  const command = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const output = execFileSync(command, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', capture ? 'pipe' : 2, 'inherit'],
  });
  return output ?? '';
}

/** The manifest of the tarball: the client's, renamed, without the scripts that build from source. */
function publishedManifest(manifest: ClientManifest, name: string): ClientManifest {
  const { scripts: _scripts, devDependencies: _devDependencies, ...published } = manifest;
  return { ...published, name };
}

/** Build the client, stage its publishable files under `options.name` and pack them; the tarball's path. */
async function packClient(options: PackOptions = {}): Promise<string> {
  const manifest = JSON.parse(await readFile(join(CLIENT_DIR, 'package.json'), 'utf8')) as ClientManifest;
  const name = options.name ?? manifest.name;
  if (name.length > 214 || !PACKAGE_NAME.test(name)) {
    throw new UsageError(
      `--name must be an npm package name such as @acme/tvs-client, not ${JSON.stringify(name)}`,
    );
  }
  // npm runs scripts from the repository root; a relative --out is read from where npm was run.
  const out = resolve(process.env.INIT_CWD ?? process.cwd(), options.out ?? '.');
  await mkdir(out, { recursive: true });

  npm(['run', 'build'], CLIENT_DIR);
  const staging = await mkdtemp(join(tmpdir(), 'tvs-pack-client-'));
  try {
    await writeFile(
      join(staging, 'package.json'),
      `${JSON.stringify(publishedManifest(manifest, name), null, 2)}\n`,
    );
    for (const entry of ['README.md', ...manifest.files]) {
      await cp(join(CLIENT_DIR, entry), join(staging, entry), { recursive: true });
    }
    const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', out], staging, true)) as {
      filename: string;
    }[];
    if (!packed) throw new Error('npm pack wrote no tarball');
    return join(out, packed.filename);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  let values: { name?: string; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { name: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`pack:client: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    const tarball = await packClient({
      ...(values.name !== undefined ? { name: values.name } : {}),
      ...(values.out !== undefined ? { out: values.out } : {}),
    });
    process.stdout.write(`${tarball}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`pack:client: ${(error as Error).message}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}

process.exitCode = await main();
