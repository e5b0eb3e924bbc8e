/**
 * The trust boundary: the function believes the caller identity its front door (the REST API, or the
 * function URL) writes into the event. So `lambda:InvokeFunction` on the vend function, outside the
 * front door, is worth every grant of the configuration: whoever holds it can hand the function an event
 * naming any granted principal. This module owns what the construct does about it:
 *
 * - the exact caller policy for either endpoint kind ({@link callerPolicy}): what `grantInvoke` attaches
 *   and what a caller in another account attaches itself; for a function URL, `lambda:InvokeFunction`
 *   only with `lambda:InvokedViaFunctionUrl` — never the Invoke API;
 * - the guard ({@link guardPolicy}): a service control policy that denies invoking the vend function
 *   except through its front door, for the organization to attach to the service's account;
 * - what synth says about grants: an error for a grant whose account the resource policy does not admit,
 *   a warning for a grant naming a principal of the deploying account (whose administrators can also
 *   change the function, its configuration and its secrets).
 */

import { type EndpointKind, ROUTES } from '@tvs/client/contract';
import type { ServiceConfig } from '@tvs/core/config/service-config';
import { principalAccount, unadmittedGrantProblem, unadmittedGrants } from '@tvs/core/policy/admission';
import { Annotations, Aws, Stack, Token } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';

/** The front door of one service: the REST API, or the function (whose URL callers use). */
export interface FrontDoor {
  readonly kind: EndpointKind;
  readonly function: lambda.IFunction;
  /** With `kind: 'rest-api'`. */
  readonly api?: apigw.RestApi;
}

/**
 * The statements a caller needs in its own IAM policy, exactly: `execute-api:Invoke` on the two routes
 * of the REST API's stage; or, for a function URL, `lambda:InvokeFunctionUrl` while the URL's auth type
 * is `AWS_IAM` and `lambda:InvokeFunction` only through the function URL — two statements, because each
 * condition key exists only for its own action.
 */
export function callerStatements(door: FrontDoor): iam.PolicyStatement[] {
  if (door.kind === 'rest-api') {
    const api = door.api;
    if (!api) throw new Error('a rest-api front door needs its RestApi');
    return [
      new iam.PolicyStatement({
        actions: ['execute-api:Invoke'],
        resources: Object.entries(ROUTES).map(([path, method]) =>
          api.arnForExecuteApi(method, path, api.deploymentStage.stageName),
        ),
      }),
    ];
  }
  const functionArn = door.function.functionArn;
  return [
    new iam.PolicyStatement({
      actions: ['lambda:InvokeFunctionUrl'],
      resources: [functionArn],
      conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
    }),
    new iam.PolicyStatement({
      actions: ['lambda:InvokeFunction'],
      resources: [functionArn],
      conditions: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
    }),
  ];
}

/** {@link callerStatements} as one policy document. */
export function callerPolicy(door: FrontDoor): iam.PolicyDocument {
  return new iam.PolicyDocument({ statements: callerStatements(door) });
}

/** Give `grantee` the caller policy of `door` (see {@link callerStatements}). */
export function grantCaller(door: FrontDoor, grantee: iam.IGrantable): iam.Grant {
  return callerStatements(door)
    .map((statement) =>
      iam.Grant.addToPrincipal({
        grantee,
        actions: statement.actions,
        resourceArns: statement.resources,
        ...(Object.keys(statement.conditions).length > 0 ? { conditions: statement.conditions } : {}),
      }),
    )
    .reduce((all, grant) => all.combine(grant));
}

/** The `Sid` of the guard's statement. */
export const GUARD_STATEMENT_ID = 'TokenVendingServiceOnlyThroughItsFrontDoor';

/**
 * The guard: a service control policy document that denies `lambda:InvokeFunction` (and the deprecated
 * `lambda:InvokeAsync`) on the vend function — its ARN and every qualified ARN — to every IAM principal
 * of the accounts it is attached to, administrators included, unless the call comes through the function
 * URL (`function-url`); with a REST API, to all of them (API Gateway invokes the function as a service
 * principal, which service control policies never restrict). With it, the front door is the only way
 * in, and a grant the only way to a token.
 */
export function guardPolicy(door: FrontDoor): iam.PolicyDocument {
  const functionArn = door.function.functionArn;
  const viaUrlOnly =
    door.kind === 'function-url' ? { BoolIfExists: { 'lambda:InvokedViaFunctionUrl': 'false' } } : {};
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: GUARD_STATEMENT_ID,
        effect: iam.Effect.DENY,
        actions: ['lambda:InvokeFunction'],
        resources: [functionArn, `${functionArn}:*`],
        conditions: { ...viaUrlOnly, Bool: { 'aws:PrincipalIsAWSService': 'false' } },
      }),
      new iam.PolicyStatement({
        sid: `${GUARD_STATEMENT_ID}Async`,
        effect: iam.Effect.DENY,
        actions: ['lambda:InvokeAsync'],
        resources: [functionArn, `${functionArn}:*`],
        conditions: { Bool: { 'aws:PrincipalIsAWSService': 'false' } },
      }),
    ],
  });
}

/** Who the front door admits, as the construct's properties say. */
export interface Admission {
  readonly allowedAccounts?: readonly string[];
  readonly allowedOrganizationId?: string;
}

/**
 * Checks the grants against the admission at synth: throws for a grant whose account is not admitted
 * (when that can be known: no organization, every admitted account known), and warns for a grant that
 * names a principal of the deploying account — or may, when the stack does not know its account.
 */
export function checkGrantAccounts(scope: Construct, admission: Admission, config: ServiceConfig): void {
  const stack = Stack.of(scope);
  const deploying = Token.isUnresolved(stack.account) ? undefined : stack.account;
  const grants = config.document.grants;
  const { admitted, decidable, admitsDeploying } = knownAdmission(admission, deploying);
  // Admitting "the account it is deployed to" without knowing it: every grant may be of that account.
  const undecidedDeploying = admitsDeploying && deploying === undefined;
  if (decidable && !undecidedDeploying) assertGrantsAdmitted(grants, admitted);
  warnOfGrantsInDeployingAccount(scope, grants, deploying, undecidedDeploying);
}

/** What the stack knows of the admitted accounts at synth. */
interface KnownAdmission {
  /** The admitted accounts whose ids are known. */
  readonly admitted: ReadonlySet<string>;
  /** Whether they are all the admitted accounts: no organization, and no id unknown at synth. */
  readonly decidable: boolean;
  /** Whether the deploying account is admitted (by its id, or as the account the stack is deployed to). */
  readonly admitsDeploying: boolean;
}

function knownAdmission(admission: Admission, deploying: string | undefined): KnownAdmission {
  const admitted = new Set<string>();
  let decidable = admission.allowedOrganizationId === undefined;
  let admitsDeploying = false;
  for (const account of admission.allowedAccounts ?? []) {
    const literal = account === Aws.ACCOUNT_ID ? deploying : account;
    if (account === Aws.ACCOUNT_ID || account === deploying) admitsDeploying = true;
    if (literal === undefined || Token.isUnresolved(literal)) decidable = false;
    else admitted.add(literal);
  }
  return { admitted, decidable, admitsDeploying };
}

/** Throws naming every grant whose principal's account the front door does not admit. */
function assertGrantsAdmitted(
  grants: ServiceConfig['document']['grants'],
  admitted: ReadonlySet<string>,
): void {
  const problems = unadmittedGrants(grants, admitted).map((grant) => unadmittedGrantProblem(grant, admitted));
  if (problems.length > 0) {
    throw new Error(
      `The service configuration given to TokenVendingService is invalid:\n  - ${problems.join('\n  - ')}`,
    );
  }
}

/** Warns of each grant that names a principal of the deploying account, or may. */
function warnOfGrantsInDeployingAccount(
  scope: Construct,
  grants: ServiceConfig['document']['grants'],
  deploying: string | undefined,
  undecidedDeploying: boolean,
): void {
  grants.forEach((grant, index) => {
    const account = principalAccount(grant.principal);
    const same = deploying !== undefined ? account === deploying : undecidedDeploying;
    if (!same) return;
    const which =
      deploying !== undefined
        ? `names a principal of the deploying account ${deploying}`
        : `names account ${account}, which the stack admits only as the account it is deployed to`;
    Annotations.of(scope).addWarningV2(
      'tvs:grantInDeployingAccount',
      `grants[${index}] ${which}: the administrators of that account can also invoke the function directly, change it, or read its secrets. Deploy the service to an account of its own, callers in others, and attach the guard policy (output GuardPolicy) as a service control policy.`,
    );
  });
}
