/**
 * The architecture as rules the code must keep (docs/architecture.md): which package may import which,
 * that each package declares exactly what it imports, and the layers of the core's folders.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

/** Every TypeScript source file under `dir`, as paths relative to the repository. */
function sources(dir: string): string[] {
  return (readdirSync(join(ROOT, dir), { recursive: true }) as string[])
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => join(dir, file));
}

/** The module specifiers a file imports: static, dynamic with a literal, and re-exports. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)'([^']+)'/g)].map(
    (match) => match[1] as string,
  );
}

/** The package a bare specifier names: `@scope/name` or `name`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] as string);
}

function bareImports(dir: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of sources(dir)) {
    for (const specifier of importsOf(file)) {
      if (specifier.startsWith('.') || specifier.startsWith('node:')) continue;
      found.set(specifier, [...(found.get(specifier) ?? []), file]);
    }
  }
  return found;
}

const manifest = (dir: string) =>
  JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as {
    name: string;
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
  };

/** Which workspace packages each part of the repository may import, and through which entry points. */
const ALLOWED_WORKSPACE_IMPORTS: Record<string, readonly string[]> = {
  'packages/client/src': [],
  'packages/simulator/src': ['@tvs/client/contract'],
  'packages/core/src': ['@tvs/client/contract'],
  'packages/local/src': [
    '@tvs/client',
    '@tvs/client/contract',
    '@tvs/client/cli',
    '@tvs/core/',
    '@tvs/simulator/',
  ],
  lambdas: ['@tvs/core/entry/'],
  lib: ['@tvs/client/contract', '@tvs/core/'],
};

describe('the packages', () => {
  it.each(Object.entries(ALLOWED_WORKSPACE_IMPORTS))(
    '%s imports only the workspace entry points it may',
    (dir, allowed) => {
      for (const [specifier, files] of bareImports(dir)) {
        if (!specifier.startsWith('@tvs/')) continue;
        const permitted = allowed.some((entry) =>
          entry.endsWith('/') ? specifier.startsWith(entry) : specifier === entry,
        );
        expect(permitted, `${files[0]} imports ${specifier}`).toBe(true);
      }
    },
  );

  it.each(['client', 'core', 'local', 'simulator'])(
    '@tvs/%s declares exactly the packages its source imports',
    (name) => {
      const dir = `packages/${name}`;
      const { dependencies = {}, peerDependencies = {} } = manifest(dir);
      const imported = new Set([...bareImports(`${dir}/src`).keys()].map(packageOf));
      // Types-only packages come with the repository's tooling, not with a package.
      imported.delete('aws-lambda');
      expect([...imported].sort()).toEqual(Object.keys(dependencies).sort());
      for (const peer of Object.keys(peerDependencies)) expect(imported.has(peer)).toBe(false);
    },
  );

  it("carry the service's release number, and depend on each other at exactly it", () => {
    const release = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
      dependencies: Record<string, string>;
    };
    for (const name of ['client', 'core', 'local', 'simulator']) {
      const { version, dependencies = {} } = manifest(`packages/${name}`) as {
        version?: string;
      } & ReturnType<typeof manifest>;
      expect(version, name).toBe(release.version);
      for (const [dependency, range] of Object.entries({ ...dependencies, ...release.dependencies })) {
        if (dependency.startsWith('@tvs/')) expect(range, `${name} → ${dependency}`).toBe(release.version);
      }
    }
  });

  it('the Python client carries the release number too', () => {
    const release = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
    const pyproject = readFileSync(join(ROOT, 'clients', 'python', 'pyproject.toml'), 'utf8');
    expect(/^version = "([^"]+)"$/m.exec(pyproject)?.[1]).toBe(release);
  });

  it('@tvs/client has no runtime dependencies', () => {
    expect(manifest('packages/client').dependencies ?? {}).toEqual({});
  });
});

/** The core's folders, top to bottom: a folder imports only from itself and the folders below it. */
const CORE_LAYERS = [
  'entry',
  'flow',
  'protocol',
  'upstream',
  'stores',
  'config',
  'policy',
  'record',
] as const;

describe('the layers of @tvs/core', () => {
  const core = 'packages/core/src';

  it('are every folder of the core, and nothing sits beside them', () => {
    const entries = readdirSync(join(ROOT, core), { withFileTypes: true });
    expect(entries.filter((entry) => !entry.isDirectory()).map((entry) => entry.name)).toEqual([]);
    expect(entries.map((entry) => entry.name).sort()).toEqual([...CORE_LAYERS].sort());
  });

  it('hold: a module imports only from its own folder and the folders below it', () => {
    const broken: string[] = [];
    for (const file of sources(core)) {
      const from = relative(core, file).split('/')[0] as (typeof CORE_LAYERS)[number];
      for (const specifier of importsOf(file).filter((s) => s.startsWith('.'))) {
        const target = relative(core, resolve(dirname(join(ROOT, file)), specifier).replace(`${ROOT}/`, ''));
        const to = target.split('/')[0] as (typeof CORE_LAYERS)[number];
        if (CORE_LAYERS.indexOf(to) < CORE_LAYERS.indexOf(from)) broken.push(`${file} imports ${specifier}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe('the lint', () => {
  it("caps every function's cognitive complexity at 15, with no function excused", () => {
    const biome = JSON.parse(readFileSync(join(ROOT, 'biome.json'), 'utf8'));
    const rule = biome.linter.rules.complexity.noExcessiveCognitiveComplexity;
    expect(rule.level).toBe('error');
    expect(rule.options.maxAllowedComplexity).toBeLessThanOrEqual(15);
    const excused = ['packages', 'lib', 'lambdas', 'bin', 'test', 'bench', 'scripts'].flatMap((dir) =>
      sources(dir).filter((file) =>
        readFileSync(join(ROOT, file), 'utf8').includes('noExcessiveCognitiveComplexity'),
      ),
    );
    expect(excused.filter((file) => file !== 'test/architecture.test.ts')).toEqual([]);
  });
});
