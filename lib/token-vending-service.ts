import { DEFAULT_ENDPOINT_KIND, type EndpointKind } from '@tvs/client/contract';
import type { ServiceConfig } from '@tvs/core/config/service-config';
import { SERVICE_NAME } from '@tvs/core/policy/service-name';
import { settingsEnvironment } from '@tvs/core/policy/settings';
import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { addFunctionUrl, functionUrlMetrics } from './function-url-parts';
import { bundledCode, CONFIG_FILE_NAME, HANDLER_ENTRY } from './handler-bundle';
import { assertValidProps, settingsOf } from './props-validation';
import {
  accessLogFormat,
  addOAuthGatewayResponses,
  resourcePolicy,
  restApiMetrics,
  tokenRequestModel,
} from './rest-api-parts';
import { rotatedClients, SecretRotation } from './rotation-parts';
import { secretResourceArn, validateServiceConfig } from './service-config';
import { tokenKeyPolicy } from './token-key';
import type { PrewarmSettings, TokenVendingServiceProps } from './token-vending-service-props';
import { callerPolicy, checkGrantAccounts, type FrontDoor, grantCaller, guardPolicy } from './trust-boundary';

/** `POWERTOOLS_SERVICE_NAME`, and so the `service` dimension of every metric the function emits. */
export { SERVICE_NAME };

/** Where the function finds its configuration document: the bundle is unpacked in `/var/task`. */
export const CONFIG_FILE_IN_BUNDLE = `/var/task/${CONFIG_FILE_NAME}`;

/** The `source` of the scheduled pre-warm event; the handler recognises the event by it. */
export const PREWARM_EVENT_SOURCE = 'tvs.prewarm';

/**
 * The page with a runbook entry per alarm, under a heading that is the alarm's name in
 * {@link TokenVendingAlarms}; every alarm description ends with `Runbook: <page>#<name in lower case>`.
 */
export const RUNBOOK_PAGE = 'docs/operations.md';

/** The construct id of each alarm (kept from the first release: an id change would replace the alarm). */
const ALARM_IDS: Record<keyof TokenVendingAlarms, string> = {
  upstreamFailures: 'UpstreamFailureAlarm',
  functionErrors: 'FunctionErrorAlarm',
  functionThrottles: 'FunctionThrottleAlarm',
  apiServerErrors: 'ApiServerErrorAlarm',
  apiLatency: 'ApiLatencyAlarm',
  rotationFailures: 'RotationFailureAlarm',
};

export type {
  FunctionLogLevel,
  PrewarmSettings,
  PrewarmToken,
  ThrottleSettings,
  TokenVendingServiceProps,
} from './token-vending-service-props';

/** The alarms of a {@link TokenVendingService}. */
export interface TokenVendingAlarms {
  /** Identity Cloud refused, failed or could not be reached, `upstreamFailureThreshold` times in 5 minutes. */
  readonly upstreamFailures: cloudwatch.Alarm;
  /** The function threw (the handler maps every expected failure to an answer, so this is a bug). */
  readonly functionErrors: cloudwatch.Alarm;
  /** Lambda throttled the function (concurrency exhausted). */
  readonly functionThrottles: cloudwatch.Alarm;
  /** The endpoint (the REST API stage, or the function URL) answered 5xx at least 5 times in 5 minutes. */
  readonly apiServerErrors: cloudwatch.Alarm;
  /** p99 latency of the endpoint (the REST API stage, or the function URL) reached `latencyAlarmThreshold`. */
  readonly apiLatency: cloudwatch.Alarm;
  /** A rotation step failed (the last working secret stays current), when the configuration rotates any. */
  readonly rotationFailures?: cloudwatch.Alarm;
}

/** What `tvs purge` calls on the table; see {@link TokenVendingService.grantPurge}. */
export const PURGE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Scan'] as const;

/**
 * The Token Vending Service: an IAM-authorized endpoint — a REST API, or a Lambda function URL — in front
 * of one Lambda function that vends narrowed-scope, cached Akamai Identity Cloud tokens, its DynamoDB
 * cache encrypted with its own KMS key, alarms, a dashboard and an optional pre-warm schedule.
 *
 * Every bad property fails synth with a sentence that says what to change.
 */
export class TokenVendingService extends Construct {
  /** Which endpoint callers reach the function through (`endpoint`). */
  readonly endpointKind: EndpointKind;
  /** The base URL callers use: the REST API stage's, or the function URL. */
  readonly url: string;
  /**
   * The REST API (`POST /v1/token`, `GET /v1/clients`), `AWS_IAM` on every method; with
   * `endpoint: 'rest-api'` only.
   */
  readonly api?: apigw.RestApi;
  /** The function URL, `AWS_IAM` auth; with `endpoint: 'function-url'` only. */
  readonly functionUrl?: lambda.FunctionUrl;
  /** The vend-token function. */
  readonly function: lambda.Function;
  /** The token cache table (partition key `pk`, TTL attribute `ttl`). */
  readonly table: dynamodb.Table;
  /**
   * The token key: the customer-managed key whose data keys seal the cached tokens, used for nothing
   * else. Its policy admits `GenerateDataKey` and `Decrypt` only to the function, with this service's
   * encryption context (see `token-key.ts`).
   */
  readonly tokenKey: kms.Key;
  /** The function's log group. */
  readonly logGroup: logs.LogGroup;
  /**
   * The API's access log group (one JSON object per request); with `endpoint: 'rest-api'` only (with a
   * function URL, the function's own line per request in {@link logGroup} is the access log).
   */
  readonly accessLogGroup?: logs.LogGroup;
  /** A small dashboard: traffic, errors, latency, cache and upstream. */
  readonly dashboard: cloudwatch.Dashboard;
  /** The alarms. */
  readonly alarms: TokenVendingAlarms;
  /** The rotation of the configured clients' secrets, when the configuration rotates any. */
  readonly rotation?: SecretRotation;
  /** The pre-warm rule, when `prewarm` is set. */
  readonly prewarmRule?: events.Rule;
  /**
   * The exact IAM policy a caller needs (stack output `CallerPolicy`): `execute-api:Invoke` on the two
   * routes, or for a function URL `lambda:InvokeFunctionUrl` (auth type `AWS_IAM`) and
   * `lambda:InvokeFunction` only through the URL. {@link grantInvoke} attaches it; a caller in another
   * account attaches it there.
   */
  readonly callerPolicy: iam.PolicyDocument;
  /**
   * The guard (stack output `GuardPolicy`): a service control policy that denies `lambda:InvokeFunction`
   * on the vend function except through its front door, to every principal of the accounts it is
   * attached to, administrators included. The function believes the caller its front door names, so a
   * direct invoke is worth every grant; attach this to the service's account (see `trust-boundary.ts`).
   */
  readonly guardPolicy: iam.PolicyDocument;
  private readonly frontDoor: FrontDoor;

  constructor(scope: Construct, id: string, props: TokenVendingServiceProps) {
    super(scope, id);

    const config = validateServiceConfig(props.config);
    assertValidProps(props, config);
    checkGrantAccounts(this, props, config);

    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const metricsNamespace = props.metricsNamespace ?? 'TokenVendingService';
    this.endpointKind = props.endpoint ?? DEFAULT_ENDPOINT_KIND;

    // Encrypted at rest by DynamoDB's own key: the tokens in it are sealed again under the token key,
    // which the table's encryption must not share (a table reader gets the table key's use).
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ttl',
      encryption: dynamodb.TableEncryption.DEFAULT,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? false },
      removalPolicy,
    });

    this.logGroup = new logs.LogGroup(this, 'FunctionLogs', { retention: logRetention, removalPolicy });
    if (this.endpointKind === 'rest-api') {
      this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', { retention: logRetention, removalPolicy });
    }

    const role = new iam.Role(this, 'FunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description:
        'Token Vending Service function: its log group, its table, the configured secrets (the token key admits it by its own policy)',
    });
    // Made before the token key, whose policy names it: its reset tokens are cached like any token.
    const rotationRole =
      rotatedClients(config).length > 0
        ? new iam.Role(this, 'RotationRole', {
            assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
            description:
              'Token Vending Service rotation function: the rotated secrets, its table, its log group',
          })
        : undefined;
    this.tokenKey = new kms.Key(this, 'TokenKey', {
      description:
        'Token Vending Service: seals cached tokens (data keys with the service encryption context only)',
      enableKeyRotation: true,
      removalPolicy,
      policy: tokenKeyPolicy(role, rotationRole, this.table.tableName),
    });
    const environment = this.functionEnvironment(props, metricsNamespace);
    this.function = this.createFunction(props, config, role, environment);
    this.grantFunction(props, config, role);
    if (rotationRole) {
      this.rotation = new SecretRotation(this, 'Rotation', {
        config,
        role: rotationRole,
        table: this.table,
        environment,
        logRetention,
        removalPolicy,
        ...(props.secretsKey ? { secretsKey: props.secretsKey } : {}),
      });
    }

    if (this.endpointKind === 'function-url') {
      this.functionUrl = addFunctionUrl(this.function, props);
      this.url = this.functionUrl.url;
      new CfnOutput(this, 'FunctionUrlOutput', {
        description: 'Token Vending Service: the function URL callers sign requests for (service lambda)',
        value: this.functionUrl.url,
      });
    } else {
      this.api = this.createApi(props, this.accessLogGroup as logs.LogGroup);
      this.url = this.api.url;
    }
    if (props.prewarm) {
      this.prewarmRule = this.createPrewarmRule(props.prewarm);
    }
    this.frontDoor = {
      kind: this.endpointKind,
      function: this.function,
      ...(this.api ? { api: this.api } : {}),
    };
    this.callerPolicy = callerPolicy(this.frontDoor);
    this.guardPolicy = guardPolicy(this.frontDoor);
    new CfnOutput(this, 'CallerPolicy', {
      description: 'Token Vending Service: the IAM policy document a caller needs (grantInvoke attaches it)',
      value: Stack.of(this).toJsonString(this.callerPolicy.toJSON()),
    });
    new CfnOutput(this, 'GuardPolicy', {
      description:
        'Token Vending Service: a service control policy that lets the vend function be invoked only through its front door',
      value: Stack.of(this).toJsonString(this.guardPolicy.toJSON()),
    });
    this.alarms = this.createAlarms(props, metricsNamespace);
    this.dashboard = this.createDashboard(metricsNamespace);
    this.acknowledgeNagFindings(props);
  }

  /**
   * Let `grantee` call the service: its identity policy gets exactly {@link callerPolicy}. The grants of
   * the configuration still decide which tokens it gets. For a principal of another account, whose
   * policy this stack cannot change, attach the `CallerPolicy` output in that account instead.
   */
  grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return grantCaller(this.frontDoor, grantee);
  }

  /**
   * The environment of the vend function and, but for its timeout and `TVS_ROTATION_PRINCIPAL`, of the
   * rotation function. Only the rotation function's configuration holds its reset grants: the vend
   * function never vends a reset token.
   */
  private functionEnvironment(
    props: TokenVendingServiceProps,
    metricsNamespace: string,
  ): Record<string, string> {
    return {
      TVS_CONFIG_FILE: CONFIG_FILE_IN_BUNDLE,
      TVS_TABLE_NAME: this.table.tableName,
      TVS_KMS_KEY_ID: this.tokenKey.keyArn,
      POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: metricsNamespace,
      POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
      NODE_OPTIONS: '--enable-source-maps',
      // The function derives its timing from its timeout (every request ends 2 s before it, so a slow
      // upstream is a 503 with Retry-After, never a timed-out invocation) and reads the bounds of upstream
      // use; both were checked with the function's own rules by assertValidProps.
      ...settingsEnvironment(settingsOf(props)),
    };
  }

  private createFunction(
    props: TokenVendingServiceProps,
    config: ServiceConfig,
    role: iam.IRole,
    environment: Record<string, string>,
  ): lambda.Function {
    return new lambda.Function(this, 'Function', {
      description: 'Token Vending Service: vends narrowed-scope, cached Identity Cloud tokens',
      // Bundled by the local esbuild, split so a cold start loads only what a cache hit needs
      // (lib/handler-bundle.ts says why this is not NodejsFunction). The AWS SDK is bundled: pinned
      // versions, and one minified module graph loads faster than the runtime's SDK files.
      code: bundledCode(HANDLER_ENTRY, config.document),
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      reservedConcurrentExecutions: props.reservedConcurrency,
      role,
      logGroup: this.logGroup,
      environment,
    });
  }

  /**
   * Let `grantee` run `tvs purge` (docs/cli.md): read a cache item, remove its token, and — for `--all` —
   * scan the table for a client's keys. No KMS permission: removing a sealed token never opens it, and
   * a purger can still open no token. A purger can make the service mint again (within its bounds of
   * upstream use), as any writer of the table could.
   */
  grantPurge(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, ...PURGE_ACTIONS);
  }

  /**
   * Least privilege, each grant named: nothing here has a `*` resource.
   */
  private grantFunction(props: TokenVendingServiceProps, config: ServiceConfig, role: iam.Role): void {
    this.logGroup.grant(role, 'logs:CreateLogStream', 'logs:PutLogEvents');

    // Not grantReadWriteData: that adds BatchWriteItem, DeleteItem, Query, Scan, … and, for the key,
    // kms:ReEncrypt* and kms:GenerateDataKey*. The cache reads (consistent GetItem), and writes tokens and
    // takes leases with conditional UpdateItem; nothing else.
    this.table.grant(role, 'dynamodb:GetItem', 'dynamodb:UpdateItem');

    // The token key needs no statement here: its key policy names this role (with the encryption
    // context), and a key policy that names a principal of its own account needs no IAM grant beside it.

    // Not secret.grantRead: that adds DescribeSecret, which the function never calls.
    const secretArns = [...new Set(config.clients.map((client) => secretResourceArn(this, client.secretId)))];
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: secretArns }),
    );

    if (props.secretsKey) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [props.secretsKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
        }),
      );
    }
  }

  private createApi(props: TokenVendingServiceProps, accessLogGroup: logs.LogGroup): apigw.RestApi {
    const vpcEndpointIds = props.vpcEndpointIds ?? [];
    const isPrivate = vpcEndpointIds.length > 0;
    const throttle = props.throttle ?? { rateLimit: 50, burstLimit: 100 };

    const api = new apigw.RestApi(this, 'Api', {
      restApiName: `${Stack.of(this).stackName}-${this.node.id}`,
      description: 'Token Vending Service: narrowed-scope, cached Identity Cloud tokens for IAM principals',
      endpointConfiguration: isPrivate
        ? {
            types: [apigw.EndpointType.PRIVATE],
            vpcEndpoints: vpcEndpointIds.map((vpcEndpointId) =>
              ec2.InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(this, `Endpoint-${vpcEndpointId}`, {
                vpcEndpointId,
                port: 443,
              }),
            ),
          }
        : { types: [apigw.EndpointType.REGIONAL] },
      policy: resourcePolicy(props),
      // The account-wide API Gateway logging role is a regional singleton; it is not this construct's to own.
      cloudWatchRole: false,
      failOnWarnings: true,
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
      deployOptions: {
        stageName: props.stageName ?? 'prod',
        throttlingRateLimit: throttle.rateLimit,
        throttlingBurstLimit: throttle.burstLimit,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogGroup),
        accessLogFormat: accessLogFormat(),
        loggingLevel: props.executionLoggingLevel ?? apigw.MethodLoggingLevel.OFF,
        // Bodies hold tokens: never log them.
        dataTraceEnabled: false,
        tracingEnabled: props.apiTracing ?? false,
      },
    });
    // A changed resource policy takes effect only with a new deployment.
    api.latestDeployment?.addToLogicalId({
      allowedAccounts: props.allowedAccounts,
      allowedOrganizationId: props.allowedOrganizationId,
      vpcEndpointIds,
    });

    const validator = new apigw.RequestValidator(this, 'RequestValidator', {
      restApi: api,
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const tokenRequest = api.addModel('TokenRequest', {
      contentType: 'application/json',
      description: 'POST /v1/token body; the function validates it again',
      schema: tokenRequestModel(),
    });

    const integration = new apigw.LambdaIntegration(this.function, { proxy: true, allowTestInvoke: false });
    const v1 = api.root.addResource('v1');
    v1.addResource('token').addMethod('POST', integration, {
      authorizationType: apigw.AuthorizationType.IAM,
      requestValidator: validator,
      requestModels: { 'application/json': tokenRequest },
    });
    v1.addResource('clients').addMethod('GET', integration, {
      authorizationType: apigw.AuthorizationType.IAM,
      requestValidator: validator,
    });

    addOAuthGatewayResponses(api);
    return api;
  }

  private createPrewarmRule(prewarm: PrewarmSettings): events.Rule {
    return new events.Rule(this, 'PrewarmSchedule', {
      description: 'Token Vending Service: keeps the listed tokens fresh',
      schedule: prewarm.schedule ?? events.Schedule.rate(Duration.minutes(5)),
      targets: [
        new eventsTargets.LambdaFunction(this.function, {
          event: events.RuleTargetInput.fromObject({
            source: PREWARM_EVENT_SOURCE,
            tokens: prewarm.tokens.map(({ client, scope }) => ({ client, scope })),
            ...(prewarm.lookAhead ? { lookAheadSeconds: prewarm.lookAhead.toSeconds() } : {}),
          }),
          // The next scheduled run is the retry.
          retryAttempts: 0,
        }),
      ],
    });
  }

  /** The endpoint's request metrics: the REST API stage's, or the function URL's (Lambda's). */
  private endpointMetrics() {
    return this.api ? restApiMetrics(this.api.deploymentStage) : functionUrlMetrics(this.function);
  }

  private createAlarms(props: TokenVendingServiceProps, metricsNamespace: string): TokenVendingAlarms {
    const period = Duration.minutes(5);
    const endpoint = this.endpointMetrics();
    const endpointName = this.endpointName();
    const topic =
      props.alarmTopic ??
      (props.alarmTopicArn ? sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn) : undefined);
    const action = topic ? new cloudwatchActions.SnsAction(topic) : undefined;
    const alarm = (
      name: keyof TokenVendingAlarms,
      description: string,
      metric: cloudwatch.IMetric,
      threshold: number,
    ) => {
      const created = new cloudwatch.Alarm(this, ALARM_IDS[name], {
        alarmDescription: `Token Vending Service: ${description} Runbook: ${RUNBOOK_PAGE}#${name.toLowerCase()}`,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (action) {
        created.addAlarmAction(action);
        created.addOkAction(action);
      }
      return created;
    };
    const upstreamThreshold = props.upstreamFailureThreshold ?? 5;
    const latencyThreshold = (props.latencyAlarmThreshold ?? Duration.seconds(3)).toMilliseconds();

    return {
      upstreamFailures: alarm(
        'upstreamFailures',
        `Identity Cloud refused, failed or was unreachable ${upstreamThreshold} times in 5 minutes; callers get cached tokens while they last, then 502 or 503. Look at the function's "upstream failure" log lines (client, outcome, reason): invalid_client means the client's secret no longer works; network, timeout, http_5xx or http_429 point at Identity Cloud or the network.`,
        serviceMetric(metricsNamespace, 'UpstreamFailure', period),
        upstreamThreshold,
      ),
      functionErrors: alarm(
        'functionErrors',
        "the vend function threw, timed out or failed to start: every expected failure is an answer, so this is a broken deployment, configuration or bug. Look at the function log group for level ERROR and for Lambda's own timeout and init error lines; roll back a recent deployment first.",
        this.function.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
        1,
      ),
      functionThrottles: alarm(
        'functionThrottles',
        "Lambda throttled the vend function: its concurrency (reservedConcurrency, or the account's unreserved pool) is used up and callers are refused with 429 or 503. Find who sends the burst (the caller field of the log lines), then raise reservedConcurrency or the account quota.",
        this.function.metricThrottles({ period, statistic: cloudwatch.Stats.SUM }),
        1,
      ),
      apiServerErrors: alarm(
        'apiServerErrors',
        `the ${endpointName} answered 5xx at least 5 times in 5 minutes: callers are failing. Group the function's "request failed" log lines by error and reason; 503 temporarily_unavailable follows an Identity Cloud outage or a spent mint budget, 502 server_error a refused secret or scope, 500 a bug.`,
        endpoint.serverErrors({ period, statistic: cloudwatch.Stats.SUM }),
        5,
      ),
      apiLatency: alarm(
        'apiLatency',
        `p99 latency of the ${endpointName} reached ${latencyThreshold} ms over 5 minutes. Memory and table hits take milliseconds, so slow answers are mints or waits: look at duration_ms by source and waited in the function's log; Identity Cloud slow, or the table failing over to it, are the usual causes.`,
        endpoint.latency({ period, statistic: cloudwatch.Stats.p(99) }),
        latencyThreshold,
      ),
      ...(this.rotation
        ? {
            rotationFailures: alarm(
              'rotationFailures',
              'a secret rotation step failed. The last working secret is still current unless the rotation function\'s "rotation step failed" line says the new secret could not be stored; fix the cause the line names, then run tvs rotate for that client.',
              this.rotation.metricFailures(period),
              1,
            ),
          }
        : {}),
    };
  }

  /** What the alarms and the dashboard call the endpoint. */
  private endpointName(): string {
    return this.endpointKind === 'function-url' ? 'function URL' : 'API';
  }

  private createDashboard(metricsNamespace: string): cloudwatch.Dashboard {
    const period = Duration.minutes(5);
    const endpoint = this.endpointMetrics();
    const sum = { period, statistic: cloudwatch.Stats.SUM };
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
    });
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        width: 24,
        height: 3,
        alarms: Object.values(this.alarms),
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: `${this.endpointName()} requests and errors`,
        width: 8,
        left: [endpoint.requests(sum), endpoint.clientErrors(sum), endpoint.serverErrors(sum)],
      }),
      new cloudwatch.GraphWidget({
        title: `${this.endpointName()} latency`,
        width: 8,
        left: [
          endpoint.latency({ period, statistic: cloudwatch.Stats.p(50) }),
          endpoint.latency({ period, statistic: cloudwatch.Stats.p(99) }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Function',
        width: 8,
        left: [
          this.function.metricInvocations(sum),
          this.function.metricErrors(sum),
          this.function.metricThrottles(sum),
        ],
        right: [this.function.metricDuration({ period, statistic: cloudwatch.Stats.p(99) })],
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title:
          'Tokens: vended, cache hits, upstream calls and failures, throttled mints, cache store failures',
        width: 24,
        left: [
          'TokenVended',
          'CacheHit',
          'UpstreamCall',
          'UpstreamFailure',
          'MintThrottled',
          'StoreFailure',
        ].map((name) => serviceMetric(metricsNamespace, name, period)),
      }),
    );
    return dashboard;
  }

  /**
   * cdk-nag AwsSolutions findings this design answers differently; each reason says how.
   */
  private acknowledgeNagFindings(props: TokenVendingServiceProps): void {
    if (this.api) this.acknowledgeApiNagFindings(props, this.api);
    if (!(props.pointInTimeRecovery ?? false)) {
      Validations.of(this.table).acknowledge({
        id: 'AwsSolutions-DDB3',
        reason:
          'The table is a cache of tokens that expire within the hour and are minted again on a miss; a ' +
          'restore would bring back only expired tokens. Set pointInTimeRecovery to turn it on.',
      });
    }
  }

  /** The findings on the REST API, when there is one. */
  private acknowledgeApiNagFindings(props: TokenVendingServiceProps, api: apigw.RestApi): void {
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-COG4',
      reason:
        'Callers are AWS workloads, not users: every method uses AWS_IAM (SigV4) authorization and the ' +
        'resource policy admits only the configured accounts or organization; a Cognito user pool has no one to hold.',
    });
    Validations.of(api.deploymentStage).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'Only SigV4-signed requests from admitted principals reach the function, the stage is throttled and ' +
        'the body is schema-validated; a WAF web ACL can still be associated with the stage ARN by the platform team.',
    });
    if ((props.executionLoggingLevel ?? apigw.MethodLoggingLevel.OFF) === apigw.MethodLoggingLevel.OFF) {
      Validations.of(api.deploymentStage).acknowledge({
        id: 'AwsSolutions-APIG6',
        reason:
          'Access logging (JSON, one line per request with the caller ARN) is on. Execution logging needs the ' +
          'account-wide API Gateway CloudWatch role, which this construct does not own; turn it on with executionLoggingLevel where the account has that role.',
      });
    }
  }
}

/** A metric the function emits in Embedded Metric Format (Powertools Metrics, `service` dimension). */
function serviceMetric(namespace: string, metricName: string, period: Duration): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace,
    metricName,
    dimensionsMap: { service: SERVICE_NAME },
    statistic: cloudwatch.Stats.SUM,
    period,
  });
}
