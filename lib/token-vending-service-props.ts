/**
 * The properties of the `TokenVendingService` construct, apart from the construct so that the construct
 * and its validation (`props-validation.ts`) both import them and neither imports the other.
 */

import type { EndpointKind } from '@tvs/client/contract';
import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { ServiceConfigDocument } from './service-config';

/** Stage-wide throttling of the API (token bucket, per stage across all callers). */
export interface ThrottleSettings {
  /** Steady-state requests per second. */
  readonly rateLimit: number;
  /** Bucket size: requests accepted at once above the steady rate. */
  readonly burstLimit: number;
}

/** One token the pre-warm schedule keeps fresh. */
export interface PrewarmToken {
  /** A client of the configuration. */
  readonly client: string;
  /** The scope string exactly as callers ask for it (the handler canonicalises it). */
  readonly scope: string;
}

/** The scheduled pre-warm: refreshes listed tokens before callers would have to wait on the upstream. */
export interface PrewarmSettings {
  /**
   * When to run. Keep it shorter than the refresh margin (the smaller of 300 s and a quarter of a token's
   * lifetime) so a listed token is always refreshed before a caller sees it expire.
   *
   * @default Schedule.rate(Duration.minutes(5))
   */
  readonly schedule?: events.Schedule;
  /** The (client, scope) pairs to keep fresh. */
  readonly tokens: readonly PrewarmToken[];
  /**
   * How far ahead of its refresh margin a listed token is refreshed. Keep it longer than the interval of
   * `schedule`, or a token can slip into its margin between two runs.
   *
   * @default - the handler's default, 10 minutes
   */
  readonly lookAhead?: Duration;
}

/** Log levels of Powertools Logger. */
export type FunctionLogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'CRITICAL' | 'SILENT';

/** Properties of `TokenVendingService`. */
export interface TokenVendingServiceProps {
  /**
   * The service configuration document: clients and grants. Validated at synth with the parser the
   * function runs at cold start, and shipped inside the bundle as `tvs-config.json`.
   */
  readonly config: ServiceConfigDocument;

  /**
   * How callers reach the function (docs/contract.md "Endpoint kinds"):
   *
   * - `rest-api`: an API Gateway REST API, `AWS_IAM` on every method, with a resource policy, optional
   *   private (VPC endpoint) access, stage throttling, request validation and access logs. Callers sign
   *   for `execute-api` and need `execute-api:Invoke`.
   * - `function-url`: a Lambda function URL with `AWS_IAM` auth and the function's resource-based policy
   *   admitting the same accounts or organization: no API Gateway request charge and one hop less, but no
   *   private endpoint, stage throttle (use `reservedConcurrency`), gateway request validation (the
   *   function validates every request itself) or access log (the function logs one line per request).
   *   Callers sign for `lambda` and need both `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction`.
   *   `vpcEndpointIds`, `stageName`, `throttle`, `executionLoggingLevel` and `apiTracing` are refused.
   *
   * @default 'rest-api'
   */
  readonly endpoint?: EndpointKind;

  /**
   * AWS accounts whose principals the endpoint's resource policy admits (the REST API's, or the
   * function's for its URL). Callers also need `execute-api:Invoke` (or, for a function URL, both
   * `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction`) in their own IAM policy: the resource policy
   * opens the door, IAM lets them through.
   *
   * @default - none; then `allowedOrganizationId` is required
   */
  readonly allowedAccounts?: readonly string[];

  /**
   * An AWS Organizations id (`o-…`) whose principals the resource policy admits (`aws:PrincipalOrgID`).
   *
   * @default - none; then `allowedAccounts` is required
   */
  readonly allowedOrganizationId?: string;

  /**
   * VPC endpoint ids (`vpce-…`) of the `execute-api` interface endpoints the API may be called through.
   * When set, the API is PRIVATE and the resource policy denies any request that does not come through
   * one of them (`aws:SourceVpce`).
   *
   * `endpoint: 'rest-api'` only: a function URL has none, and synth refuses it there.
   *
   * @default - a REGIONAL API, reachable from any network by SigV4-signed, admitted principals
   */
  readonly vpcEndpointIds?: readonly string[];

  /**
   * Name of the API stage; the URL is `https://<api>.execute-api.<region>.amazonaws.com/<stage>/v1/token`.
   *
   * `endpoint: 'rest-api'` only: a function URL has none, and synth refuses it there.
   *
   * @default 'prod'
   */
  readonly stageName?: string;

  /**
   * Stage throttling. The function reaches the upstream at most once per cache key and token lifetime,
   * so this protects the function and DynamoDB from a runaway caller, not Identity Cloud.
   *
   * `endpoint: 'rest-api'` only: a function URL has none, and synth refuses it there.
   *
   * @default { rateLimit: 50, burstLimit: 100 }
   */
  readonly throttle?: ThrottleSettings;

  /**
   * Function timeout; at most 25 s, so that the function answers before API Gateway's 29 s.
   *
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;

  /**
   * Function memory in MiB. Lambda allots CPU in proportion to memory; 512 MiB halves the cold start's
   * JavaScript parse and TLS handshakes compared with 256 MiB for the same cost per request.
   *
   * @default 512
   */
  readonly memorySize?: number;

  /**
   * Reserved concurrency of the function.
   *
   * @default - no reservation; the account's unreserved pool
   */
  readonly reservedConcurrency?: number;

  /**
   * Retention of the function's log group and of the API's access log group (`rest-api` only).
   *
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * What happens to the table, its KMS key and the two log groups when they leave the stack
   * (see docs/deploy.md, "On stack delete").
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Point-in-time recovery of the table. The table is a cache of tokens that expire within the hour and
   * are minted again on a miss, so a backup has nothing worth restoring.
   *
   * @default false
   */
  readonly pointInTimeRecovery?: boolean;

  /**
   * The KMS key the configured secrets are encrypted with, when it is not the AWS managed
   * `aws/secretsmanager` key. The function may then decrypt with it through Secrets Manager only.
   *
   * @default - the secrets use `aws/secretsmanager`; no key permission is granted
   */
  readonly secretsKey?: kms.IKey;

  /**
   * CloudWatch namespace of the function's Embedded Metric Format metrics.
   *
   * @default 'TokenVendingService'
   */
  readonly metricsNamespace?: string;

  /**
   * Log level of the function (`POWERTOOLS_LOG_LEVEL`).
   *
   * @default 'INFO'
   */
  readonly logLevel?: FunctionLogLevel;

  /**
   * Overrides the refresh margin (`TVS_REFRESH_MARGIN_SECONDS`): a cached token this close to expiry is
   * refreshed in the background while still being served.
   *
   * @default - the handler's own rule: the smaller of 300 s and a quarter of the token's lifetime
   */
  readonly refreshMargin?: Duration;

  /**
   * Two mints of one token (client and scope) that a caller forces — by `reject`, or a `min_ttl` the
   * current token cannot meet — are at least this far apart; inside it the caller gets 503 with
   * `Retry-After`. Ordinary refreshes never meet it (a token lives at least a minute).
   *
   * @default Duration.seconds(30)
   */
  readonly minMintInterval?: Duration;

  /**
   * Upstream token requests per configuration client per minute, across all tokens and containers,
   * counted in the table. Past it, mints wait (503 with `Retry-After`; a still-valid token is served).
   *
   * @default 30
   */
  readonly mintsPerMinute?: number;

  /**
   * Of a client's `mintsPerMinute`, how many one caller may cause (new tokens and forced refreshes; the
   * refresh of a token in use is charged to no caller), so no caller can spend the budget of the others.
   *
   * @default 5
   */
  readonly mintsPerCallerPerMinute?: number;

  /**
   * While a configuration client's calls to Identity Cloud fail (network, 5xx, 429), at most one probe
   * per this interval reaches Identity Cloud for that client, across all containers; other requests that
   * need a new token get 503 with `Retry-After` at once, and still-valid tokens are served. The first
   * probe that succeeds ends it. From 100 ms to 60 s.
   *
   * @default Duration.seconds(2)
   */
  readonly probeInterval?: Duration;

  /**
   * Topic that receives the alarms' ALARM and OK notifications. Give this or `alarmTopicArn`, not both.
   *
   * @default - the topic of `alarmTopicArn`; without either, alarms without actions (visible on the
   * dashboard and in the console only)
   */
  readonly alarmTopic?: sns.ITopic;

  /**
   * ARN of an existing SNS topic (`arn:aws:sns:<region>:<account>:<name>`) that receives every alarm's
   * ALARM and OK notifications; the stack's `alarmTopicArn` context value. The topic is imported, not
   * created: its subscriptions (email, chat, paging) and its access policy are the operator's. Its policy
   * must let CloudWatch (`cloudwatch.amazonaws.com`) publish to it.
   *
   * @default - no topic: see `alarmTopic`
   */
  readonly alarmTopicArn?: string;

  /**
   * Failed calls to Identity Cloud (`UpstreamFailure`, sum over 5 minutes) that raise the upstream alarm.
   *
   * @default 5
   */
  readonly upstreamFailureThreshold?: number;

  /**
   * p99 of the endpoint's latency over 5 minutes that raises the latency alarm: the API stage's
   * `Latency`, or the function URL's `UrlRequestLatency`.
   *
   * @default Duration.seconds(3)
   */
  readonly latencyAlarmThreshold?: Duration;

  /**
   * Scheduled pre-warm of listed tokens.
   *
   * @default - no schedule
   */
  readonly prewarm?: PrewarmSettings;

  /**
   * API Gateway execution logging. Needs the account's API Gateway CloudWatch Logs role (a regional,
   * account-wide setting this construct leaves alone). Request and response bodies are never logged.
   *
   * `endpoint: 'rest-api'` only: a function URL has none, and synth refuses it there.
   *
   * @default MethodLoggingLevel.OFF
   */
  readonly executionLoggingLevel?: apigw.MethodLoggingLevel;

  /**
   * X-Ray tracing on the API stage.
   *
   * `endpoint: 'rest-api'` only: a function URL has none, and synth refuses it there.
   *
   * @default false
   */
  readonly apiTracing?: boolean;
}
