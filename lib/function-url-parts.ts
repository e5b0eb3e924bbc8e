/**
 * The `function-url` endpoint kind (docs/contract.md "Endpoint kinds"): a Lambda function URL with
 * `AWS_IAM` auth in front of the vend function, instead of the REST API of `rest-api-parts.ts`.
 *
 * Who may call it is decided as for the REST API — the function's resource-based policy admits the
 * configured accounts or organization, the caller's own IAM policy must allow the call, the grants decide
 * what it gets — with the two actions Lambda requires of function URL callers since October 2025 (new
 * function URLs; existing ones until their exception ends): `lambda:InvokeFunctionUrl` and
 * `lambda:InvokeFunction` (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html).
 */
import { Token } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { TokenVendingServiceProps } from './token-vending-service-props';

/** Who the function's resource-based policy admits to its URL. */
export interface FunctionUrlAdmission {
  readonly allowedAccounts?: readonly string[];
  readonly allowedOrganizationId?: string;
}

/**
 * Give `fn` a function URL with `AWS_IAM` auth, and admit exactly the accounts or organization to it: for
 * each, `lambda:InvokeFunctionUrl` only while the URL's auth type is `AWS_IAM`
 * (`lambda:FunctionUrlAuthType`), and `lambda:InvokeFunction` only through the function URL
 * (`lambda:InvokedViaFunctionUrl`), so the admission opens the URL and nothing else — not the Invoke API.
 * An account is admitted as the account (`arn:aws:iam::<account>:root`): its principals still need both
 * actions in their own IAM policy.
 */
export function addFunctionUrl(fn: lambda.Function, admission: FunctionUrlAdmission): lambda.FunctionUrl {
  const url = fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
  const admit = (id: string, principal: iam.IPrincipal) => {
    fn.addPermission(`${id}InvokeFunctionUrl`, {
      principal,
      action: 'lambda:InvokeFunctionUrl',
      functionUrlAuthType: lambda.FunctionUrlAuthType.AWS_IAM,
    });
    fn.addPermission(`${id}InvokeViaFunctionUrl`, {
      principal,
      action: 'lambda:InvokeFunction',
      invokedViaFunctionUrl: true,
    });
  };
  (admission.allowedAccounts ?? []).forEach((account, index) => {
    // A literal account id names its permissions (stable when the list changes); a token cannot.
    admit(`Account${Token.isUnresolved(account) ? index : account}`, new iam.AccountPrincipal(account));
  });
  if (admission.allowedOrganizationId) {
    admit('Organization', new iam.OrganizationPrincipal(admission.allowedOrganizationId));
  }
  return url;
}

/**
 * The properties that configure the REST API only, each with why a function URL has no use for it. Given
 * with `endpoint: 'function-url'`, synth fails with these sentences.
 */
const REST_API_ONLY: readonly [keyof TokenVendingServiceProps, string][] = [
  [
    'vpcEndpointIds',
    'vpcEndpointIds: a function URL has no private endpoint: it is always reachable from the internet, and admits only SigV4-signed requests of the admitted accounts. Use endpoint "rest-api" for a private API.',
  ],
  [
    'stageName',
    'stageName: a function URL has no stage; its URL is https://<url-id>.lambda-url.<region>.on.aws.',
  ],
  [
    'throttle',
    'throttle: a function URL has no stage throttling; set reservedConcurrency to cap how many requests run at once (Lambda answers 429 past it).',
  ],
  [
    'executionLoggingLevel',
    'executionLoggingLevel: a function URL has no API Gateway execution log; the function writes one JSON line per request.',
  ],
  ['apiTracing', 'apiTracing: a function URL has no API stage to trace.'],
];

/** Problems of the properties for the endpoint kind they choose, as plain sentences. */
export function endpointProblems(props: TokenVendingServiceProps): string[] {
  const endpoint = props.endpoint ?? 'rest-api';
  if (endpoint !== 'rest-api' && endpoint !== 'function-url') {
    return [`endpoint: "${String(endpoint)}" is not one of "rest-api" and "function-url".`];
  }
  if (endpoint === 'rest-api') return [];
  return REST_API_ONLY.filter(([prop]) => props[prop] !== undefined).map(([, sentence]) => sentence);
}

/**
 * The function URL's request metrics (namespace `AWS/Lambda`, dimension `FunctionName`): what the REST
 * API stage's `Count`, `4XXError`, `5XXError` and `Latency` are for the other kind.
 */
export function functionUrlMetrics(fn: lambda.IFunction) {
  const metric = (metricName: string, options: cloudwatch.MetricOptions) => fn.metric(metricName, options);
  return {
    requests: (options: cloudwatch.MetricOptions) => metric('UrlRequestCount', options),
    clientErrors: (options: cloudwatch.MetricOptions) => metric('Url4xxCount', options),
    serverErrors: (options: cloudwatch.MetricOptions) => metric('Url5xxCount', options),
    latency: (options: cloudwatch.MetricOptions) => metric('UrlRequestLatency', options),
  };
}
