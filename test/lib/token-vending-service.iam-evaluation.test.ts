import { readFileSync } from 'node:fs';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { cacheKeyFor, ROTATION_KEY_PREFIX } from '@tvs/client/contract';
import { resetLeaseName } from '@tvs/core/flow/rotation';
import { budgetKey } from '@tvs/core/protocol/mint-budget';
import { circuitKey } from '@tvs/core/protocol/upstream-circuit';
import { resetTokenEncryptionContext, tokenEncryptionContext } from '@tvs/core/stores/token-crypto';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ServiceConfigDocument } from '../../lib/service-config';
import { TokenVendingService } from '../../lib/token-vending-service';
import { TokenVendingStack } from '../../lib/token-vending-stack';
import {
  allow,
  allowEverything,
  changedTemplate,
  DEFAULT_ENVIRONMENT,
  defaultKeyPolicy,
  type PolicyDocument,
  policyStatements,
  TemplateAccess,
  type TemplateJson,
} from '../support/iam-evaluation';
import {
  EXAMPLE_CONFIG_FILE,
  exampleConfig,
  logicalId,
  SYNTH_TIMEOUT_MS,
  testApp,
  testStack,
} from '../support/stacks';

const ACCOUNT = DEFAULT_ENVIRONMENT.account;
const REGION = DEFAULT_ENVIRONMENT.region;
const OUTSIDE_ACCOUNT = '999999999999';
const LISTED_ACCOUNT = '111111111111';
const SECRETS_ACCOUNT = '111122223333';
const ORGANIZATION = 'o-a1b2c3d4e5';
const VPC_ENDPOINT = 'vpce-0123456789abcdef0';
const SECRETS_KEY = `arn:aws:kms:eu-west-1:${SECRETS_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const ANOTHER_TABLE = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/another-table`;
const ANOTHER_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-0000-0000-000000000000`;

/** The ids of the construct's resources in a template, found from the construct itself. */
interface ServiceIds {
  readonly table: string;
  readonly key: string;
  readonly function: string;
  readonly api: string;
  readonly logGroup: string;
}

function serviceIds(service: TokenVendingService): ServiceIds {
  if (!service.api) throw new Error('these tests evaluate a service with endpoint "rest-api"');
  return {
    table: logicalId(service.table),
    key: logicalId(service.tokenKey),
    function: logicalId(service.function),
    api: logicalId(service.api),
    logGroup: logicalId(service.logGroup),
  };
}

/**
 * The ARN a configured `secretId` has once the secret exists: a name or partial ARN gets the six random
 * characters Secrets Manager appends; a complete ARN is the secret's.
 */
function existingSecretArn(secretId: string): string {
  if (!secretId.startsWith('arn:'))
    return `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${secretId}-AbCdEf`;
  return /-[A-Za-z0-9]{6}$/.test(secretId) ? secretId : `${secretId}-AbCdEf`;
}

/** A secret of another name that starts with the configured one: `tvs/webhooks-us-other-AbCdEf`. */
function secretWithSamePrefix(secretArn: string): string {
  return secretArn.replace(/-[A-Za-z0-9]{6}$/, '-other-AbCdEf');
}

/** The resource policy of a resource in another account that admits `principal` to `actions`. */
function ownerAdmits(principal: string, actions: string | string[]): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { AWS: principal }, Action: actions, Resource: '*' }],
  };
}

function accountOf(arn: string): string {
  return arn.split(':')[4] as string;
}

/** Statements of the template's AWS::IAM::Policy resources that grant `action`, live, in a copy. */
function identityStatementsGranting(copy: TemplateJson, action: string) {
  const found = policyStatements(
    copy,
    (statement, resource) =>
      resource.type === 'AWS::IAM::Policy' && [statement.Action].flat().includes(action),
  );
  expect(found).not.toHaveLength(0);
  return found.map(({ statement }) => statement);
}

/** A caller policy docs/deploy.md shows, between its `caller-policy:<kind>` markers. */
function documentedCallerPolicy(
  kind: 'function-url' | 'rest-api' = 'function-url',
): { Effect: 'Allow'; Action: string; Resource: string | string[] }[] {
  const readme = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');
  const block = new RegExp(
    `<!-- caller-policy:${kind}:start -->\\s*\`\`\`json\\n([\\s\\S]*?)\`\`\`\\s*<!-- caller-policy:${kind}:end -->`,
  ).exec(readme)?.[1];
  if (block === undefined) throw new Error(`docs/deploy.md has no caller-policy:${kind} block`);
  return JSON.parse(block) as { Effect: 'Allow'; Action: string; Resource: string | string[] }[];
}

describe('IAM evaluation of the stack with the example configuration (it admits its own account)', () => {
  let template: TemplateJson;
  let access: TemplateAccess;
  let ids: ServiceIds;
  let config: ServiceConfigDocument;

  let tableReader: string;
  let rotationIds: { function: string };

  beforeAll(() => {
    const stack = new TokenVendingStack(testApp(), 'Tvs', { configFile: EXAMPLE_CONFIG_FILE });
    // What a platform team does to let a job inspect the cache: the ordinary read grant of the table.
    const reader = new iam.Role(stack, 'TableReader', { assumedBy: new iam.AccountRootPrincipal() });
    stack.service.table.grantReadData(reader);
    template = Template.fromStack(stack).toJSON();
    access = TemplateAccess.fromTemplate(template);
    ids = serviceIds(stack.service);
    tableReader = logicalId(reader);
    rotationIds = {
      function: logicalId(stack.service.rotation?.function as TokenVendingService['function']),
    };
    config = exampleConfig();
  }, SYNTH_TIMEOUT_MS);

  const functionRole = () => access.of(access.functionRole(ids.function));
  /** An encryption context as the request context keys KMS conditions read. */
  const requestContextOf = (context: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(context).map(([name, value]) => [`kms:EncryptionContext:${name}`, value]),
    );
  /** The encryption context the function sends with every data-key call (`tokenEncryptionContext`). */
  const tokenContext = (table = access.ref(ids.table)) => requestContextOf(tokenEncryptionContext(table));
  /** The encryption context of the rotation function's reset tokens (`resetTokenEncryptionContext`). */
  const resetTokenContext = (table = access.ref(ids.table)) =>
    requestContextOf(resetTokenEncryptionContext(table));
  const tokenRoute = () => access.invokeArn({ api: ids.api, method: 'POST', path: 'v1/token' });

  describe('the token key (the encryption boundary)', () => {
    it('does not let a role given table.grantReadData open a token, though it reads the items', async () => {
      const reader = access.of(tableReader);

      expect(await reader.can('dynamodb:GetItem', access.arn(ids.table))).toBe('Allowed');
      expect(await reader.can('kms:Decrypt', access.arn(ids.key), { context: tokenContext() })).toBe(
        'ImplicitlyDenied',
      );
    });

    it('does not let any principal of the account use it, even with kms:* on * in its own policy', async () => {
      const administrator = access.of(`arn:aws:iam::${ACCOUNT}:role/administrator`, {
        policies: [allowEverything()],
      });

      const uses = await administrator.canEach(
        ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:Encrypt', 'kms:ReEncryptFrom', 'kms:CreateGrant'],
        access.arn(ids.key),
        { context: tokenContext() },
      );

      expect(new Set(Object.values(uses))).toEqual(new Set(['ImplicitlyDenied']));
    });

    it('lets the account’s administrators manage it: describe, rotate, change its policy, schedule its deletion', async () => {
      const administrator = access.of(`arn:aws:iam::${ACCOUNT}:role/administrator`, {
        policies: [allow(['kms:*'], ['*'])],
      });

      const management = await administrator.canEach(
        [
          'kms:DescribeKey',
          'kms:EnableKeyRotation',
          'kms:PutKeyPolicy',
          'kms:ScheduleKeyDeletion',
          'kms:TagResource',
        ],
        access.arn(ids.key),
      );

      expect(new Set(Object.values(management))).toEqual(new Set(['Allowed']));
    });

    it('is closed to principals of other accounts', async () => {
      const outsider = access.of(`arn:aws:iam::${OUTSIDE_ACCOUNT}:role/x`, { policies: [allowEverything()] });

      expect(await outsider.can('kms:Decrypt', access.arn(ids.key), { context: tokenContext() })).toBe(
        'ImplicitlyDenied',
      );
      expect(await outsider.can('kms:DescribeKey', access.arn(ids.key))).toBe('ImplicitlyDenied');
    });
  });

  describe('the rotation function role', () => {
    const rotationRole = () => access.of(access.functionRole(rotationIds.function));
    const rotated = [existingSecretArn('tvs/webhooks-us'), existingSecretArn('tvs/config-us')];
    const rotate = [
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
    ];

    it('may rotate exactly the rotated secrets, and nothing adjacent of Secrets Manager', async () => {
      for (const secret of rotated) {
        expect(new Set(Object.values(await rotationRole().canEach(rotate, secret))), secret).toEqual(
          new Set(['Allowed']),
        );
        const adjacent = await rotationRole().canEach(
          [
            'secretsmanager:RotateSecret',
            'secretsmanager:DeleteSecret',
            'secretsmanager:PutResourcePolicy',
            'secretsmanager:CancelRotateSecret',
            'secretsmanager:UpdateSecret',
          ],
          secret,
        );
        expect(new Set(Object.values(adjacent)), secret).toEqual(new Set(['ImplicitlyDenied']));
        const lookAlike = await rotationRole().canEach(rotate, secretWithSamePrefix(secret));
        expect(new Set(Object.values(lookAlike)), secret).toEqual(new Set(['ImplicitlyDenied']));
      }
    });

    it('may read and lease only its own items of the table (its reset tokens and leases, the via budgets and circuits), nothing more there', async () => {
      const table = access.arn(ids.table);
      const on = (pk: string) => ({ context: { 'dynamodb:LeadingKeys': [pk] } });
      const own = `${ROTATION_KEY_PREFIX}config-us#${'0'.repeat(64)}`;
      const vended = cacheKeyFor('webhooks-us', '*:webhooks/**');

      for (const pk of [
        own,
        resetLeaseName('webhooks-us'),
        budgetKey('config-us'),
        circuitKey('config-us'),
      ]) {
        expect(
          await rotationRole().canEach(['dynamodb:GetItem', 'dynamodb:UpdateItem'], table, on(pk)),
          pk,
        ).toEqual({
          'dynamodb:GetItem': 'Allowed',
          'dynamodb:UpdateItem': 'Allowed',
        });
      }
      // A vended token's item, or a budget of a client it does not mint through: not even readable.
      for (const pk of [
        vended,
        cacheKeyFor('config-us', '*:config/**'),
        budgetKey('webhooks-us'),
        circuitKey('webhooks-us'),
      ]) {
        expect(
          await rotationRole().canEach(['dynamodb:GetItem', 'dynamodb:UpdateItem'], table, on(pk)),
          pk,
        ).toEqual({
          'dynamodb:GetItem': 'ImplicitlyDenied',
          'dynamodb:UpdateItem': 'ImplicitlyDenied',
        });
      }
      const others = await rotationRole().canEach(
        ['dynamodb:Scan', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Query'],
        table,
      );
      expect(new Set(Object.values(others))).toEqual(new Set(['ImplicitlyDenied']));
    });

    it('seals and opens its reset tokens only: no vended token opens for it, and no reset token for the vend role', async () => {
      const key = access.arn(ids.key);
      const use = ['kms:GenerateDataKey', 'kms:Decrypt'];

      expect(await rotationRole().canEach(use, key, { context: resetTokenContext() })).toEqual({
        'kms:GenerateDataKey': 'Allowed',
        'kms:Decrypt': 'Allowed',
      });
      expect(await rotationRole().canEach(use, key, { context: tokenContext() })).toEqual({
        'kms:GenerateDataKey': 'ImplicitlyDenied',
        'kms:Decrypt': 'ImplicitlyDenied',
      });
      expect(await functionRole().canEach(use, key, { context: resetTokenContext() })).toEqual({
        'kms:GenerateDataKey': 'ImplicitlyDenied',
        'kms:Decrypt': 'ImplicitlyDenied',
      });
      expect(await functionRole().canEach(use, key, { context: tokenContext() })).toEqual({
        'kms:GenerateDataKey': 'Allowed',
        'kms:Decrypt': 'Allowed',
      });
      expect(await rotationRole().can('kms:Decrypt', key)).toBe('ImplicitlyDenied');
    });

    it('is invoked by Secrets Manager only for a rotated secret of this account', async () => {
      const secretsManager = access.of('secretsmanager.amazonaws.com');
      const rotationFunction = access.arn(rotationIds.function);
      const on = (secret: string, account = ACCOUNT) => ({
        context: { 'aws:SourceArn': secret, 'aws:SourceAccount': account },
      });

      for (const secret of rotated) {
        expect(await secretsManager.can('lambda:InvokeFunction', rotationFunction, on(secret)), secret).toBe(
          'Allowed',
        );
      }
      expect(
        await secretsManager.can(
          'lambda:InvokeFunction',
          rotationFunction,
          on(existingSecretArn('tvs/another')),
        ),
      ).toBe('ImplicitlyDenied');
      expect(
        await secretsManager.can(
          'lambda:InvokeFunction',
          rotationFunction,
          on(rotated[0] as string, OUTSIDE_ACCOUNT),
        ),
      ).toBe('ImplicitlyDenied');
    });

    it('is not the vend function: that one may not write a secret', async () => {
      expect(await functionRole().can('secretsmanager:PutSecretValue', rotated[0] as string)).toBe(
        'ImplicitlyDenied',
      );
    });
  });

  describe('the function role', () => {
    it('may GetItem and UpdateItem on its table and nothing else there', async () => {
      const decisions = await functionRole().canEach(
        [
          'dynamodb:GetItem',
          'dynamodb:UpdateItem',
          'dynamodb:Scan',
          'dynamodb:Query',
          'dynamodb:DeleteItem',
          'dynamodb:PutItem',
          'dynamodb:BatchWriteItem',
        ],
        access.arn(ids.table),
      );

      expect(decisions).toEqual({
        'dynamodb:GetItem': 'Allowed',
        'dynamodb:UpdateItem': 'Allowed',
        'dynamodb:Scan': 'ImplicitlyDenied',
        'dynamodb:Query': 'ImplicitlyDenied',
        'dynamodb:DeleteItem': 'ImplicitlyDenied',
        'dynamodb:PutItem': 'ImplicitlyDenied',
        'dynamodb:BatchWriteItem': 'ImplicitlyDenied',
      });
    });

    it('may not GetItem on another table', async () => {
      expect(await functionRole().can('dynamodb:GetItem', ANOTHER_TABLE)).toBe('ImplicitlyDenied');
    });

    it('may read each configured secret, and no other secret whose name starts the same', async () => {
      const secrets = Object.values(config.clients).map((client) => existingSecretArn(client.secretId));
      expect(secrets).not.toHaveLength(0);

      for (const secret of secrets) {
        expect(await functionRole().can('secretsmanager:GetSecretValue', secret), secret).toBe('Allowed');
        expect(
          await functionRole().can('secretsmanager:GetSecretValue', secretWithSamePrefix(secret)),
          secretWithSamePrefix(secret),
        ).toBe('ImplicitlyDenied');
      }
    });

    it('may neither describe nor write a configured secret', async () => {
      const secret = existingSecretArn('tvs/webhooks-us');

      const decisions = await functionRole().canEach(
        ['secretsmanager:DescribeSecret', 'secretsmanager:PutSecretValue'],
        secret,
      );

      expect(decisions).toEqual({
        'secretsmanager:DescribeSecret': 'ImplicitlyDenied',
        'secretsmanager:PutSecretValue': 'ImplicitlyDenied',
      });
    });

    it('may GenerateDataKey and Decrypt with the token key only with the service’s encryption context for its table', async () => {
      const actions = ['kms:GenerateDataKey', 'kms:Decrypt'];
      const key = access.arn(ids.key);

      const withContext = await functionRole().canEach(actions, key, { context: tokenContext() });
      const withoutContext = await functionRole().canEach(actions, key);
      const anotherTable = await functionRole().canEach(actions, key, {
        context: tokenContext('another-table'),
      });

      expect(withContext).toEqual({ 'kms:GenerateDataKey': 'Allowed', 'kms:Decrypt': 'Allowed' });
      expect(withoutContext).toEqual({
        'kms:GenerateDataKey': 'ImplicitlyDenied',
        'kms:Decrypt': 'ImplicitlyDenied',
      });
      expect(anotherTable).toEqual({
        'kms:GenerateDataKey': 'ImplicitlyDenied',
        'kms:Decrypt': 'ImplicitlyDenied',
      });
    });

    it('may use the token key for nothing else, and no other key of the account', async () => {
      const key = access.arn(ids.key);
      const other = await functionRole().canEach(['kms:GenerateDataKey', 'kms:Decrypt'], ANOTHER_KEY, {
        resourcePolicy: defaultKeyPolicy(ACCOUNT),
        context: tokenContext(),
      });
      const adjacent = await functionRole().canEach(
        [
          'kms:Encrypt',
          'kms:ReEncryptFrom',
          'kms:GenerateDataKeyWithoutPlaintext',
          'kms:CreateGrant',
          'kms:DescribeKey',
        ],
        key,
        { context: tokenContext() },
      );

      expect(other).toEqual({ 'kms:GenerateDataKey': 'ImplicitlyDenied', 'kms:Decrypt': 'ImplicitlyDenied' });
      expect(new Set(Object.values(adjacent))).toEqual(new Set(['ImplicitlyDenied']));
    });

    it('may write to its own log group and not to another', async () => {
      const ownStream = `${access.arn(ids.logGroup).replace(/:\*$/, '')}:log-stream:2025/01/01/abc`;
      const otherStream = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:another:log-stream:abc`;

      expect(await functionRole().can('logs:PutLogEvents', ownStream)).toBe('Allowed');
      expect(await functionRole().can('logs:PutLogEvents', otherStream)).toBe('ImplicitlyDenied');
    });

    it('can be assumed by Lambda and by no principal of the account', async () => {
      const role = access.functionRole(ids.function);
      const administrator = access.of(`arn:aws:iam::${ACCOUNT}:role/administrator`, {
        policies: [allowEverything()],
      });

      expect(await access.of('lambda.amazonaws.com').can('sts:AssumeRole', role)).toBe('Allowed');
      expect(await administrator.can('sts:AssumeRole', role)).toBe('ImplicitlyDenied');
    });
  });

  describe('the API', () => {
    it('denies a principal of an account outside allowedAccounts, even one its own policy allows everything', async () => {
      const outsider = access.of(`arn:aws:iam::${OUTSIDE_ACCOUNT}:role/caller`, {
        policies: [allowEverything()],
      });

      expect(await outsider.can('execute-api:Invoke', tokenRoute())).toBe('ImplicitlyDenied');
    });

    it('admits a principal of the allowed account whose identity policy allows execute-api:Invoke', async () => {
      const caller = access.of(`arn:aws:iam::${ACCOUNT}:role/orders-service`, {
        policies: [allow('execute-api:Invoke', tokenRoute())],
      });

      expect(await caller.can('execute-api:Invoke', tokenRoute())).toBe('Allowed');
    });

    it('admits a principal with the REST API caller policy docs/deploy.md shows, to its two routes only', async () => {
      // The documented example, its sample API replaced by this template's: the same method and path.
      const toThisApi = (resource: string) => {
        const [, method, path] = /\/prod\/([A-Z]+)\/(.+)$/.exec(resource) ?? [];
        return access.invokeArn({ api: ids.api, method: method as string, path: path as string });
      };
      const statements = documentedCallerPolicy('rest-api').map((statement) => ({
        ...statement,
        Resource: [statement.Resource].flat().map(toThisApi),
      }));
      const documented = { Version: '2012-10-17', Statement: statements } as const;
      const caller = access.of(`arn:aws:iam::${ACCOUNT}:role/orders-service`, { policies: [documented] });
      const outsider = access.of(`arn:aws:iam::${OUTSIDE_ACCOUNT}:role/orders-service`, {
        policies: [documented],
      });
      const clientsRoute = access.invokeArn({ api: ids.api, method: 'GET', path: 'v1/clients' });

      expect(await caller.can('execute-api:Invoke', tokenRoute())).toBe('Allowed');
      expect(await caller.can('execute-api:Invoke', clientsRoute)).toBe('Allowed');
      expect(await caller.can('execute-api:Invoke', tokenRoute().replace('/POST/', '/DELETE/'))).toBe(
        'ImplicitlyDenied',
      );
      expect(await outsider.can('execute-api:Invoke', tokenRoute())).toBe('ImplicitlyDenied');
    });

    it('does not admit a principal of the allowed account whose identity policy does not allow it', async () => {
      const caller = access.of(`arn:aws:iam::${ACCOUNT}:role/reporting`, {
        policies: [allow('dynamodb:GetItem', ANOTHER_TABLE)],
      });

      expect(await caller.can('execute-api:Invoke', tokenRoute())).toBe('ImplicitlyDenied');
    });

    it('lets API Gateway invoke the function for its own routes only', async () => {
      const apiGateway = access.of('apigateway.amazonaws.com');
      const fn = access.arn(ids.function);
      const via = (sourceArn: string) => ({ context: { 'aws:SourceArn': sourceArn } });

      expect(await apiGateway.can('lambda:InvokeFunction', fn, via(tokenRoute()))).toBe('Allowed');
      expect(
        await apiGateway.can(
          'lambda:InvokeFunction',
          fn,
          via(access.invokeArn({ api: ids.api, method: 'GET', path: 'v1/clients' })),
        ),
      ).toBe('Allowed');
      expect(
        await apiGateway.can('lambda:InvokeFunction', fn, via(tokenRoute().replace('/POST/', '/DELETE/'))),
      ).toBe('ImplicitlyDenied');
      expect(
        await apiGateway.can(
          'lambda:InvokeFunction',
          fn,
          via(`arn:aws:execute-api:${REGION}:${OUTSIDE_ACCOUNT}:otherapi00/prod/POST/v1/token`),
        ),
      ).toBe('ImplicitlyDenied');
    });
  });

  describe('the evaluator notices a broken policy', () => {
    it('identity policy: a widened table grant lets the function role Scan and read another table', async () => {
      const broken = changedTemplate(template, (copy) => {
        for (const statement of identityStatementsGranting(copy, 'dynamodb:GetItem')) {
          statement.Action = 'dynamodb:*';
          statement.Resource = '*';
        }
      });
      const role = TemplateAccess.fromTemplate(broken).of(access.functionRole(ids.function));

      expect(await role.can('dynamodb:Scan', access.arn(ids.table))).toBe('Allowed');
      expect(await role.can('dynamodb:GetItem', ANOTHER_TABLE)).toBe('Allowed');
    });

    it('identity policy: a secret grant widened from "-??????" to "-*" or to every action reaches too far', async () => {
      const secret = existingSecretArn('tvs/webhooks-us');
      const broken = changedTemplate(template, (copy) => {
        for (const statement of identityStatementsGranting(copy, 'secretsmanager:GetSecretValue')) {
          statement.Action = 'secretsmanager:*';
          statement.Resource = JSON.parse(JSON.stringify(statement.Resource).replaceAll('-??????', '-*'));
        }
      });
      const role = TemplateAccess.fromTemplate(broken).of(access.functionRole(ids.function));

      expect(await role.can('secretsmanager:GetSecretValue', secretWithSamePrefix(secret))).toBe('Allowed');
      expect(await role.can('secretsmanager:PutSecretValue', secret)).toBe('Allowed');
    });

    /** The token key's policy statements, live, in a copy of the template. */
    const tokenKeyStatements = (copy: TemplateJson) =>
      policyStatements(copy, (_s, resource) => resource.logicalId === ids.key).map(
        ({ statement }) => statement,
      );

    it('key policy: administrators allowed kms:* could open tokens; a reader too once its own policy asks', async () => {
      const broken = changedTemplate(template, (copy) => {
        for (const statement of tokenKeyStatements(copy)) {
          if (statement.Sid === 'AdministratorsManageTheKeyWithoutUsingIt') statement.Action = 'kms:*';
        }
      });
      const brokenAccess = TemplateAccess.fromTemplate(broken);
      const administrator = brokenAccess.of(`arn:aws:iam::${ACCOUNT}:role/administrator`, {
        policies: [allowEverything()],
      });
      const reader = brokenAccess.of(tableReader, { policies: [allow(['kms:Decrypt'], ['*'])] });

      expect(await administrator.can('kms:Decrypt', access.arn(ids.key), { context: tokenContext() })).toBe(
        'Allowed',
      );
      expect(await reader.can('kms:Decrypt', access.arn(ids.key), { context: tokenContext() })).toBe(
        'Allowed',
      );
    });

    it('key policy: without its encryption-context condition the function could open data keys of any context', async () => {
      const broken = changedTemplate(template, (copy) => {
        for (const statement of tokenKeyStatements(copy)) delete statement.Condition;
      });
      const role = TemplateAccess.fromTemplate(broken).of(access.functionRole(ids.function));

      expect(await role.can('kms:Decrypt', access.arn(ids.key))).toBe('Allowed');
      expect(
        await role.can('kms:Decrypt', access.arn(ids.key), { context: tokenContext('another-table') }),
      ).toBe('Allowed');
    });

    it('key policy: naming another principal takes the key from the function role; a Deny wins', async () => {
      const withoutTheRole = changedTemplate(template, (copy) => {
        for (const statement of tokenKeyStatements(copy)) {
          statement.Principal = { AWS: `arn:aws:iam::${ACCOUNT}:role/administrator` };
        }
      });
      const withDeny = changedTemplate(template, (copy) => {
        const keyPolicy = (
          copy.Resources as Record<string, { Properties: { KeyPolicy: { Statement: unknown[] } } }>
        )[ids.key]?.Properties.KeyPolicy as { Statement: unknown[] };
        keyPolicy.Statement.push({
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 'kms:Decrypt',
          Resource: '*',
        });
      });
      const key = access.arn(ids.key);

      expect(
        await TemplateAccess.fromTemplate(withoutTheRole)
          .of(access.functionRole(ids.function))
          .can('kms:Decrypt', key, { context: tokenContext() }),
      ).toBe('ImplicitlyDenied');
      expect(
        await TemplateAccess.fromTemplate(withDeny)
          .of(access.functionRole(ids.function))
          .can('kms:Decrypt', key, { context: tokenContext() }),
      ).toBe('ExplicitlyDenied');
    });

    it('API resource policy: admitting every principal lets the outside account in', async () => {
      const broken = changedTemplate(template, (copy) => {
        for (const { statement } of policyStatements(
          copy,
          (_s, resource) => resource.logicalId === ids.api,
        )) {
          statement.Principal = { AWS: '*' };
        }
      });
      const outsider = TemplateAccess.fromTemplate(broken).of(`arn:aws:iam::${OUTSIDE_ACCOUNT}:role/caller`, {
        policies: [allowEverything()],
      });

      expect(await outsider.can('execute-api:Invoke', tokenRoute())).toBe('Allowed');
    });

    it('API resource policy: its Allow turned into a Deny shuts out even a granted principal of the account', async () => {
      const broken = changedTemplate(template, (copy) => {
        for (const { statement } of policyStatements(
          copy,
          (_s, resource) => resource.logicalId === ids.api,
        )) {
          statement.Effect = 'Deny';
        }
      });
      const caller = TemplateAccess.fromTemplate(broken).of(`arn:aws:iam::${ACCOUNT}:role/orders-service`, {
        policies: [allow('execute-api:Invoke', tokenRoute())],
      });

      expect(await caller.can('execute-api:Invoke', tokenRoute())).toBe('ExplicitlyDenied');
    });

    it('Lambda permission: a source ARN widened to any API lets another account’s API invoke the function', async () => {
      const broken = changedTemplate(template, (copy) => {
        const resources = copy.Resources as Record<
          string,
          { Type: string; Properties: Record<string, unknown> }
        >;
        for (const resource of Object.values(resources)) {
          if (resource.Type === 'AWS::Lambda::Permission')
            resource.Properties.SourceArn = 'arn:aws:execute-api:*:*:*/*';
        }
      });
      const apiGateway = TemplateAccess.fromTemplate(broken).of('apigateway.amazonaws.com');

      expect(
        await apiGateway.can('lambda:InvokeFunction', access.arn(ids.function), {
          context: {
            'aws:SourceArn': `arn:aws:execute-api:${REGION}:${OUTSIDE_ACCOUNT}:otherapi00/prod/POST/v1/token`,
          },
        }),
      ).toBe('Allowed');
    });
  });

  describe('the evaluator fails loudly rather than guess', () => {
    it('refuses an intrinsic it does not resolve', () => {
      const withCondition = changedTemplate(template, (copy) => {
        identityStatementsGranting(copy, 'dynamodb:GetItem')[0]!.Resource = {
          'Fn::If': ['IsProduction', '*', { Ref: 'AWS::NoValue' }],
        };
      });

      expect(() => TemplateAccess.fromTemplate(withCondition)).toThrow(/does not resolve Fn::If/);
    });

    it('refuses an AWS managed policy unless its document is given or it is ignored on purpose', async () => {
      const managedArn = 'arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess';
      const withManaged = changedTemplate(template, (copy) => {
        const resources = copy.Resources as Record<
          string,
          { Type: string; Properties: Record<string, unknown> }
        >;
        for (const resource of Object.values(resources)) {
          if (resource.Type === 'AWS::IAM::Role') resource.Properties.ManagedPolicyArns = [managedArn];
        }
      });

      expect(() => TemplateAccess.fromTemplate(withManaged)).toThrow(/cannot be evaluated offline/);
      // Every role of the template (the function's, the rotation function's, the table reader's) got it.
      expect(
        TemplateAccess.fromTemplate(withManaged, { ignoreUnknownManagedPolicies: true })
          .ignoredManagedPolicies,
      ).toEqual([managedArn, managedArn, managedArn]);
      const given = TemplateAccess.fromTemplate(withManaged, {
        managedPolicies: { [managedArn]: allow(['dynamodb:Scan', 'dynamodb:Query'], '*') },
      });
      expect(await given.of(access.functionRole(ids.function)).can('dynamodb:Scan', ANOTHER_TABLE)).toBe(
        'Allowed',
      );
    });

    it('refuses a principal outside the template whose policies are not said', async () => {
      await expect(
        access.evaluate({
          principal: 'arn:aws:iam::123456789012:role/typo',
          action: 'dynamodb:GetItem',
          resource: ANOTHER_TABLE,
        }),
      ).rejects.toThrow(/not a principal of the template/);
    });

    it('refuses a key outside the template whose key policy is not given', async () => {
      await expect(functionRole().can('kms:Decrypt', ANOTHER_KEY)).rejects.toThrow(/give its key policy/);
    });

    it('refuses a context key the simulator would ignore', async () => {
      await expect(
        functionRole().can('dynamodb:GetItem', access.arn(ids.table), { context: { 's3:prefix': 'x' } }),
      ).rejects.toThrow(/ignores the context key/);
    });
  });
});

describe('IAM evaluation of the service with a listed account, an organization, VPC endpoints and every option', () => {
  let template: TemplateJson;
  let access: TemplateAccess;
  let ids: ServiceIds;
  let config: ServiceConfigDocument;

  beforeAll(() => {
    const stack = testStack();
    const example = exampleConfig();
    config = {
      ...example,
      clients: {
        ...example.clients,
        'config-eu': {
          tokenEndpoint: 'https://v1.api.eu.janrain.com/00000000-0000-0000-0000-000000000000/login/token',
          secretId: `arn:aws:secretsmanager:eu-west-1:${SECRETS_ACCOUNT}:secret:tvs/config-eu-AbCdEf`,
          allowedScopes: ['*:config/**'],
        },
        'config-partial': {
          tokenEndpoint: 'https://v1.api.eu.janrain.com/00000000-0000-0000-0000-000000000000/login/token',
          secretId: `arn:aws:secretsmanager:eu-west-1:${SECRETS_ACCOUNT}:secret:tvs/config-partial`,
          allowedScopes: ['.:config/**'],
        },
      },
    };
    const service = new TokenVendingService(stack, 'Tvs', {
      config,
      allowedAccounts: [LISTED_ACCOUNT],
      allowedOrganizationId: ORGANIZATION,
      vpcEndpointIds: [VPC_ENDPOINT],
      secretsKey: kms.Key.fromKeyArn(stack, 'SecretsKey', SECRETS_KEY),
      alarmTopic: new sns.Topic(stack, 'Alarms', { enforceSSL: true }),
      refreshMargin: Duration.seconds(120),
      removalPolicy: RemovalPolicy.DESTROY,
      prewarm: {
        schedule: events.Schedule.rate(Duration.minutes(4)),
        tokens: [{ client: 'webhooks-us', scope: '*:webhooks/**' }],
      },
    });
    template = Template.fromStack(Stack.of(service)).toJSON();
    access = TemplateAccess.fromTemplate(template);
    ids = serviceIds(service);
  }, SYNTH_TIMEOUT_MS);

  const tokenRoute = () => access.invokeArn({ api: ids.api, method: 'POST', path: 'v1/token' });
  const throughEndpoint = { context: { 'aws:SourceVpce': VPC_ENDPOINT } };
  const memberOf = (organization: string, account = OUTSIDE_ACCOUNT) =>
    access.of(`arn:aws:iam::${account}:role/caller`, {
      policies: [allow('execute-api:Invoke', '*')],
      context: { 'aws:PrincipalOrgID': organization },
    });

  describe('the API', () => {
    it('admits a principal of the organization that calls through the VPC endpoint', async () => {
      expect(await memberOf(ORGANIZATION).can('execute-api:Invoke', tokenRoute(), throughEndpoint)).toBe(
        'Allowed',
      );
    });

    it('does not admit a principal of another organization', async () => {
      expect(await memberOf('o-zzzzzzzzzz').can('execute-api:Invoke', tokenRoute(), throughEndpoint)).toBe(
        'ImplicitlyDenied',
      );
    });

    it('admits the listed account’s principal only when its own policy allows invoking the API', async () => {
      const allowed = access.of(`arn:aws:iam::${LISTED_ACCOUNT}:role/caller`, {
        policies: [allow('execute-api:Invoke', tokenRoute())],
      });
      const notAllowed = access.of(`arn:aws:iam::${LISTED_ACCOUNT}:role/other`, { policies: [] });

      expect(await allowed.can('execute-api:Invoke', tokenRoute(), throughEndpoint)).toBe('Allowed');
      expect(await notAllowed.can('execute-api:Invoke', tokenRoute(), throughEndpoint)).toBe(
        'ImplicitlyDenied',
      );
    });

    it('explicitly denies a request that does not come through one of its VPC endpoints, from anyone', async () => {
      const elsewhere = { context: { 'aws:SourceVpce': 'vpce-0fffffffffffffff0' } };

      expect(await memberOf(ORGANIZATION).can('execute-api:Invoke', tokenRoute())).toBe('ExplicitlyDenied');
      expect(await memberOf(ORGANIZATION).can('execute-api:Invoke', tokenRoute(), elsewhere)).toBe(
        'ExplicitlyDenied',
      );
      expect(await memberOf(ORGANIZATION, LISTED_ACCOUNT).can('execute-api:Invoke', tokenRoute())).toBe(
        'ExplicitlyDenied',
      );
    });
  });

  describe('the function role', () => {
    const functionRole = () => access.of(access.functionRole(ids.function));

    it('may read each configured secret (in another account, once its owner admits it) and no look-alike', async () => {
      const role = access.functionRole(ids.function);
      const secrets = Object.values(config.clients).map((client) => existingSecretArn(client.secretId));
      expect(secrets).toHaveLength(4);

      for (const secret of secrets) {
        const lookAlike = secretWithSamePrefix(secret);
        const options = (arn: string) =>
          accountOf(arn) === ACCOUNT ? {} : { resourcePolicy: ownerAdmits(role, 'secretsmanager:*') };
        expect(
          await functionRole().can('secretsmanager:GetSecretValue', secret, options(secret)),
          secret,
        ).toBe('Allowed');
        expect(
          await functionRole().can('secretsmanager:GetSecretValue', lookAlike, options(lookAlike)),
          lookAlike,
        ).toBe('ImplicitlyDenied');
        expect(
          await functionRole().can('secretsmanager:DescribeSecret', secret, options(secret)),
          secret,
        ).toBe('ImplicitlyDenied');
      }
    });

    it('may decrypt with the secrets key through Secrets Manager only', async () => {
      const keyPolicy = ownerAdmits(`arn:aws:iam::${ACCOUNT}:root`, 'kms:Decrypt');
      const viaSecretsManager = { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` };

      expect(
        await functionRole().can('kms:Decrypt', SECRETS_KEY, {
          resourcePolicy: keyPolicy,
          context: viaSecretsManager,
        }),
      ).toBe('Allowed');
      expect(await functionRole().can('kms:Decrypt', SECRETS_KEY, { resourcePolicy: keyPolicy })).toBe(
        'ImplicitlyDenied',
      );
      expect(
        await functionRole().can('kms:Decrypt', SECRETS_KEY, {
          resourcePolicy: keyPolicy,
          context: { 'kms:ViaService': `dynamodb.${REGION}.amazonaws.com` },
        }),
      ).toBe('ImplicitlyDenied');
    });

    it('lets EventBridge invoke the function only from the pre-warm rule', async () => {
      const rule = access.arn(access.logicalIds('AWS::Events::Rule')[0] as string);
      const eventBridge = access.of('events.amazonaws.com');
      const fn = access.arn(ids.function);

      expect(await eventBridge.can('lambda:InvokeFunction', fn, { context: { 'aws:SourceArn': rule } })).toBe(
        'Allowed',
      );
      expect(
        await eventBridge.can('lambda:InvokeFunction', fn, {
          context: { 'aws:SourceArn': `arn:aws:events:${REGION}:${ACCOUNT}:rule/another` },
        }),
      ).toBe('ImplicitlyDenied');
    });
  });

  describe('the evaluator notices a broken API resource policy', () => {
    it('without the VPC endpoint Deny, a request from anywhere is admitted', async () => {
      const broken = changedTemplate(template, (copy) => {
        for (const { statement } of policyStatements(
          copy,
          (s, r) => r.logicalId === ids.api && s.Effect === 'Deny',
        )) {
          statement.Effect = 'Allow';
          statement.Principal = { AWS: `arn:aws:iam::${ACCOUNT}:role/nobody` };
        }
      });
      const member = TemplateAccess.fromTemplate(broken).of(`arn:aws:iam::${OUTSIDE_ACCOUNT}:role/caller`, {
        policies: [allow('execute-api:Invoke', '*')],
        context: { 'aws:PrincipalOrgID': ORGANIZATION },
      });

      expect(await member.can('execute-api:Invoke', tokenRoute())).toBe('Allowed');
    });

    it('with the organization condition on another organization, the member is no longer admitted', async () => {
      const broken = changedTemplate(template, (copy) => {
        for (const { statement } of policyStatements(
          copy,
          (s, r) => r.logicalId === ids.api && s.Effect === 'Allow',
        )) {
          if (statement.Sid === 'AllowOrganization') {
            statement.Condition = { StringEquals: { 'aws:PrincipalOrgID': 'o-zzzzzzzzzz' } };
          }
        }
      });
      const member = TemplateAccess.fromTemplate(broken).of(`arn:aws:iam::${OUTSIDE_ACCOUNT}:role/caller`, {
        policies: [allow('execute-api:Invoke', '*')],
        context: { 'aws:PrincipalOrgID': ORGANIZATION },
      });

      expect(await member.can('execute-api:Invoke', tokenRoute(), throughEndpoint)).toBe('ImplicitlyDenied');
    });
  });
});

describe('kms:EncryptionContext conditions (iam-simulate 0.1.173 drops those keys; the evaluator renames them)', () => {
  const SERVICE = 'token-vending-service';
  const sealActions = ['kms:Decrypt', 'kms:GenerateDataKey'];
  /** A key policy in the shape of docs/contract.md's "Encryption boundary": the vend role, only with the context. */
  const sealingTemplate: TemplateJson = {
    Resources: {
      VendRole: {
        Type: 'AWS::IAM::Role',
        Properties: {
          AssumeRolePolicyDocument: {
            Statement: [
              { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
            ],
          },
          Policies: [
            {
              PolicyName: 'seal',
              PolicyDocument: {
                Statement: [
                  { Effect: 'Allow', Action: sealActions, Resource: { 'Fn::GetAtt': ['TokenKey', 'Arn'] } },
                ],
              },
            },
          ],
        },
      },
      Table: { Type: 'AWS::DynamoDB::Table', Properties: { TableName: 'tokens' } },
      TokenKey: {
        Type: 'AWS::KMS::Key',
        Properties: {
          KeyPolicy: {
            Statement: [
              {
                Sid: 'Administrators',
                Effect: 'Allow',
                // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub, resolved by the evaluator
                Principal: { AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root' } },
                Action: [
                  'kms:Describe*',
                  'kms:Put*',
                  'kms:Enable*',
                  'kms:Disable*',
                  'kms:ScheduleKeyDeletion',
                ],
                Resource: '*',
              },
              {
                Sid: 'SealWithContext',
                Effect: 'Allow',
                Principal: { AWS: { 'Fn::GetAtt': ['VendRole', 'Arn'] } },
                Action: sealActions,
                Resource: '*',
                Condition: {
                  StringEquals: {
                    'kms:EncryptionContext:service': SERVICE,
                    'kms:EncryptionContext:table': { 'Fn::GetAtt': ['Table', 'Arn'] },
                  },
                  'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['service', 'table'] },
                },
              },
              {
                Sid: 'DenyOtherServices',
                Effect: 'Deny',
                Principal: { AWS: '*' },
                Action: 'kms:Decrypt',
                Resource: '*',
                Condition: { StringNotEquals: { 'kms:EncryptionContext:service': SERVICE } },
              },
            ],
          },
        },
      },
    },
  };
  const access = TemplateAccess.fromTemplate(sealingTemplate);
  const vendRole = access.of('VendRole');
  const key = access.arn('TokenKey');
  const table = access.arn('Table');
  const sealedFor = (service: string, tableArn: string, extra: Record<string, string> = {}) => ({
    context: { 'kms:EncryptionContext:service': service, 'kms:EncryptionContext:table': tableArn, ...extra },
  });

  it('is needed: iam-simulate alone denies even a matching encryption context', async () => {
    const keyPolicy = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/vend` },
          Action: 'kms:Decrypt',
          Resource: '*',
          Condition: { StringEquals: { 'kms:EncryptionContext:service': SERVICE } },
        },
      ],
    };

    const outcome = await runSimulation(
      {
        request: {
          principal: `arn:aws:iam::${ACCOUNT}:role/vend`,
          action: 'kms:Decrypt',
          resource: { resource: key, accountId: ACCOUNT },
          contextVariables: { 'kms:EncryptionContext:service': SERVICE },
        },
        identityPolicies: [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: keyPolicy,
      },
      {},
    );

    expect(outcome.resultType).toBe('single');
    expect(outcome.resultType === 'single' && outcome.result.ignoredContextKeys).toEqual([
      'kms:EncryptionContext:service',
    ]);
    expect(outcome.resultType === 'single' && outcome.overallResult).toBe('ImplicitlyDenied');
  });

  it('allows the vend role to seal and open with the matching context', async () => {
    expect(await vendRole.canEach(sealActions, key, sealedFor(SERVICE, table))).toEqual({
      'kms:Decrypt': 'Allowed',
      'kms:GenerateDataKey': 'Allowed',
    });
  });

  it('still denies a mismatched, incomplete or widened context', async () => {
    const otherTable = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/other`;

    expect(await vendRole.can('kms:Decrypt', key, sealedFor(SERVICE, otherTable))).toBe('ImplicitlyDenied');
    expect(await vendRole.can('kms:GenerateDataKey', key, sealedFor('another-service', table))).toBe(
      'ImplicitlyDenied',
    );
    expect(await vendRole.can('kms:Decrypt', key, sealedFor('another-service', table))).toBe(
      'ExplicitlyDenied',
    );
    expect(
      await vendRole.can('kms:Decrypt', key, sealedFor(SERVICE, table, { 'kms:EncryptionContext:x': 'y' })),
    ).toBe('ImplicitlyDenied');
    expect(
      await vendRole.can('kms:Decrypt', key, { context: { 'kms:EncryptionContext:service': SERVICE } }),
    ).toBe('ImplicitlyDenied');
    expect(await vendRole.can('kms:Decrypt', key)).toBe('ExplicitlyDenied');
  });

  it('denies a reader of the table with kms:Decrypt in its own policy, whatever the context', async () => {
    const reader = access.of(`arn:aws:iam::${ACCOUNT}:role/table-reader`, {
      policies: [
        allow(['dynamodb:GetItem', 'dynamodb:Scan', 'kms:Decrypt', 'kms:DescribeKey'], [table, key]),
      ],
    });

    expect(await reader.can('dynamodb:Scan', table)).toBe('Allowed');
    expect(await reader.can('kms:Decrypt', key, sealedFor(SERVICE, table))).toBe('ImplicitlyDenied');
  });
});

describe('Lambda function URL permissions (ready for endpoint: "function-url")', () => {
  const urlTemplate: TemplateJson = {
    Resources: {
      Fn: { Type: 'AWS::Lambda::Function', Properties: { FunctionName: 'vend-token' } },
      FnUrl: {
        Type: 'AWS::Lambda::Url',
        Properties: { AuthType: 'AWS_IAM', TargetFunctionArn: { 'Fn::GetAtt': ['Fn', 'Arn'] } },
      },
      InvokeUrl: {
        Type: 'AWS::Lambda::Permission',
        Properties: {
          Action: 'lambda:InvokeFunctionUrl',
          FunctionName: { 'Fn::GetAtt': ['Fn', 'Arn'] },
          Principal: LISTED_ACCOUNT,
          FunctionUrlAuthType: 'AWS_IAM',
        },
      },
      InvokeThroughUrl: {
        Type: 'AWS::Lambda::Permission',
        Properties: {
          Action: 'lambda:InvokeFunction',
          FunctionName: { Ref: 'Fn' },
          Principal: LISTED_ACCOUNT,
          InvokedViaFunctionUrl: true,
        },
      },
    },
  };
  const access = TemplateAccess.fromTemplate(urlTemplate);
  const fn = access.arn('Fn');
  const callerIn = (account: string) =>
    access.of(`arn:aws:iam::${account}:role/caller`, {
      policies: [allow(['lambda:InvokeFunctionUrl', 'lambda:InvokeFunction'], fn)],
    });
  const throughUrl = { context: { 'lambda:InvokedViaFunctionUrl': 'true' } };

  it('admits the listed account to the URL, and not another account', async () => {
    expect(await callerIn(LISTED_ACCOUNT).can('lambda:InvokeFunctionUrl', fn)).toBe('Allowed');
    expect(await callerIn(OUTSIDE_ACCOUNT).can('lambda:InvokeFunctionUrl', fn)).toBe('ImplicitlyDenied');
  });

  it('admits the listed account to InvokeFunction only through the URL', async () => {
    expect(await callerIn(LISTED_ACCOUNT).can('lambda:InvokeFunction', fn, throughUrl)).toBe('Allowed');
    expect(await callerIn(LISTED_ACCOUNT).can('lambda:InvokeFunction', fn)).toBe('ImplicitlyDenied');
  });

  it('notices a URL whose auth type is not the one the permission requires', async () => {
    const publicUrl = changedTemplate(urlTemplate, (copy) => {
      (copy.Resources as Record<string, { Properties: Record<string, unknown> }>).FnUrl!.Properties.AuthType =
        'NONE';
    });

    expect(
      await TemplateAccess.fromTemplate(publicUrl)
        .of(`arn:aws:iam::${LISTED_ACCOUNT}:role/caller`, {
          policies: [allow('lambda:InvokeFunctionUrl', fn)],
        })
        .can('lambda:InvokeFunctionUrl', fn),
    ).toBe('ImplicitlyDenied');
  });
});

describe('IAM evaluation of the function URL (endpoint: function-url)', () => {
  const bothActions = ['lambda:InvokeFunctionUrl', 'lambda:InvokeFunction'];
  const throughUrl = { context: { 'lambda:InvokedViaFunctionUrl': 'true' } };

  /** What a call to the function URL needs: both decisions (urls-auth.html, since October 2025). */
  async function callThroughUrl(caller: ReturnType<TemplateAccess['of']>, fn: string) {
    return {
      'lambda:InvokeFunctionUrl': await caller.can('lambda:InvokeFunctionUrl', fn),
      'lambda:InvokeFunction': await caller.can('lambda:InvokeFunction', fn, throughUrl),
    };
  }
  const admitted = { 'lambda:InvokeFunctionUrl': 'Allowed', 'lambda:InvokeFunction': 'Allowed' };
  const refused = {
    'lambda:InvokeFunctionUrl': 'ImplicitlyDenied',
    'lambda:InvokeFunction': 'ImplicitlyDenied',
  };

  describe('of the stack, which admits its own account', () => {
    let template: TemplateJson;
    let access: TemplateAccess;
    let fn: string;

    beforeAll(() => {
      const stack = new TokenVendingStack(testApp({ endpoint: 'function-url' }), 'Tvs', {
        configFile: EXAMPLE_CONFIG_FILE,
      });
      template = Template.fromStack(stack).toJSON();
      access = TemplateAccess.fromTemplate(template);
      fn = access.arn(logicalId(stack.service.function));
    }, SYNTH_TIMEOUT_MS);

    it('denies an outsider whose own policy allows every action on every resource', async () => {
      const outsider = access.of(`arn:aws:iam::${OUTSIDE_ACCOUNT}:role/caller`, {
        policies: [allowEverything()],
      });

      expect(await callThroughUrl(outsider, fn)).toEqual(refused);
    });

    it('admits a principal of the account whose own policy allows both actions on the function', async () => {
      const caller = access.of(`arn:aws:iam::${ACCOUNT}:role/orders-service`, {
        policies: [allow(bothActions, fn)],
      });

      expect(await callThroughUrl(caller, fn)).toEqual(admitted);
    });

    it('does not admit a principal of the account whose own policy allows neither', async () => {
      const caller = access.of(`arn:aws:iam::${ACCOUNT}:role/reporting`, {
        policies: [allow('dynamodb:GetItem', ANOTHER_TABLE)],
      });

      expect(await callThroughUrl(caller, fn)).toEqual(refused);
    });

    it('notices a URL whose auth type is no longer AWS_IAM: the admission is for AWS_IAM only', async () => {
      const publicUrl = changedTemplate(template, (copy) => {
        for (const resource of Object.values(
          copy.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
        )) {
          if (resource.Type === 'AWS::Lambda::Url') resource.Properties.AuthType = 'NONE';
        }
      });
      const caller = TemplateAccess.fromTemplate(publicUrl).of(
        `arn:aws:iam::${OUTSIDE_ACCOUNT}:role/caller`,
        {
          policies: [allowEverything()],
        },
      );

      expect(await caller.can('lambda:InvokeFunctionUrl', fn)).toBe('ImplicitlyDenied');
    });
  });

  describe('of the construct with a listed account and an organization', () => {
    let template: TemplateJson;
    let access: TemplateAccess;
    let fn: string;

    beforeAll(() => {
      const stack = testStack();
      const service = new TokenVendingService(stack, 'Tvs', {
        config: exampleConfig(),
        endpoint: 'function-url',
        allowedAccounts: [LISTED_ACCOUNT],
        allowedOrganizationId: ORGANIZATION,
      });
      template = Template.fromStack(stack).toJSON();
      access = TemplateAccess.fromTemplate(template);
      fn = access.arn(logicalId(service.function));
    }, SYNTH_TIMEOUT_MS);

    const listedCaller = (policies: PolicyDocument[]) =>
      access.of(`arn:aws:iam::${LISTED_ACCOUNT}:role/caller`, { policies });
    const memberOf = (organization: string) =>
      access.of(`arn:aws:iam::${OUTSIDE_ACCOUNT}:role/caller`, {
        policies: [allow(bothActions, '*')],
        context: { 'aws:PrincipalOrgID': organization },
      });

    it('admits the listed account’s principal whose own policy allows both actions', async () => {
      expect(await callThroughUrl(listedCaller([allow(bothActions, fn)]), fn)).toEqual(admitted);
    });

    it('admits a principal with the caller policy docs/deploy.md shows: each action under its own condition', async () => {
      // The documented example, its sample function ARN replaced by this template's function.
      const statements = documentedCallerPolicy().map((statement) => ({ ...statement, Resource: fn }));
      const documented: PolicyDocument = { Version: '2012-10-17', Statement: statements };
      expect(statements.map((statement) => statement.Action).sort()).toEqual(bothActions.slice().sort());

      // Both conditions on one statement: each key exists only for its own action, so neither is allowed.
      const merged: PolicyDocument = {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: bothActions,
            Resource: fn,
            Condition: {
              StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' },
              Bool: { 'lambda:InvokedViaFunctionUrl': 'true' },
            },
          },
        ],
      };

      expect(await callThroughUrl(listedCaller([documented]), fn)).toEqual(admitted);
      expect(await listedCaller([documented]).can('lambda:InvokeFunction', fn)).toBe('ImplicitlyDenied');
      expect(await callThroughUrl(listedCaller([merged]), fn)).toEqual(refused);
    });

    it('lets no call through to a principal allowed lambda:InvokeFunctionUrl alone: the URL needs lambda:InvokeFunction too', async () => {
      expect(await callThroughUrl(listedCaller([allow('lambda:InvokeFunctionUrl', fn)]), fn)).toEqual({
        'lambda:InvokeFunctionUrl': 'Allowed',
        'lambda:InvokeFunction': 'ImplicitlyDenied',
      });
    });

    it('admits lambda:InvokeFunction only through the URL: the Invoke API stays closed to an admitted account', async () => {
      const administrator = listedCaller([allowEverything()]);

      expect(await administrator.can('lambda:InvokeFunction', fn, throughUrl)).toBe('Allowed');
      expect(await administrator.can('lambda:InvokeFunction', fn)).toBe('ImplicitlyDenied');
      expect(
        await administrator.can('lambda:InvokeFunction', fn, {
          context: { 'lambda:InvokedViaFunctionUrl': 'false' },
        }),
      ).toBe('ImplicitlyDenied');
    });

    it('admits a principal of the organization, and not one of another organization', async () => {
      expect(await callThroughUrl(memberOf(ORGANIZATION), fn)).toEqual(admitted);
      expect(await callThroughUrl(memberOf('o-zzzzzzzzzz'), fn)).toEqual(refused);
    });

    it('denies an outsider whose own policy allows every action on every resource', async () => {
      const outsider = access.of(`arn:aws:iam::${OUTSIDE_ACCOUNT}:role/caller`, {
        policies: [allowEverything()],
      });

      expect(await callThroughUrl(outsider, fn)).toEqual(refused);
    });

    it('notices a permission without its InvokedViaFunctionUrl condition: the Invoke API opens', async () => {
      const broken = changedTemplate(template, (copy) => {
        for (const resource of Object.values(
          copy.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
        )) {
          if (resource.Type === 'AWS::Lambda::Permission') delete resource.Properties.InvokedViaFunctionUrl;
        }
      });
      const administrator = TemplateAccess.fromTemplate(broken).of(
        `arn:aws:iam::${LISTED_ACCOUNT}:role/caller`,
        {
          policies: [allowEverything()],
        },
      );

      expect(await administrator.can('lambda:InvokeFunction', fn)).toBe('Allowed');
    });

    it('notices an organization permission without its organization: every account gets in', async () => {
      const broken = changedTemplate(template, (copy) => {
        for (const resource of Object.values(
          copy.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
        )) {
          if (resource.Type === 'AWS::Lambda::Permission') delete resource.Properties.PrincipalOrgID;
        }
      });
      const outsider = TemplateAccess.fromTemplate(broken).of(`arn:aws:iam::${OUTSIDE_ACCOUNT}:role/caller`, {
        policies: [allowEverything()],
      });

      expect(await callThroughUrl(outsider, fn)).toEqual(admitted);
    });
  });
});
