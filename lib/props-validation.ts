import { ConfigError, parseScopes } from '@tvs/client/contract';
import type { ServiceConfig } from '@tvs/core/config/service-config';
import {
  checkSettings,
  DEFAULT_FUNCTION_TIMEOUT_SECONDS,
  type VendingSettings,
} from '@tvs/core/policy/settings';
import { MIN_FUNCTION_TIMEOUT_SECONDS } from '@tvs/core/policy/timing';
import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import { endpointProblems } from './function-url-parts';
import type { PrewarmToken, TokenVendingServiceProps } from './token-vending-service-props';

/** API Gateway's integration timeout is 29 s; the function must answer, even with an error, well before. */
const MAX_FUNCTION_TIMEOUT = Duration.seconds(25);

/**
 * The function's tunables from the properties: what the construct puts in the function's environment
 * (`settingsEnvironment`), and what {@link assertValidProps} checks with the function's own rules.
 */
export function settingsOf(props: TokenVendingServiceProps) {
  return {
    functionTimeoutSeconds: (props.timeout ?? Duration.seconds(DEFAULT_FUNCTION_TIMEOUT_SECONDS)).toSeconds({
      integral: false,
    }),
    refreshMarginSeconds: props.refreshMargin?.toSeconds({ integral: false }),
    minMintIntervalSeconds: props.minMintInterval?.toSeconds({ integral: false }),
    mintsPerMinute: props.mintsPerMinute,
    mintsPerCallerPerMinute: props.mintsPerCallerPerMinute,
    probeIntervalMs: props.probeInterval?.toMilliseconds(),
  } satisfies VendingSettings;
}

/**
 * Checks the properties the configuration parser does not see, and fails with every problem at once.
 */
export function assertValidProps(props: TokenVendingServiceProps, config: ServiceConfig): void {
  const problems = [
    ...endpointProblems(props),
    ...admissionProblems(props),
    ...stageNameProblems(props),
    ...timingProblems(props),
    ...functionSizeProblems(props),
    ...throttleProblems(props),
    ...removalPolicyProblems(props),
    ...alarmTopicProblems(props),
    ...alarmThresholdProblems(props),
    ...prewarmProblems(props, config),
  ];
  if (problems.length > 0) {
    throw new Error(`Invalid TokenVendingService properties:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Who the resource policy admits: accounts or an organization, each well formed, and endpoint ids. */
function admissionProblems(props: TokenVendingServiceProps): string[] {
  const problems: string[] = [];
  const accounts = props.allowedAccounts ?? [];
  if (accounts.length === 0 && !props.allowedOrganizationId) {
    problems.push(
      'TokenVendingService needs allowedAccounts or allowedOrganizationId: without one, the resource policy would admit no caller.',
    );
  }
  for (const account of accounts) {
    if (!Token.isUnresolved(account) && !/^\d{12}$/.test(account)) {
      problems.push(`allowedAccounts: "${account}" is not a 12-digit AWS account id.`);
    }
  }
  const org = props.allowedOrganizationId;
  if (org !== undefined && !Token.isUnresolved(org) && !/^o-[a-z0-9]{10,32}$/.test(org)) {
    problems.push(`allowedOrganizationId: "${org}" is not an AWS Organizations id (o-…).`);
  }
  for (const vpce of props.vpcEndpointIds ?? []) {
    if (!Token.isUnresolved(vpce) && !/^vpce-[0-9a-f]+$/.test(vpce)) {
      problems.push(`vpcEndpointIds: "${vpce}" is not a VPC endpoint id (vpce-…).`);
    }
  }
  return problems;
}

function stageNameProblems(props: TokenVendingServiceProps): string[] {
  if (props.stageName === undefined || /^[A-Za-z0-9_-]{1,128}$/.test(props.stageName)) return [];
  return [`stageName: "${props.stageName}" may hold only letters, digits, "-" and "_".`];
}

/**
 * The timeout within API Gateway's; within it, the timing derived from the timeout and the bounds of
 * upstream use, checked as the cold start will.
 */
function timingProblems(props: TokenVendingServiceProps): string[] {
  const timeout = props.timeout;
  if (
    timeout &&
    (timeout.toMilliseconds() > MAX_FUNCTION_TIMEOUT.toMilliseconds() ||
      timeout.toMilliseconds() < MIN_FUNCTION_TIMEOUT_SECONDS * 1000)
  ) {
    return [
      `timeout: ${timeout.toHumanString()} is outside ${MIN_FUNCTION_TIMEOUT_SECONDS} to 25 seconds; the function must answer before API Gateway gives up at 29 seconds, and a request needs a 3-second deadline and 2 seconds to answer.`,
    ];
  }
  try {
    checkSettings(settingsOf(props));
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.map((problem) => `${problem}.`);
  }
}

/** The function's memory and reserved concurrency, as Lambda takes them. */
function functionSizeProblems(props: TokenVendingServiceProps): string[] {
  const problems: string[] = [];
  const memorySize = props.memorySize;
  if (
    memorySize !== undefined &&
    !(Number.isInteger(memorySize) && memorySize >= 128 && memorySize <= 10240)
  ) {
    problems.push(`memorySize: ${memorySize} is not a whole number of MiB from 128 to 10240.`);
  }
  const reserved = props.reservedConcurrency;
  if (reserved !== undefined && !(Number.isInteger(reserved) && reserved >= 1)) {
    problems.push(`reservedConcurrency: ${reserved} is not a positive whole number.`);
  }
  return problems;
}

function throttleProblems(props: TokenVendingServiceProps): string[] {
  if (!props.throttle) return [];
  const { rateLimit, burstLimit } = props.throttle;
  if (rateLimit > 0 && Number.isInteger(burstLimit) && burstLimit >= 1) return [];
  return ['throttle: rateLimit must be above 0 and burstLimit a whole number of at least 1.'];
}

function removalPolicyProblems(props: TokenVendingServiceProps): string[] {
  const removal = props.removalPolicy;
  if (removal === undefined || removal === RemovalPolicy.RETAIN || removal === RemovalPolicy.DESTROY)
    return [];
  return [
    `removalPolicy: ${removal} is not one of RETAIN and DESTROY, the two a KMS key and a log group accept.`,
  ];
}

function alarmThresholdProblems(props: TokenVendingServiceProps): string[] {
  const problems: string[] = [];
  if (props.upstreamFailureThreshold !== undefined && !(props.upstreamFailureThreshold >= 1)) {
    problems.push('upstreamFailureThreshold: must be at least 1.');
  }
  if (props.latencyAlarmThreshold && !(props.latencyAlarmThreshold.toMilliseconds() > 0)) {
    problems.push('latencyAlarmThreshold: must be above 0.');
  }
  return problems;
}

/** Pre-warm: at least one token, a whole look-ahead, and each token one its client may have. */
function prewarmProblems(props: TokenVendingServiceProps, config: ServiceConfig): string[] {
  const prewarm = props.prewarm;
  if (!prewarm) return [];
  const problems: string[] = [];
  if (prewarm.tokens.length === 0) {
    problems.push('prewarm.tokens: list at least one (client, scope) pair, or leave prewarm out.');
  }
  const lookAheadSeconds = prewarm.lookAhead?.toSeconds({ integral: false });
  if (lookAheadSeconds !== undefined && !(lookAheadSeconds >= 1 && Number.isInteger(lookAheadSeconds))) {
    problems.push('prewarm.lookAhead: must be a whole number of seconds, at least 1.');
  }
  prewarm.tokens.forEach((token, index) => {
    problems.push(...prewarmTokenProblems(token, `prewarm.tokens[${index}]`, config));
  });
  return problems;
}

/** One pre-warm token: its client in the configuration, its scope within the client's allowedScopes. */
function prewarmTokenProblems(token: PrewarmToken, path: string, config: ServiceConfig): string[] {
  if (config.client(token.client) === undefined) {
    return [`${path}.client: "${token.client}" is not a client of the configuration.`];
  }
  // The same check the function makes on each pre-warm run, so a bad entry fails at synth.
  try {
    if (config.withinAllowedScopes(token.client, parseScopes(token.scope))) return [];
    return [`${path}.scope: "${token.scope}" is outside the allowedScopes of client "${token.client}".`];
  } catch (error) {
    return [`${path}.scope: ${(error as Error).message}.`];
  }
}

/** An SNS topic ARN: partition, region, 12-digit account, topic name (a FIFO topic cannot take alarms). */
const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}$/;

/** The alarm topic: one way of giving it, and an ARN that names a standard SNS topic. */
function alarmTopicProblems(props: TokenVendingServiceProps): string[] {
  const arn = props.alarmTopicArn;
  if (arn === undefined) return [];
  if (props.alarmTopic) {
    return ['alarmTopicArn: give alarmTopic or alarmTopicArn, not both; both name where the alarms go.'];
  }
  if (!Token.isUnresolved(arn) && !SNS_TOPIC_ARN.test(arn)) {
    return [
      `alarmTopicArn: "${arn}" is not the ARN of a standard SNS topic (arn:aws:sns:<region>:<account>:<name>).`,
    ];
  }
  return [];
}
