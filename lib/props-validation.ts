import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import { isWithinAllowedScopes } from '../lambdas/vend-token/config';
import { parseScopes } from '../src/shared/scopes';
import type { ServiceConfigDocument } from './service-config';
import type { TokenVendingServiceProps } from './token-vending-service-props';

/** API Gateway's integration timeout is 29 s; the function must answer, even with an error, well before. */
const MAX_FUNCTION_TIMEOUT = Duration.seconds(25);

/**
 * Checks the properties the configuration parser does not see, and fails with every problem at once.
 */
export function assertValidProps(props: TokenVendingServiceProps, config: ServiceConfigDocument): void {
  const problems: string[] = [];
  const accounts = props.allowedAccounts ?? [];
  if (accounts.length === 0 && !props.allowedOrganizationId) {
    problems.push(
      'TokenVendingService needs allowedAccounts or allowedOrganizationId: without one, the API resource policy would admit no caller.',
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
    (timeout.toMilliseconds() > MAX_FUNCTION_TIMEOUT.toMilliseconds() || timeout.toSeconds() < 1)
  ) {
    problems.push(
      `timeout: ${timeout.toHumanString()} is outside 1 to 25 seconds; the function must answer before API Gateway gives up at 29 seconds.`,
    );
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
  if (props.refreshMargin) {
    const seconds = props.refreshMargin.toSeconds({ integral: false });
    if (!(seconds >= 1 && seconds < 3600 && Number.isInteger(seconds))) {
      problems.push('refreshMargin: must be a whole number of seconds from 1 to 3599.');
    }
  }
  const removal = props.removalPolicy;
  if (removal !== undefined && removal !== RemovalPolicy.RETAIN && removal !== RemovalPolicy.DESTROY) {
    problems.push(
      `removalPolicy: ${removal} is not one of RETAIN and DESTROY, the two a KMS key and a log group accept.`,
    );
  }
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
      const client = Object.hasOwn(config.clients, token.client) ? config.clients[token.client] : undefined;
      if (client === undefined) {
        problems.push(
          `prewarm.tokens[${index}].client: "${token.client}" is not a client of the configuration.`,
        );
        return;
      }
      // The same check the function makes on each pre-warm run, so a bad entry fails at synth.
      try {
        if (!isWithinAllowedScopes(config, token.client, parseScopes(token.scope))) {
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
