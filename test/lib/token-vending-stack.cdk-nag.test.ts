import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { TokenVendingStack } from '../../lib/token-vending-stack';
import { EXAMPLE_CONFIG_FILE, SYNTH_TIMEOUT_MS, testApp } from '../support/stacks';

/** Every acknowledgment in the tree: rule id, reason and where it was made. */
function acknowledgments(root: IConstruct): { id: string; reason: string; path: string }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          id: id.replace(/^annotation::/i, ''),
          reason,
          path: construct.node.path,
        })),
      ),
  );
}

describe.each([
  {
    endpoint: 'rest-api',
    acknowledged: [
      'AwsSolutions-APIG3 at Tvs/TokenVendingService/Api/DeploymentStage.prod',
      'AwsSolutions-APIG6 at Tvs/TokenVendingService/Api/DeploymentStage.prod',
      'AwsSolutions-COG4 at Tvs/TokenVendingService/Api',
      'AwsSolutions-DDB3 at Tvs/TokenVendingService/Table',
    ],
  },
  // No API Gateway: only the table's finding is left to acknowledge.
  { endpoint: 'function-url', acknowledged: ['AwsSolutions-DDB3 at Tvs/TokenVendingService/Table'] },
])('cdk-nag AwsSolutions checks with endpoint $endpoint', ({ endpoint, acknowledged: expected }) => {
  let app: App;
  let synthError: unknown;

  beforeAll(() => {
    app = testApp({ endpoint });
    new TokenVendingStack(app, 'Tvs', { configFile: EXAMPLE_CONFIG_FILE });
    // Registered the way bin/app.ts does it: a violation makes synth throw with the report.
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
    try {
      app.synth();
    } catch (error) {
      synthError = error;
    }
  }, SYNTH_TIMEOUT_MS);

  it('synthesizes with the checks registered', () => {
    expect(synthError).toBeUndefined();
  });

  it('finds no unacknowledged error or warning', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(app);
    const findings = report.violations.map(
      (violation) =>
        `${violation.severity} ${violation.ruleName} at ${violation.violatingResources.map((r) => r.constructPath).join(', ')}: ${violation.description}`,
    );
    expect(findings).toEqual([]);
  });

  it('acknowledges only the findings the design answers differently, each with a written reason', () => {
    const acknowledged = acknowledgments(app);
    expect(acknowledged.map(({ id, path }) => `${id} at ${path}`).sort()).toEqual(expected);
    for (const { reason } of acknowledged) expect(reason.length).toBeGreaterThan(80);
  });
});
