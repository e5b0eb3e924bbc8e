import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { type ErrorCode, errorCodeInfo } from '@tvs/client/contract';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { OPENAPI_DOCUMENT } from '../../lib/rest-api-parts';
import { TokenVendingService } from '../../lib/token-vending-service';
import { TokenVendingStack } from '../../lib/token-vending-stack';
import {
  EXAMPLE_CONFIG_FILE,
  exampleConfig,
  grantedPairs,
  logicalId,
  render,
  SYNTH_TIMEOUT_MS,
  type TemplateStatement,
  testApp,
  testStack,
} from '../support/stacks';

type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string };

function resourcesOf(template: Template, type: string): Resource[] {
  return Object.values(template.findResources(type)) as Resource[];
}

/** The statements of every AWS::IAM::Policy, or of those attached to the role `roleId` only. */
function statementsOfPolicies(template: Template, roleId?: string): TemplateStatement[] {
  return resourcesOf(template, 'AWS::IAM::Policy')
    .filter(
      (policy) => roleId === undefined || JSON.stringify(policy.Properties.Roles).includes(`"${roleId}"`),
    )
    .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: TemplateStatement[] }).Statement);
}

/** The logical id of a service's function role, or of its rotation function's role. */
function roleIdOf(fn: lambda.IFunction): string {
  return logicalId(fn.role as iam.Role);
}

describe('TokenVendingStack with the example configuration', () => {
  let stack: TokenVendingStack;
  let template: Template;

  beforeAll(() => {
    stack = new TokenVendingStack(testApp(), 'Tvs', { configFile: EXAMPLE_CONFIG_FILE });
    template = Template.fromStack(stack);
  }, SYNTH_TIMEOUT_MS);

  describe('API', () => {
    it('authorizes every method with AWS_IAM', () => {
      const methods = resourcesOf(template, 'AWS::ApiGateway::Method');
      expect(methods.map((method) => method.Properties.HttpMethod).sort()).toEqual(['GET', 'POST']);
      for (const method of methods) expect(method.Properties.AuthorizationType).toBe('AWS_IAM');
    });

    it('validates the POST /v1/token body against a closed JSON schema', () => {
      template.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
        ValidateRequestBody: true,
        ValidateRequestParameters: true,
      });
      template.hasResourceProperties('AWS::ApiGateway::Model', {
        ContentType: 'application/json',
        Schema: {
          type: 'object',
          required: ['client', 'scope'],
          additionalProperties: false,
          properties: {
            client: { type: 'string' },
            scope: { type: 'string' },
            min_ttl: { type: 'integer', minimum: 0, maximum: 3000 },
            reject: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          },
        },
      });
      template.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: 'POST',
        RequestValidatorId: Match.anyValue(),
        RequestModels: { 'application/json': Match.anyValue() },
      });
    });

    it('admits the stack’s own account when no account or organization is given', () => {
      template.hasResourceProperties('AWS::ApiGateway::RestApi', {
        EndpointConfiguration: { Types: ['REGIONAL'] },
        Policy: {
          Statement: [
            {
              Sid: 'AllowListedAccounts',
              Effect: 'Allow',
              Action: 'execute-api:Invoke',
              Resource: 'execute-api:/*',
              Principal: {
                AWS: {
                  'Fn::Join': [
                    '',
                    ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root'],
                  ],
                },
              },
            },
          ],
        },
      });
    });

    it('throttles the stage, logs each request as JSON and never logs bodies', () => {
      const stage = resourcesOf(template, 'AWS::ApiGateway::Stage')[0] as Resource;
      expect(stage.Properties).toMatchObject({
        StageName: 'prod',
        MethodSettings: [
          {
            HttpMethod: '*',
            ResourcePath: '/*',
            ThrottlingRateLimit: 50,
            ThrottlingBurstLimit: 100,
            DataTraceEnabled: false,
          },
        ],
      });
      const format = JSON.parse((stage.Properties.AccessLogSetting as { Format: string }).Format);
      expect(format).toMatchObject({
        requestId: '$context.requestId',
        caller: '$context.identity.userArn',
        status: '$context.status',
        latencyMs: '$context.responseLatency',
      });
    });

    it('answers its own 400 in the RFC 6749 error shape, with the code of the failure', () => {
      template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: 'BAD_REQUEST_BODY',
        StatusCode: '400',
        ResponseTemplates: {
          'application/json':
            '{"error":"invalid_request","error_description":$context.error.messageString,"code":"TVS_ERR_INVALID_REQUEST"}',
        },
      });
    });

    it('names a code of the contract, with its status and error, in each of its own answers', () => {
      const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse'));
      expect(responses.length).toBe(8);
      for (const { Properties: response } of responses) {
        const body = (response.ResponseTemplates as Record<string, string>)['application/json'] as string;
        const { error, code } = JSON.parse(body.replace('$context.error.messageString', '"x"')) as {
          error: string;
          code: ErrorCode;
        };
        const info = errorCodeInfo(code);
        expect(['service', 'front-door'], code).toContain(info.from);
        if (info.error !== undefined) expect(error, code).toBe(info.error);
        if (info.status !== undefined && response.StatusCode !== undefined) {
          expect(response.StatusCode, code).toBe(String(info.status));
        }
      }
    });
  });

  describe('request model', () => {
    it('states exactly the TokenRequest schema of docs/openapi.json: fields, types and every limit', () => {
      const openapi = JSON.parse(readFileSync(OPENAPI_DOCUMENT, 'utf8')).components.schemas.TokenRequest;
      const withoutDescriptions = (properties: Record<string, Record<string, unknown>>) =>
        Object.fromEntries(
          Object.entries(properties).map(([name, { description: _description, ...rest }]) => [name, rest]),
        );
      const [model] = resourcesOf(template, 'AWS::ApiGateway::Model');
      const schema = model?.Properties.Schema as Record<string, unknown>;

      expect(schema.required).toEqual(openapi.required);
      expect(schema.additionalProperties).toBe(openapi.additionalProperties);
      expect(schema.properties).toEqual(withoutDescriptions(openapi.properties));
      // The limits the function enforces too (the review found them missing from the model).
      expect(schema.properties).toMatchObject({
        client: { maxLength: 64 },
        scope: { maxLength: 1024 },
        min_ttl: { minimum: 0, maximum: 3000 },
      });
    });
  });

  describe('function', () => {
    it('runs Node.js 24 on arm64 with a bounded timeout and the environment the handler reads', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Timeout: 10,
        MemorySize: 512,
        Handler: 'index.handler',
        Environment: {
          Variables: {
            TVS_CONFIG_FILE: '/var/task/tvs-config.json',
            TVS_TABLE_NAME: { Ref: logicalId(stack.service.table) },
            TVS_KMS_KEY_ID: { 'Fn::GetAtt': [logicalId(stack.service.tokenKey), 'Arn'] },
            POWERTOOLS_SERVICE_NAME: 'token-vending-service',
            POWERTOOLS_METRICS_NAMESPACE: 'TokenVendingService',
            POWERTOOLS_LOG_LEVEL: 'INFO',
            NODE_OPTIONS: '--enable-source-maps',
            TVS_FUNCTION_TIMEOUT_SECONDS: '10',
          },
        },
        LoggingConfig: { LogGroup: { Ref: logicalId(stack.service.logGroup) } },
      });
    });

    it('holds no reset grants: only the rotation function is told its own principal', () => {
      const functions = template.findResources('AWS::Lambda::Function');
      const variables = (fn: lambda.Function) => {
        const properties = functions[logicalId(fn)]?.Properties as
          | { Environment: { Variables: Record<string, unknown> } }
          | undefined;
        return properties?.Environment.Variables ?? {};
      };
      expect(variables(stack.service.function)).not.toHaveProperty('TVS_ROTATION_PRINCIPAL');
      const rotation = stack.service.rotation?.function as lambda.Function;
      expect(variables(rotation).TVS_ROTATION_PRINCIPAL).toEqual({
        'Fn::GetAtt': [roleIdOf(rotation), 'Arn'],
      });
      expect(variables(rotation).TVS_FUNCTION_TIMEOUT_SECONDS).toBe('30');
    });

    it('grants exactly its log group, two item actions on its table and the configured secret (the token key admits it by its own policy)', () => {
      const table = logicalId(stack.service.table);
      const logs = logicalId(stack.service.logGroup);
      const partitionRegionAccount = '<AWS::Partition>:%s:<AWS::Region>:<AWS::AccountId>';
      const arn = (service: string) => `arn:${partitionRegionAccount.replace('%s', service)}`;

      expect(grantedPairs(statementsOfPolicies(template, roleIdOf(stack.service.function)))).toEqual(
        [
          `logs:CreateLogStream on <${logs}.Arn>`,
          `logs:CreateLogStream on ${arn('logs')}:log-group:<${logs}>`,
          `logs:PutLogEvents on <${logs}.Arn>`,
          `logs:PutLogEvents on ${arn('logs')}:log-group:<${logs}>`,
          `dynamodb:GetItem on <${table}.Arn>`,
          `dynamodb:UpdateItem on <${table}.Arn>`,
          `secretsmanager:GetSecretValue on ${arn('secretsmanager')}:secret:tvs/config-us-??????`,
          `secretsmanager:GetSecretValue on ${arn('secretsmanager')}:secret:tvs/webhooks-us-??????`,
        ].sort(),
      );
    });

    it('writes no "*" resource in any AWS::IAM::Policy (the API resource policy is not one)', () => {
      const resources = statementsOfPolicies(template).flatMap((statement) =>
        Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource],
      );
      expect(resources.length).toBeGreaterThan(0);
      for (const resource of resources) expect(render(resource)).not.toBe('*');
    });

    it('attaches no managed policy to the function role, nor to the rotation function’s', () => {
      const roles = resourcesOf(template, 'AWS::IAM::Role');
      expect(roles).toHaveLength(2);
      for (const role of roles) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    });

    it('grants the rotation function exactly the rotation of the rotated secrets, the via secret, the table and its logs', () => {
      const rotation = stack.service.rotation?.function as lambda.Function;
      const table = logicalId(stack.service.table);
      const logs = logicalId(stack.service.rotation?.logGroup as logs.LogGroup);
      const partitionRegionAccount = '<AWS::Partition>:%s:<AWS::Region>:<AWS::AccountId>';
      const secret = (name: string) =>
        `arn:${partitionRegionAccount.replace('%s', 'secretsmanager')}:secret:${name}-??????`;
      const logsArn = `arn:${partitionRegionAccount.replace('%s', 'logs')}`;
      const rotate = ['DescribeSecret', 'GetSecretValue', 'PutSecretValue', 'UpdateSecretVersionStage'];

      expect(grantedPairs(statementsOfPolicies(template, roleIdOf(rotation)))).toEqual(
        [
          `logs:CreateLogStream on <${logs}.Arn>`,
          `logs:CreateLogStream on ${logsArn}:log-group:<${logs}>`,
          `logs:PutLogEvents on <${logs}.Arn>`,
          `logs:PutLogEvents on ${logsArn}:log-group:<${logs}>`,
          `dynamodb:GetItem on <${table}.Arn>`,
          `dynamodb:UpdateItem on <${table}.Arn>`,
          ...rotate.flatMap((action) => [
            `secretsmanager:${action} on ${secret('tvs/webhooks-us')}`,
            `secretsmanager:${action} on ${secret('tvs/config-us')}`,
          ]),
        ].sort(),
      );
    });

    it('warns at synth that a client rotating itself can be repaired only by another client past 15 minutes', () => {
      const warnings = Annotations.fromStack(stack).findWarning(
        '*',
        Match.stringLikeRegexp('rotates its own secret'),
      );

      expect(warnings.map((warning) => String(warning.entry.data))).toEqual([
        expect.stringMatching(
          /^client config-us rotates its own secret: .*at least 15 minutes.*only another client can repair it/,
        ),
      ]);
    });

    it('rotates each rotated secret on its schedule, Secrets Manager invoking only for that secret of this account', () => {
      const rotation = logicalId(stack.service.rotation?.function as lambda.Function);
      for (const name of ['tvs/webhooks-us', 'tvs/config-us']) {
        template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
          SecretId: name,
          RotationLambdaARN: { 'Fn::GetAtt': [rotation, 'Arn'] },
          RotationRules: { AutomaticallyAfterDays: 30 },
        });
        template.hasResourceProperties('AWS::Lambda::Permission', {
          Action: 'lambda:InvokeFunction',
          Principal: 'secretsmanager.amazonaws.com',
          FunctionName: { 'Fn::GetAtt': [rotation, 'Arn'] },
          SourceAccount: { Ref: 'AWS::AccountId' },
          SourceArn: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
        });
      }
      template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 2);
    });
  });

  describe('table', () => {
    it('is on demand, keyed by pk, expires items by ttl, and encrypted at rest by DynamoDB’s own key, not the token key', () => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        // SSEEnabled false is DynamoDB's AWS-owned key (every table is encrypted at rest), not a CMK.
        SSESpecification: { SSEEnabled: false },
      });
      // The token key is the only key, used for nothing else, and rotated.
      template.resourceCountIs('AWS::KMS::Key', 1);
      template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
      expect(JSON.stringify(template.findResources('AWS::DynamoDB::Table'))).not.toContain(
        logicalId(stack.service.tokenKey),
      );
    });

    it('retains the table, the key and the log groups by default', () => {
      for (const type of ['AWS::DynamoDB::Table', 'AWS::KMS::Key', 'AWS::Logs::LogGroup']) {
        for (const resource of resourcesOf(template, type)) expect(resource.DeletionPolicy).toBe('Retain');
      }
    });
  });

  describe('monitoring', () => {
    it('gives the alarms no action without an alarm topic (alarmTopicArn adds one: test/lib/token-vending-service.operations.test.ts)', () => {
      for (const alarm of resourcesOf(template, 'AWS::CloudWatch::Alarm')) {
        expect(alarm.Properties.AlarmActions).toBeUndefined();
        expect(alarm.Properties.OKActions).toBeUndefined();
      }
    });

    it('alarms on upstream failures, function errors and throttles, API 5xx, p99 latency and failed rotations', () => {
      template.resourceCountIs('AWS::CloudWatch::Alarm', 6);
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
        Dimensions: [
          {
            Name: 'FunctionName',
            Value: { Ref: logicalId(stack.service.rotation?.function as lambda.Function) },
          },
        ],
        Threshold: 1,
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'TokenVendingService',
        MetricName: 'UpstreamFailure',
        Dimensions: [{ Name: 'service', Value: 'token-vending-service' }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 5,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Throttles',
        Namespace: 'AWS/Lambda',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: '5XXError',
        Namespace: 'AWS/ApiGateway',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Latency',
        ExtendedStatistic: 'p99',
        Threshold: 3000,
      });
      template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
      // Every metric the function emits is on it, MintThrottled (the bounds of upstream use) included.
      const body = JSON.stringify(
        resourcesOf(template, 'AWS::CloudWatch::Dashboard')[0]?.Properties.DashboardBody,
      );
      for (const metric of [
        'TokenVended',
        'CacheHit',
        'UpstreamCall',
        'UpstreamFailure',
        'MintThrottled',
        'StoreFailure',
      ]) {
        expect(body).toContain(`\\"${metric}\\"`);
      }
    });

    it('has no pre-warm schedule unless asked', () => {
      template.resourceCountIs('AWS::Events::Rule', 0);
    });
  });
});

describe('TokenVendingService with an organization, VPC endpoints and every option', () => {
  let service: TokenVendingService;
  let template: Template;
  const secretsKeyArn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  beforeAll(() => {
    const stack = testStack();
    const config = exampleConfig();
    service = new TokenVendingService(stack, 'Tvs', {
      config: {
        ...config,
        clients: {
          ...config.clients,
          'config-eu': {
            tokenEndpoint: 'https://v1.api.eu.janrain.com/00000000-0000-0000-0000-000000000000/login/token',
            secretId: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:tvs/config-eu-AbCdEf',
            allowedScopes: ['*:config/**'],
          },
          'config-partial': {
            tokenEndpoint: 'https://v1.api.eu.janrain.com/00000000-0000-0000-0000-000000000000/login/token',
            secretId: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:tvs/config-partial',
            allowedScopes: ['.:config/**'],
          },
        },
      },
      allowedOrganizationId: 'o-a1b2c3d4e5',
      vpcEndpointIds: ['vpce-0123456789abcdef0'],
      secretsKey: kms.Key.fromKeyArn(stack, 'SecretsKey', secretsKeyArn),
      alarmTopic: new sns.Topic(stack, 'Alarms', { enforceSSL: true }),
      refreshMargin: Duration.seconds(120),
      timeout: Duration.seconds(20),
      minMintInterval: Duration.seconds(60),
      mintsPerMinute: 100,
      mintsPerCallerPerMinute: 20,
      removalPolicy: RemovalPolicy.DESTROY,
      prewarm: {
        schedule: events.Schedule.rate(Duration.minutes(4)),
        tokens: [{ client: 'webhooks-us', scope: '*:webhooks/**' }],
      },
    });
    template = Template.fromStack(Stack.of(service));
  }, SYNTH_TIMEOUT_MS);

  it('is a private API that admits the organization and denies requests from outside the endpoints', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      EndpointConfiguration: { Types: ['PRIVATE'], VpcEndpointIds: ['vpce-0123456789abcdef0'] },
      Policy: {
        Statement: [
          {
            Sid: 'AllowOrganization',
            Effect: 'Allow',
            Principal: { AWS: '*' },
            Action: 'execute-api:Invoke',
            Resource: 'execute-api:/*',
            Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' } },
          },
          {
            Sid: 'DenyOutsideVpcEndpoints',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 'execute-api:Invoke',
            Resource: 'execute-api:/*',
            Condition: { StringNotEquals: { 'aws:SourceVpce': ['vpce-0123456789abcdef0'] } },
          },
        ],
      },
    });
  });

  it('names complete secret ARNs as they are and adds the random suffix to partial ones', () => {
    const secrets = grantedPairs(statementsOfPolicies(template, roleIdOf(service.function))).filter((pair) =>
      pair.startsWith('secretsmanager:'),
    );
    expect(secrets).toEqual(
      [
        'secretsmanager:GetSecretValue on arn:aws:secretsmanager:eu-west-1:111122223333:secret:tvs/config-eu-AbCdEf',
        'secretsmanager:GetSecretValue on arn:aws:secretsmanager:eu-west-1:111122223333:secret:tvs/config-partial-??????',
        'secretsmanager:GetSecretValue on arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:tvs/config-us-??????',
        'secretsmanager:GetSecretValue on arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:tvs/webhooks-us-??????',
      ].sort(),
    );
  });

  it('lets the function decrypt with the secrets key only through Secrets Manager', () => {
    const statement = statementsOfPolicies(template, roleIdOf(service.function)).find(
      (candidate) => render(candidate.Resource) === secretsKeyArn,
    ) as TemplateStatement;
    expect(statement).toMatchObject({
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': expect.anything() } } },
    });
    expect(
      render(
        (statement.Condition as { StringEquals: Record<string, unknown> }).StringEquals['kms:ViaService'],
      ),
    ).toBe('secretsmanager.<AWS::Region>.amazonaws.com');
  });

  it('invokes the function on schedule with the pre-warm event', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(4 minutes)',
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [logicalId(service.function), 'Arn'] },
          Input: JSON.stringify({
            source: 'tvs.prewarm',
            tokens: [{ client: 'webhooks-us', scope: '*:webhooks/**' }],
          }),
        },
      ],
    });
  });

  it('notifies the alarm topic, passes the refresh margin and deletes state on removal', () => {
    for (const alarm of resourcesOf(template, 'AWS::CloudWatch::Alarm')) {
      expect(alarm.Properties.AlarmActions).toHaveLength(1);
      expect(alarm.Properties.OKActions).toHaveLength(1);
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 20,
      Environment: {
        Variables: Match.objectLike({
          TVS_FUNCTION_TIMEOUT_SECONDS: '20',
          TVS_REFRESH_MARGIN_SECONDS: '120',
          TVS_MIN_MINT_INTERVAL_SECONDS: '60',
          TVS_MINTS_PER_MINUTE: '100',
          TVS_MINTS_PER_CALLER_PER_MINUTE: '20',
        }),
      },
    });
    for (const type of ['AWS::DynamoDB::Table', 'AWS::KMS::Key', 'AWS::Logs::LogGroup']) {
      for (const resource of resourcesOf(template, type)) expect(resource.DeletionPolicy).toBe('Delete');
    }
  });
});

describe('TokenVendingStack with endpoint function-url (context)', () => {
  let stack: TokenVendingStack;
  let template: Template;
  let restApiTemplate: Template;

  beforeAll(() => {
    stack = new TokenVendingStack(testApp({ endpoint: 'function-url' }), 'Tvs', {
      configFile: EXAMPLE_CONFIG_FILE,
    });
    template = Template.fromStack(stack);
    restApiTemplate = Template.fromStack(
      new TokenVendingStack(testApp(), 'Tvs', { configFile: EXAMPLE_CONFIG_FILE }),
    );
  }, SYNTH_TIMEOUT_MS);

  it('has a function URL with AWS_IAM auth, and no API Gateway resource, stage or access log group', () => {
    template.resourceCountIs('AWS::Lambda::Url', 1);
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'AWS_IAM',
      TargetFunctionArn: { 'Fn::GetAtt': [logicalId(stack.service.function), 'Arn'] },
    });
    const types = Object.values(template.toJSON().Resources as Record<string, Resource>).map((r) => r.Type);
    expect(types.filter((type) => type.startsWith('AWS::ApiGateway::'))).toEqual([]);
    // The function's log group and the rotation function's: no access log group.
    expect(Object.keys(template.findResources('AWS::Logs::LogGroup')).sort()).toEqual(
      [
        logicalId(stack.service.logGroup),
        logicalId(stack.service.rotation?.logGroup as logs.LogGroup),
      ].sort(),
    );
    expect(stack.service.api).toBeUndefined();
    expect(stack.service.accessLogGroup).toBeUndefined();
    expect(stack.service.endpointKind).toBe('function-url');
  });

  it('admits the stack’s own account with both actions Lambda requires of URL callers, each under its condition', () => {
    const fn = { 'Fn::GetAtt': [logicalId(stack.service.function), 'Arn'] };
    const permissions = resourcesOf(template, 'AWS::Lambda::Permission').map((p) => p.Properties);
    const ofFunction = permissions.filter((p) => isDeepStrictEqual(p.FunctionName, fn));
    const others = permissions.filter((p) => !isDeepStrictEqual(p.FunctionName, fn));

    // The rotation function is invoked by Secrets Manager only, never through a URL.
    expect(others.map((p) => [p.Action, p.Principal, p.FunctionUrlAuthType ?? '-'])).toEqual([
      ['lambda:InvokeFunction', 'secretsmanager.amazonaws.com', '-'],
      ['lambda:InvokeFunction', 'secretsmanager.amazonaws.com', '-'],
    ]);
    expect(ofFunction).toEqual([
      {
        Action: 'lambda:InvokeFunctionUrl',
        FunctionName: fn,
        FunctionUrlAuthType: 'AWS_IAM',
        Principal: { Ref: 'AWS::AccountId' },
      },
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: fn,
        InvokedViaFunctionUrl: true,
        Principal: { Ref: 'AWS::AccountId' },
      },
    ]);
  });

  it('alarms and graphs the function URL’s own metrics in AWS/Lambda, never an API Gateway metric', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 6); // the five of the REST API kind's, and rotation
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Url5xxCount',
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(stack.service.function) } }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'UrlRequestLatency',
      Namespace: 'AWS/Lambda',
      ExtendedStatistic: 'p99',
      Threshold: 3000,
    });
    const dashboard = render(
      resourcesOf(template, 'AWS::CloudWatch::Dashboard')[0]?.Properties.DashboardBody,
    );
    expect(dashboard).toContain('UrlRequestCount');
    expect(JSON.stringify(template.toJSON())).not.toContain('AWS/ApiGateway');
  });

  it('gives the function exactly the grants, environment and settings of the REST API kind', () => {
    const functionOf = (t: Template) => resourcesOf(t, 'AWS::Lambda::Function')[0]?.Properties ?? {};
    const { Code: _code, ...urlFunction } = functionOf(template);
    const { Code: _restCode, ...restFunction } = functionOf(restApiTemplate);

    expect(grantedPairs(statementsOfPolicies(template))).toEqual(
      grantedPairs(statementsOfPolicies(restApiTemplate)),
    );
    expect(urlFunction).toEqual(restFunction);
  });

  it('outputs the function URL callers sign for', () => {
    const outputs = Object.values(template.toJSON().Outputs as Record<string, { Value: unknown }>);

    expect(outputs.map((output) => output.Value)).toContainEqual({
      'Fn::GetAtt': [logicalId(stack.service.functionUrl!), 'FunctionUrl'],
    });
  });
});

describe('TokenVendingService with endpoint function-url, an organization and a listed account', () => {
  it('admits the account and every principal of the organization, each with both actions', () => {
    const stack = testStack();
    const service = new TokenVendingService(stack, 'Tvs', {
      config: exampleConfig(),
      endpoint: 'function-url',
      allowedAccounts: ['111111111111'],
      allowedOrganizationId: 'o-a1b2c3d4e5',
      reservedConcurrency: 20,
    });
    const template = Template.fromStack(stack);

    const fn = { 'Fn::GetAtt': [logicalId(service.function), 'Arn'] };
    const ofFunction = resourcesOf(template, 'AWS::Lambda::Permission').filter(({ Properties: p }) =>
      isDeepStrictEqual(p.FunctionName, fn),
    );
    const admitted = ofFunction.map(({ Properties: p }) =>
      [
        p.Action,
        p.Principal,
        p.PrincipalOrgID ?? '-',
        p.FunctionUrlAuthType ?? '-',
        p.InvokedViaFunctionUrl ?? '-',
      ]
        .map(String)
        .join(' '),
    );

    expect(admitted.sort()).toEqual([
      'lambda:InvokeFunction * o-a1b2c3d4e5 - true',
      'lambda:InvokeFunction 111111111111 - - true',
      'lambda:InvokeFunctionUrl * o-a1b2c3d4e5 AWS_IAM -',
      'lambda:InvokeFunctionUrl 111111111111 - AWS_IAM -',
    ]);
    template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 20 });
  });
});
