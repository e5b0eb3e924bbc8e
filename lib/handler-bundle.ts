import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { buildSync } from 'esbuild';

const REPOSITORY_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The Lambda handler's source entry. */
export const HANDLER_ENTRY = fileURLToPath(new URL('../lambdas/vend-token/handler.ts', import.meta.url));

/** The rotation function's source entry. */
export const ROTATION_ENTRY = fileURLToPath(new URL('../lambdas/rotate-secret/handler.ts', import.meta.url));

/** File name of the configuration document inside the bundle (`/var/task/tvs-config.json` in Lambda). */
export const CONFIG_FILE_NAME = 'tvs-config.json';

/**
 * A function's code: `entry` bundled by {@link bundleHandler} at synth with the validated configuration
 * document beside it, hashed by its output. Never Docker: local bundling always succeeds or throws.
 */
export function bundledCode(entry: string, configDocument: unknown): lambda.Code {
  return lambda.Code.fromAsset(dirname(entry), {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never used: local bundling always succeeds or throws, so synth needs no Docker engine.
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:24'),
      local: {
        tryBundle(outputDir: string) {
          bundleHandler(outputDir, { entry, configDocument });
          return true;
        },
      },
    },
  });
}

/** Options of {@link bundleHandler}. */
export interface HandlerBundleOptions {
  /** The validated configuration document, written beside the code as `tvs-config.json`. */
  readonly configDocument?: unknown;
  /** Write source maps (`.map` beside each file). @default true */
  readonly sourceMap?: boolean;
  /** Bundle another entry the same way (the benchmark's comparison bundles). @default the handler */
  readonly entry?: string;
}

/**
 * Bundle the handler with the local esbuild, as the Lambda runs it: minified ESM for Node 24, the AWS SDK
 * bundled, and **split**: what only a cache miss needs (undici, the Secrets Manager and KMS clients) goes
 * into chunks that are loaded on first use, so a cold start neither parses nor evaluates them (the
 * measured difference is in docs/performance.md). `NodejsFunction` cannot split (it always writes one
 * `--outfile`), hence this function.
 *
 * Synchronous, because CDK's local bundling hook is.
 */
export function bundleHandler(outdir: string, options: HandlerBundleOptions = {}): void {
  mkdirSync(outdir, { recursive: true });
  buildSync({
    absWorkingDir: REPOSITORY_ROOT,
    entryPoints: { index: options.entry ?? HANDLER_ENTRY },
    nodePaths: [join(REPOSITORY_ROOT, 'node_modules')],
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    mainFields: ['module', 'main'],
    // The repository's packages from their TypeScript sources, as the tests run them.
    conditions: ['tvs-source'],
    // undici and parts of the SDK are CommonJS and call require() for Node built-ins.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    minify: true,
    sourcemap: options.sourceMap ?? true,
    sourcesContent: false,
    legalComments: 'none',
    logLevel: 'warning',
  });
  if (options.configDocument !== undefined) {
    writeFileSync(join(outdir, CONFIG_FILE_NAME), `${JSON.stringify(options.configDocument, null, 2)}\n`);
  }
}

/** Every file of a bundle directory with its size in bytes, paths relative to it (for tests and the bench). */
export function bundleFiles(outdir: string): Map<string, number> {
  const files = new Map<string, number>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.set(relative(outdir, path), statSync(path).size);
    }
  };
  walk(outdir);
  return files;
}
