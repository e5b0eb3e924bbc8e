/**
 * The forged event, attacked on the deployed bundle. The function believes the caller identity in its
 * event: it has no signature to check, only what its front door wrote. So whoever may invoke it outside
 * the front door can name any granted principal and get that principal's tokens. Here every invoke is
 * decided as AWS decides it — IAM evaluation of the synthesized template (the construct's caller policy
 * from `grantInvoke`, with and without the guard service control policy) — and, when AWS would let it
 * through, runs the esbuild bundle as Lambda would, against moto and the Identity Cloud simulator.
 */

import type { EndpointKind } from '@tvs/client/contract';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ServiceConfigDocument } from '../../../lib/service-config';
import { TokenVendingService } from '../../../lib/token-vending-service';
import { useDeployedBundle } from '../../support/deployed-bundle';
import { bodyOf, ORDERS_CALLER, tokenEvent } from '../../support/harness';
import {
  allow,
  allowEverything,
  type PolicyDocument,
  type PrincipalAccess,
  TemplateAccess,
} from '../../support/iam-evaluation';
import { cdkJsonContext, logicalId } from '../../support/stacks';

/** The harness's callers live in this account; the service is deployed to it, as the review found it. */
const ACCOUNT = '111111111111';
const ADMINISTRATOR = `arn:aws:sts::${ACCOUNT}:assumed-role/admin-ops/alice`;
const OUTSIDER = 'arn:aws:sts::999999999999:assumed-role/admin/bob';
/** A granted principal worth forging: `*:config/**` through the harness's `credential-*` grant. */
const VICTIM = `arn:aws:sts::${ACCOUNT}:assumed-role/credential-rotation/job-7`;
const STOLEN = { client: 'config-us', scope: '*:config/**' };

const deployed = useDeployedBundle();

/** What reached the function, and what it answered. */
type Outcome = { reached: false; decision: string } | { reached: true; status: number; token?: string };

async function run(event: unknown): Promise<Outcome> {
  const response = await deployed.handler(event);
  const body = bodyOf(response);
  return {
    reached: true,
    status: response.statusCode,
    ...(typeof body.access_token === 'string' ? { token: body.access_token } : {}),
  };
}

describe.each(['rest-api', 'function-url'] as const)(
  'a forged event against endpoint %s',
  (kind: EndpointKind) => {
    let access: TemplateAccess;
    let fn: string;
    let grantedRole: string;
    let guard: PolicyDocument;

    beforeAll(() => {
      const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
      const stack = new Stack(app, 'Tvs', { env: { account: ACCOUNT, region: 'us-east-1' } });
      const service = new TokenVendingService(stack, 'Service', {
        config: JSON.parse(JSON.stringify(deployed.harness.config)) as ServiceConfigDocument,
        endpoint: kind,
        allowedAccounts: [ACCOUNT],
      });
      // ORDERS_CALLER's role, granted as the docs say.
      const orders = new iam.Role(stack, 'Orders', {
        roleName: 'orders-service',
        assumedBy: new iam.AccountRootPrincipal(),
      });
      service.grantInvoke(orders);
      access = TemplateAccess.fromTemplate(Template.fromStack(stack).toJSON(), {
        environment: { account: ACCOUNT },
      });
      fn = access.arn(logicalId(service.function));
      grantedRole = logicalId(orders);
      guard = JSON.parse(
        JSON.stringify(access.resolver.resolve(stack.resolve(service.guardPolicy.toJSON()), 'guard')),
      ) as PolicyDocument;
    }, 120_000);

    /** Invoke the function with an event of one's own: Lambda's Invoke API, outside the front door. */
    async function invokeDirectly(caller: PrincipalAccess, forged: unknown): Promise<Outcome> {
      const decision = await caller.can('lambda:InvokeFunction', fn);
      return decision === 'Allowed' ? run(forged) : { reached: false, decision };
    }

    /** Call the front door: it writes the caller's own identity into the event. */
    async function callFrontDoor(
      caller: PrincipalAccess,
      callerArn: string,
      request: Record<string, unknown> = STOLEN,
    ): Promise<Outcome> {
      const decisions =
        kind === 'rest-api'
          ? [await caller.can('execute-api:Invoke', access.invokeArn({ method: 'POST', path: 'v1/token' }))]
          : [
              await caller.can('lambda:InvokeFunctionUrl', fn),
              await caller.can('lambda:InvokeFunction', fn, {
                context: { 'lambda:InvokedViaFunctionUrl': 'true' },
              }),
            ];
      const refused = decisions.find((decision) => decision !== 'Allowed');
      return refused ? { reached: false, decision: refused } : run(tokenEvent(request, callerArn, kind));
    }

    const forged = () => tokenEvent(STOLEN, VICTIM, kind);
    const principals = (scps: PolicyDocument[]) => {
      const scp = scps.length > 0 ? { serviceControlPolicies: scps } : {};
      return {
        administrator: access.of(ADMINISTRATOR, { policies: [allowEverything()], ...scp }),
        granted: access.of(grantedRole, scp),
        // The function URL caller policy with its condition left out, as the docs once allowed.
        looseCaller: access.of(`arn:aws:sts::${ACCOUNT}:assumed-role/loose/s`, {
          policies: [allow(['lambda:InvokeFunctionUrl', 'lambda:InvokeFunction', 'execute-api:Invoke'], '*')],
          ...scp,
        }),
        // Another account, not under the guard: the resource policy keeps it out by itself.
        outsider: access.of(OUTSIDER, { policies: [allowEverything()] }),
      };
    };

    it('is believed by the function: invoked directly, a forged event naming a granted principal gets its token', async () => {
      const outcome = await invokeDirectly(principals([]).administrator, forged());

      expect(outcome).toMatchObject({ reached: true, status: 200 });
      expect(deployed.harness.sim.issuedTokens).toContain((outcome as { token: string }).token);
    });

    it('reaches the function from no principal with the guard attached: only the front door does, with the caller’s own identity', async () => {
      const everyone = principals([guard]);
      const issuedBefore = deployed.harness.sim.issuedTokens.length;

      const direct = await Promise.all(
        Object.values(everyone).map((principal) => invokeDirectly(principal, forged())),
      );
      const viaFrontDoor = {
        administrator: await callFrontDoor(everyone.administrator, ADMINISTRATOR),
        granted: await callFrontDoor(everyone.granted, ORDERS_CALLER),
        outsider: await callFrontDoor(everyone.outsider, OUTSIDER),
      };

      expect(direct.map((outcome) => outcome.reached)).toEqual([false, false, false, false]);
      expect(direct.map((outcome) => (outcome.reached ? '' : outcome.decision))).toEqual(
        Array(4)
          .fill('ExplicitlyDenied')
          .map((decision, index) => (index === 3 ? 'ImplicitlyDenied' : decision)),
      );
      // Through the front door each is itself: the administrator and the orders service have no grant
      // of config-us, the outsider is not admitted.
      expect(viaFrontDoor.administrator).toEqual({ reached: true, status: 403 });
      expect(viaFrontDoor.granted).toEqual({ reached: true, status: 403 });
      expect(viaFrontDoor.outsider.reached).toBe(false);
      expect(deployed.harness.sim.issuedTokens.length).toBe(issuedBefore);
    });

    it('without the guard, reaches the function from every principal of the account whose policy allows the invoke', async () => {
      const everyone = principals([]);

      const direct = {
        administrator: await invokeDirectly(everyone.administrator, forged()),
        granted: await invokeDirectly(everyone.granted, forged()),
        looseCaller: await invokeDirectly(everyone.looseCaller, forged()),
        outsider: await invokeDirectly(everyone.outsider, forged()),
      };

      expect(direct.administrator).toMatchObject({ reached: true, status: 200 });
      expect(direct.looseCaller).toMatchObject({ reached: true, status: 200 });
      // The construct's caller policy opens only the front door; another account is never admitted.
      expect(direct.granted).toEqual({ reached: false, decision: 'ImplicitlyDenied' });
      expect(direct.outsider).toEqual({ reached: false, decision: 'ImplicitlyDenied' });
    });
  },
);
