import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { ServiceConfigDocument } from '../../lib/service-config';

/** Synthesis takes seconds (the first one most); hooks that synth get this timeout. */
export const SYNTH_TIMEOUT_MS = 120_000;

/** The repository root, where `cdk.json` and `config/` live. */
export const REPOSITORY_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The example configuration document the stack reads by default. */
export const EXAMPLE_CONFIG_FILE = `${REPOSITORY_ROOT}config/tvs.config.json`;

/** The feature flags of `cdk.json`, so tests see the template `cdk synth` writes. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(`${REPOSITORY_ROOT}cdk.json`, 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

/**
 * An app with `cdk.json`'s feature flags. Bundling is skipped (esbuild takes seconds and the template
 * does not depend on it); the `cdk synth` test bundles for real.
 */
export function testApp(context: Record<string, unknown> = {}): App {
  return new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], ...context } });
}

/** A stack in an app made by {@link testApp}. */
export function testStack(context: Record<string, unknown> = {}): Stack {
  return new Stack(testApp(context), 'Test');
}

/** A valid configuration with one client and one grant. */
export function exampleConfig(): ServiceConfigDocument {
  // The `$schema` key is for editors; the service ignores it and the parsed document leaves it out.
  const { $schema: _schema, ...document } = JSON.parse(readFileSync(EXAMPLE_CONFIG_FILE, 'utf8'));
  return document as ServiceConfigDocument;
}

/** The logical id of a construct's CloudFormation resource. */
export function logicalId(construct: IConstruct): string {
  return Stack.of(construct).getLogicalId(construct.node.defaultChild as CfnElement);
}

/**
 * A CloudFormation value as one readable string: `{Ref: X}` → `<X>`, `{Fn::GetAtt: [X, Y]}` → `<X.Y>`,
 * `{Fn::Join: ['', parts]}` → the parts joined.
 */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if (typeof object.Ref === 'string') return `<${object.Ref}>`;
    const getAtt = object['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return `<${getAtt.join('.')}>`;
    const join = object['Fn::Join'];
    if (Array.isArray(join)) return (join[1] as unknown[]).map(render).join(join[0] as string);
  }
  return JSON.stringify(value);
}

/** IAM statement as found in a template. */
export interface TemplateStatement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}

/** Every (action, resource) pair an Allow statement grants, as `action on resource` strings, sorted. */
export function grantedPairs(statements: readonly TemplateStatement[]): string[] {
  const pairs = new Set<string>();
  for (const statement of statements) {
    if (statement.Effect !== 'Allow') continue;
    const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
    const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
    for (const action of actions) {
      for (const resource of resources) pairs.add(`${action} on ${render(resource)}`);
    }
  }
  return [...pairs].sort();
}

/** One finding of `cfn-lint --format json`. */
export interface CfnLintFinding {
  readonly Level: 'Error' | 'Warning' | 'Informational';
  readonly Rule: { readonly Id: string };
  readonly Message: string;
  readonly Location: { readonly Path: readonly (string | number)[] };
}

/** Runs cfn-lint over a template; fails (never skips) when cfn-lint is not installed. */
export function cfnLint(templateFile: string): CfnLintFinding[] {
  const run = spawnSync('cfn-lint', ['--format', 'json', '--', templateFile], { encoding: 'utf8' });
  if (run.error) {
    const missing = (run.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(
      missing
        ? 'cfn-lint is not on PATH: install it with `pip install cfn-lint`.'
        : `cfn-lint failed to start: ${run.error.message}`,
    );
  }
  // Exit status is a bit mask (2 errors, 4 warnings, 8 informational); anything above 15 is a crash.
  if (run.status === null || run.status > 15) {
    throw new Error(`cfn-lint crashed (status ${run.status}): ${run.stderr}`);
  }
  return run.stdout.trim() === '' ? [] : (JSON.parse(run.stdout) as CfnLintFinding[]);
}

/** A finding as one line: level, rule, path and message. */
export function describeFinding(finding: CfnLintFinding): string {
  return `${finding.Level} ${finding.Rule.Id} at ${finding.Location.Path.join('/')}: ${finding.Message}`;
}
