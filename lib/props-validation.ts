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
import type { TokenVendingServiceProps } from './token-vending-service-props';

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
  const problems: string[] = [...endpointProblems(props)];
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
  if (props.stageName !== undefined && !/^[A-Za-z0-9_-]{1,128}$/.test(props.stageName)) {
    problems.push(`stageName: "${props.stageName}" may hold only letters, digits, "-" and "_".`);
  }
  const timeout = props.timeout;
  if (
    timeout &&
    (timeout.toMilliseconds() > MAX_FUNCTION_TIMEOUT.toMilliseconds() ||
      timeout.toMilliseconds() < MIN_FUNCTION_TIMEOUT_SECONDS * 1000)
  ) {
    problems.push(
      `timeout: ${timeout.toHumanString()} is outside ${MIN_FUNCTION_TIMEOUT_SECONDS} to 25 seconds; the function must answer before API Gateway gives up at 29 seconds, and a request needs a 3-second deadline and 2 seconds to answer.`,
    );
  } else {
    // The timing derived from the timeout and the bounds of upstream use, checked as the cold start will.
    try {
      checkSettings(settingsOf(props));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems.map((problem) => `${problem}.`));
    }
  }
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
  if (props.throttle) {
    const { rateLimit, burstLimit } = props.throttle;
    if (!(rateLimit > 0) || !(Number.isInteger(burstLimit) && burstLimit >= 1)) {
      problems.push('throttle: rateLimit must be above 0 and burstLimit a whole number of at least 1.');
    }
  }
  const removal = props.removalPolicy;
  if (removal !== undefined && removal !== RemovalPolicy.RETAIN && removal !== RemovalPolicy.DESTROY) {
    problems.push(
      `removalPolicy: ${removal} is not one of RETAIN and DESTROY, the two a KMS key and a log group accept.`,
    );
  }
  problems.push(...alarmTopicProblems(props));
  if (props.upstreamFailureThreshold !== undefined && !(props.upstreamFailureThreshold >= 1)) {
    problems.push('upstreamFailureThreshold: must be at least 1.');
  }
  if (props.latencyAlarmThreshold && !(props.latencyAlarmThreshold.toMilliseconds() > 0)) {
    problems.push('latencyAlarmThreshold: must be above 0.');
  }
  if (props.prewarm) {
    if (props.prewarm.tokens.length === 0) {
      problems.push('prewarm.tokens: list at least one (client, scope) pair, or leave prewarm out.');
    }
    const lookAheadSeconds = props.prewarm.lookAhead?.toSeconds({ integral: false });
    if (lookAheadSeconds !== undefined && !(lookAheadSeconds >= 1 && Number.isInteger(lookAheadSeconds))) {
      problems.push('prewarm.lookAhead: must be a whole number of seconds, at least 1.');
    }
    props.prewarm.tokens.forEach((token, index) => {
      if (config.client(token.client) === undefined) {
        problems.push(
          `prewarm.tokens[${index}].client: "${token.client}" is not a client of the configuration.`,
        );
        return;
      }
      // The same check the function makes on each pre-warm run, so a bad entry fails at synth.
      try {
        if (!config.withinAllowedScopes(token.client, parseScopes(token.scope))) {
          problems.push(
            `prewarm.tokens[${index}].scope: "${token.scope}" is outside the allowedScopes of client "${token.client}".`,
          );
        }
      } catch (error) {
        problems.push(`prewarm.tokens[${index}].scope: ${(error as Error).message}.`);
      }
    });
  }
  if (problems.length > 0) {
    throw new Error(`Invalid TokenVendingService properties:\n  - ${problems.join('\n  - ')}`);
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
