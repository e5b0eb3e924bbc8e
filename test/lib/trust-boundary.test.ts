/**
 * What synth says about the trust boundary: a grant whose account the resource policy does not admit is
 * an error (AWS would answer 403 before the function runs), a grant naming a principal of the deploying
 * account is a warning, and the stack outputs the caller and guard policies.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import type { ServiceConfigDocument } from '../../lib/service-config';
import { TokenVendingService } from '../../lib/token-vending-service';
import { TokenVendingStack } from '../../lib/token-vending-stack';
import {
  cdkJsonContext,
  EXAMPLE_CONFIG_FILE,
  exampleConfig,
  SYNTH_TIMEOUT_MS,
  testApp,
} from '../support/stacks';

const LISTED_ACCOUNT = '111111111111';
const OTHER_ACCOUNT = '222222222222';

function configWithGrants(...principals: string[]): ServiceConfigDocument {
  const config = exampleConfig();
  return {
    ...config,
    grants: principals.map((principal) => ({ principal, client: 'webhooks-us', scopes: ['.:webhooks/**'] })),
  };
}

function stackIn(account?: string): Stack {
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  return new Stack(app, 'Test', account ? { env: { account, region: 'us-east-1' } } : {});
}

const warningsOf = (stack: Stack) =>
  Annotations.fromStack(stack)
    .findWarning('*', Match.stringLikeRegexp('grants\\['))
    .map((finding) => String(finding.entry.data));

describe('grants and the accounts the resource policy admits', () => {
  it(
    'refuses at synth a grant whose account is not admitted, naming the grant',
    () => {
      const build = () =>
        new TokenVendingService(stackIn(), 'Tvs', {
          config: configWithGrants(
            `arn:aws:iam::${LISTED_ACCOUNT}:role/orders`,
            `arn:aws:iam::${OTHER_ACCOUNT}:role/reporting`,
          ),
          allowedAccounts: [LISTED_ACCOUNT],
        });

      expect(build).toThrow(
        /grants\[1\]\.principal: account 222222222222 is not admitted by the resource policy/,
      );
      expect(build).not.toThrow(/grants\[0\]/);
    },
    SYNTH_TIMEOUT_MS,
  );

  it('accepts any account when an organization is admitted (its members are not known at synth)', () => {
    expect(
      () =>
        new TokenVendingService(stackIn(), 'Tvs', {
          config: configWithGrants(`arn:aws:iam::${OTHER_ACCOUNT}:role/reporting`),
          allowedAccounts: [LISTED_ACCOUNT],
          allowedOrganizationId: 'o-a1b2c3d4e5',
        }),
    ).not.toThrow();
  });

  it('refuses a grant of another account when the stack admits only the account it is deployed to', () => {
    expect(
      () =>
        new TokenVendingStack(testApp(), 'Tvs', {
          env: { account: LISTED_ACCOUNT, region: 'us-east-1' },
          configFile: EXAMPLE_CONFIG_FILE, // its grant is of 123456789012
        }),
    ).toThrow(/grants\[0\]\.principal: account 123456789012 is not admitted .*admitted: 111111111111/);
  });

  it('warns when a grant names a principal of the deploying account, and not for another account', () => {
    const stack = stackIn(LISTED_ACCOUNT);
    new TokenVendingService(stack, 'Tvs', {
      config: configWithGrants(
        `arn:aws:iam::${OTHER_ACCOUNT}:role/reporting`,
        `arn:aws:iam::${LISTED_ACCOUNT}:role/orders`,
      ),
      allowedAccounts: [LISTED_ACCOUNT, OTHER_ACCOUNT],
    });

    const warnings = warningsOf(stack);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^grants\[1\] names a principal of the deploying account 111111111111/);
    expect(warnings[0]).toMatch(/account of its own/);
  });

  it('warns for an environment-agnostic stack that admits only its own account: every grant may be of it', () => {
    const stack = new TokenVendingStack(testApp(), 'Tvs', { configFile: EXAMPLE_CONFIG_FILE });

    expect(warningsOf(stack)).toEqual([expect.stringMatching(/^grants\[0\] names account 123456789012/)]);
  });
});

describe('the caller and guard policies as stack outputs', () => {
  it('outputs both as JSON documents', () => {
    const stack = new TokenVendingStack(testApp({ endpoint: 'function-url' }), 'Tvs', {
      configFile: EXAMPLE_CONFIG_FILE,
    });
    const outputs = Template.fromStack(stack).toJSON().Outputs as Record<string, { Description: string }>;
    const names = Object.keys(outputs);

    expect(names.some((name) => name.includes('GuardPolicy'))).toBe(true);
    expect(names.some((name) => name.includes('CallerPolicy'))).toBe(true);
    expect(stack.resolve(stack.service.guardPolicy.toJSON())).toMatchObject({
      Statement: [
        expect.objectContaining({
          Effect: 'Deny',
          Action: 'lambda:InvokeFunction',
          Condition: {
            BoolIfExists: { 'lambda:InvokedViaFunctionUrl': 'false' },
            Bool: { 'aws:PrincipalIsAWSService': 'false' },
          },
        }),
        expect.objectContaining({ Effect: 'Deny', Action: 'lambda:InvokeAsync' }),
      ],
    });
  });
});

describe('the configuration file at synth', () => {
  it('refuses a key given twice, naming its path, though JSON.parse would keep the last', () => {
    const text = readFileSync(EXAMPLE_CONFIG_FILE, 'utf8').replace(
      '"allowedScopes": ["*:config/**"],',
      '"allowedScopes": [".:config/**"],\n      "allowedScopes": ["*:config/**"],',
    );
    expect(text).toContain('".:config/**"');
    const configFile = join(mkdtempSync(join(tmpdir(), 'tvs-')), 'tvs.config.json');
    writeFileSync(configFile, text);

    expect(() => new TokenVendingStack(testApp(), 'Tvs', { configFile })).toThrow(
      /clients\.config-us\.allowedScopes: duplicate key/,
    );
  });
});
