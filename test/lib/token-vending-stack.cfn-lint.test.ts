import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenVendingService } from '../../lib/token-vending-service';
import { TokenVendingStack } from '../../lib/token-vending-stack';
import {
  cfnLint,
  describeFinding,
  EXAMPLE_CONFIG_FILE,
  exampleConfig,
  SYNTH_TIMEOUT_MS,
  testApp,
  testStack,
} from '../support/stacks';

describe('cfn-lint over the synthesized templates', () => {
  const workDir = mkdtempSync(join(tmpdir(), 'tvs-cfn-lint-'));
  const templates: Record<string, string> = {};

  beforeAll(() => {
    const stack = new TokenVendingStack(testApp(), 'Tvs', { configFile: EXAMPLE_CONFIG_FILE });
    const everyOption = testStack();
    new TokenVendingService(everyOption, 'Tvs', {
      config: exampleConfig(),
      allowedOrganizationId: 'o-a1b2c3d4e5',
      allowedAccounts: ['123456789012'],
      vpcEndpointIds: ['vpce-0123456789abcdef0'],
      alarmTopic: new sns.Topic(everyOption, 'Alarms', { enforceSSL: true }),
      refreshMargin: Duration.seconds(120),
      reservedConcurrency: 20,
      pointInTimeRecovery: true,
      apiTracing: true,
      prewarm: {
        tokens: [{ client: 'webhooks-us', scope: '*:webhooks/**' }],
        lookAhead: Duration.minutes(10),
      },
    });
    const functionUrl = new TokenVendingStack(testApp({ endpoint: 'function-url' }), 'Tvs', {
      configFile: EXAMPLE_CONFIG_FILE,
    });
    const functionUrlEveryOption = testStack();
    new TokenVendingService(functionUrlEveryOption, 'Tvs', {
      config: exampleConfig(),
      endpoint: 'function-url',
      allowedOrganizationId: 'o-a1b2c3d4e5',
      allowedAccounts: ['123456789012'],
      alarmTopic: new sns.Topic(functionUrlEveryOption, 'Alarms', { enforceSSL: true }),
      reservedConcurrency: 20,
      pointInTimeRecovery: true,
      prewarm: { tokens: [{ client: 'webhooks-us', scope: '*:webhooks/**' }] },
    });
    const candidates = { default: stack, everyOption, functionUrl, functionUrlEveryOption };
    for (const [name, candidate] of Object.entries(candidates) as [string, Stack][]) {
      const file = join(workDir, `${name}.template.json`);
      writeFileSync(file, JSON.stringify(Template.fromStack(candidate).toJSON(), null, 1));
      templates[name] = file;
    }
  }, SYNTH_TIMEOUT_MS);

  afterAll(() => rmSync(workDir, { recursive: true, force: true }));

  it.each(['default', 'everyOption', 'functionUrl', 'functionUrlEveryOption'])(
    'finds no error in the %s template',
    (name) => {
      const findings = cfnLint(templates[name] as string);
      const warnings = findings.filter((finding) => finding.Level !== 'Error');
      if (warnings.length > 0)
        console.warn(`cfn-lint (${name}):\n${warnings.map(describeFinding).join('\n')}`);
      expect(findings.filter((finding) => finding.Level === 'Error').map(describeFinding)).toEqual([]);
    },
  );
});
