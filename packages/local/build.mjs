// Builds `dist/commands.js`: the service's own `tvs` commands as plain JavaScript, so the `tvs` command of
// @tvs/client runs them with Node alone. The service's core and the simulator are bundled in (they are
// TypeScript packages of this repository); @tvs/client and every npm dependency stay imports, so the
// errors the commands throw are the very classes the `tvs` command checks for.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist', { recursive: true, force: true });

await build({
  entryPoints: { commands: 'src/commands.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  conditions: ['tvs-source'],
  chunkNames: 'chunks/[name]-[hash]',
  plugins: [
    {
      name: 'external-dependencies',
      setup(build) {
        // Bundle relative files and the repository's TypeScript packages; leave everything else external.
        build.onResolve({ filter: /^[^./]/ }, (args) =>
          /^@tvs\/(core|simulator)(\/|$)/.test(args.path) ? undefined : { path: args.path, external: true },
        );
      },
    },
  ],
  logLevel: 'warning',
});
