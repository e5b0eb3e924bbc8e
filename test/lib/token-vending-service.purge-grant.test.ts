/**
 * `grantPurge(grantee)`: what `tvs purge` needs and nothing more, proven by evaluating the synthesized
 * template's policies (docs/cli.md "tvs purge", IAM).
 */

import { tokenEncryptionContext } from '@tvs/core/stores/token-crypto';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { PURGE_ACTIONS } from '../../lib/token-vending-service';
import { TokenVendingStack } from '../../lib/token-vending-stack';
import { TemplateAccess, type TemplateJson } from '../support/iam-evaluation';
import { EXAMPLE_CONFIG_FILE, logicalId, SYNTH_TIMEOUT_MS, testApp } from '../support/stacks';

let template: TemplateJson;
let access: TemplateAccess;
let purger: string;
let table: string;
let key: string;

beforeAll(() => {
  const stack = new TokenVendingStack(testApp(), 'Tvs', { configFile: EXAMPLE_CONFIG_FILE });
  const role = new iam.Role(stack, 'Purger', { assumedBy: new iam.AccountRootPrincipal() });
  stack.service.grantPurge(role);
  template = Template.fromStack(stack).toJSON();
  access = TemplateAccess.fromTemplate(template);
  purger = logicalId(role);
  table = logicalId(stack.service.table);
  key = logicalId(stack.service.tokenKey);
}, SYNTH_TIMEOUT_MS);

describe('grantPurge', () => {
  it('allows what tvs purge calls on the table: GetItem, UpdateItem and Scan', async () => {
    const role = access.of(purger);
    for (const action of PURGE_ACTIONS) expect(await role.can(action, access.arn(table))).toBe('Allowed');
  });

  it('allows nothing else on the table, and opens no token', async () => {
    const role = access.of(purger);
    const context = Object.fromEntries(
      Object.entries(tokenEncryptionContext(access.ref(table))).map(([name, value]) => [
        `kms:EncryptionContext:${name}`,
        value,
      ]),
    );

    for (const action of [
      'dynamodb:DeleteItem',
      'dynamodb:PutItem',
      'dynamodb:DeleteTable',
      'dynamodb:Query',
    ]) {
      expect(await role.can(action, access.arn(table))).toBe('ImplicitlyDenied');
    }
    expect(await role.can('kms:Decrypt', access.arn(key), { context })).toBe('ImplicitlyDenied');
  });

  it('pins the exact actions in the grantee policy', () => {
    const policies = Object.values(
      template.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
    ).filter(
      (resource) =>
        resource.Type === 'AWS::IAM::Policy' &&
        JSON.stringify(resource.Properties.Roles).includes(JSON.stringify({ Ref: purger })),
    );
    const actions = policies.flatMap((policy) =>
      (policy.Properties.PolicyDocument as { Statement: { Action: string | string[] }[] }).Statement.flatMap(
        (statement) => [statement.Action].flat(),
      ),
    );
    expect([...new Set(actions)].sort()).toEqual([...PURGE_ACTIONS].sort());
  });

  it('has the stack output the table name tvs purge --table takes', () => {
    const outputs = Object.values(template.Outputs as Record<string, { Value: unknown }>);
    expect(outputs.map((output) => output.Value)).toContainEqual({ Ref: table });
  });
});
