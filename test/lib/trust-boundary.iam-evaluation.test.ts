/**
 * The trust boundary, evaluated as AWS decides it: the function believes the caller its front door
 * names, so `lambda:InvokeFunction` outside the front door is worth every grant. These tests evaluate
 * the synthesized template's policies (iam-simulate) for the principals of the deploying account itself
 * — an administrator with `*` on `*` above all — with and without the guard policy the stack outputs,
 * for both endpoint kinds; and each property once more with the policy that makes it hold broken.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { EndpointKind } from '@tvs/client/contract';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateServiceConfig } from '../../lib/service-config';
import { TokenVendingStack } from '../../lib/token-vending-stack';
import {
  allowEverything,
  changedTemplate,
  DEFAULT_ENVIRONMENT,
  type PolicyDocument,
  type PolicyStatement,
  policyStatements,
  TemplateAccess,
  type TemplateJson,
} from '../support/iam-evaluation';
import {
  EXAMPLE_CONFIG_FILE,
  exampleConfig,
  logicalId,
  REPOSITORY_ROOT,
  SYNTH_TIMEOUT_MS,
  testApp,
} from '../support/stacks';

const ACCOUNT = DEFAULT_ENVIRONMENT.account;
const OUTSIDE_ACCOUNT = '999999999999';
/** An administrator of the deploying account: `*` on `*`, and no grant in the configuration. */
const ADMINISTRATOR = `arn:aws:sts::${ACCOUNT}:assumed-role/admin-ops/alice`;

/** A stack output, its intrinsics resolved for the evaluation's environment, parsed as JSON. */
function outputDocument(access: TemplateAccess, template: TemplateJson, name: string): PolicyDocument {
  const outputs = template.Outputs as Record<string, { Value: unknown }>;
  const key = Object.keys(outputs).find((candidate) => candidate.includes(name));
  if (key === undefined) throw new Error(`the template has no ${name} output`);
  return JSON.parse(access.resolver.resolveString(outputs[key]?.Value, `Outputs.${key}`)) as PolicyDocument;
}

/** The statements of a document as a list. */
function statementsOf(document: PolicyDocument): PolicyStatement[] {
  return [document.Statement].flat() as PolicyStatement[];
}

/** A copy of `document` with each statement passed through `change`. */
function withStatements(document: PolicyDocument, change: (statement: Record<string, unknown>) => void) {
  const copy = JSON.parse(JSON.stringify(document)) as PolicyDocument;
  for (const statement of statementsOf(copy)) change(statement as Record<string, unknown>);
  return copy;
}

/** Every ```json block of the product's docs (README and docs/) between `caller-policy:<kind>` markers. */
function documentedCallerPolicies(kind: EndpointKind): PolicyStatement[][] {
  const files = [
    `${REPOSITORY_ROOT}README.md`,
    ...readdirSync(`${REPOSITORY_ROOT}docs`, { recursive: true })
      .map(String)
      .filter((name) => name.endsWith('.md'))
      .map((name) => `${REPOSITORY_ROOT}docs/${name}`),
  ];
  const marker = new RegExp(
    `<!-- caller-policy:${kind}:start -->\\s*\`\`\`json\\n([\\s\\S]*?)\`\`\`\\s*<!-- caller-policy:${kind}:end -->`,
    'g',
  );
  return files.flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(marker)].map(
      (match) => JSON.parse(match[1] ?? '') as PolicyStatement[],
    ),
  );
}

/** A statement with its `Resource` left out and its `Sid` dropped: what the docs and the output share. */
function shape(statement: PolicyStatement) {
  const { Resource: _resource, Sid: _sid, ...rest } = statement as Record<string, unknown>;
  return { ...rest, Action: [rest.Action].flat() };
}

describe.each(['rest-api', 'function-url'] as const)('the trust boundary with endpoint %s', (kind) => {
  let template: TemplateJson;
  let access: TemplateAccess;
  let fn: string;
  let granted: string;
  let guard: PolicyDocument;
  let callerPolicy: PolicyDocument;

  beforeAll(() => {
    const stack = new TokenVendingStack(testApp({ endpoint: kind }), 'Tvs', {
      configFile: EXAMPLE_CONFIG_FILE,
    });
    // The example configuration's caller, granted the way the docs say: grantInvoke.
    const caller = new iam.Role(stack, 'OrdersService', {
      roleName: 'orders-service',
      assumedBy: new iam.AccountRootPrincipal(),
    });
    stack.service.grantInvoke(caller);
    template = Template.fromStack(stack).toJSON();
    access = TemplateAccess.fromTemplate(template);
    fn = access.arn(logicalId(stack.service.function));
    granted = logicalId(caller);
    guard = outputDocument(access, template, 'GuardPolicy');
    callerPolicy = outputDocument(access, template, 'CallerPolicy');
  }, SYNTH_TIMEOUT_MS);

  const throughUrl = { context: { 'lambda:InvokedViaFunctionUrl': 'true' } };
  const notThroughUrl = { context: { 'lambda:InvokedViaFunctionUrl': 'false' } };
  const route = () => access.invokeArn({ method: 'POST', path: 'v1/token' });

  /** What calling the front door takes: execute-api:Invoke, or both function URL decisions. */
  async function frontDoor(caller: ReturnType<TemplateAccess['of']>): Promise<string[]> {
    if (kind === 'rest-api') return [await caller.can('execute-api:Invoke', route())];
    return [
      await caller.can('lambda:InvokeFunctionUrl', fn),
      await caller.can('lambda:InvokeFunction', fn, throughUrl),
    ];
  }
  /** Invoking the function with an event of one's own: the Invoke API (no URL, or the key false). */
  async function direct(caller: ReturnType<TemplateAccess['of']>): Promise<string[]> {
    return [
      await caller.can('lambda:InvokeFunction', fn),
      await caller.can('lambda:InvokeFunction', fn, notThroughUrl),
    ];
  }
  const administrator = (scps?: PolicyDocument[]) =>
    access.of(ADMINISTRATOR, {
      policies: [allowEverything()],
      ...(scps ? { serviceControlPolicies: scps } : {}),
    });

  describe('without the guard (what holds by the stack alone)', () => {
    it('lets an administrator of the deploying account invoke the function directly: a forged event would name any grant', async () => {
      expect(await direct(administrator())).toEqual(['Allowed', 'Allowed']);
    });

    it('keeps the Invoke API closed to a caller granted with grantInvoke: its policy opens the front door only', async () => {
      const caller = access.of(granted);

      expect(await frontDoor(caller)).toEqual(kind === 'rest-api' ? ['Allowed'] : ['Allowed', 'Allowed']);
      expect(await direct(caller)).toEqual(['ImplicitlyDenied', 'ImplicitlyDenied']);
    });

    it('keeps an administrator of an account the resource policy does not admit out of both', async () => {
      const outsider = access.of(`arn:aws:iam::${OUTSIDE_ACCOUNT}:role/admin`, {
        policies: [allowEverything()],
      });

      expect(await direct(outsider)).toEqual(['ImplicitlyDenied', 'ImplicitlyDenied']);
      expect((await frontDoor(outsider)).every((decision) => decision !== 'Allowed')).toBe(true);
    });
  });

  describe('with the guard attached as a service control policy of the deploying account', () => {
    it('denies an administrator with * on * every direct invoke, the Invoke API and its qualified ARNs alike', async () => {
      const admin = administrator([guard]);

      expect(await direct(admin)).toEqual(['ExplicitlyDenied', 'ExplicitlyDenied']);
      expect(await admin.can('lambda:InvokeFunction', `${fn}:$LATEST`)).toBe('ExplicitlyDenied');
      expect(await admin.can('lambda:InvokeAsync', fn)).toBe('ExplicitlyDenied');
    });

    it('leaves the administrator only the front door, which names the administrator, whom the configuration grants nothing', async () => {
      const admin = administrator([guard]);

      expect(await frontDoor(admin)).toEqual(kind === 'rest-api' ? ['Allowed'] : ['Allowed', 'Allowed']);
      expect(validateServiceConfig(exampleConfig()).clientsFor(ADMINISTRATOR)).toEqual([]);
    });

    it('still lets a granted caller through the front door', async () => {
      const caller = access.of(granted, { serviceControlPolicies: [guard] });

      expect(await frontDoor(caller)).toEqual(kind === 'rest-api' ? ['Allowed'] : ['Allowed', 'Allowed']);
      expect(await direct(caller)).toEqual(['ExplicitlyDenied', 'ExplicitlyDenied']);
    });

    it('does not stop the front door itself (API Gateway) or Lambda’s own callers, which SCPs never restrict', async () => {
      if (kind === 'rest-api') {
        const apiGateway = access.of('apigateway.amazonaws.com', { serviceControlPolicies: [guard] });
        expect(
          await apiGateway.can('lambda:InvokeFunction', fn, { context: { 'aws:SourceArn': route() } }),
        ).toBe('Allowed');
      } else {
        expect(statementsOf(guard).map((statement) => statement.Condition)).toContainEqual(
          expect.objectContaining({ BoolIfExists: { 'lambda:InvokedViaFunctionUrl': 'false' } }),
        );
      }
    });
  });

  describe('the docs’ caller policy is the construct’s', () => {
    it('shows exactly the statements of the CallerPolicy output, the function URL condition included', () => {
      const documented = documentedCallerPolicies(kind);
      expect(documented.length).toBeGreaterThanOrEqual(1);
      for (const statements of documented) {
        expect(statements.map(shape)).toEqual(statementsOf(callerPolicy).map(shape));
      }
    });
  });

  describe('the evaluator notices each property broken', () => {
    it('a guard whose Deny is gone lets the administrator invoke directly again', async () => {
      const noDeny = withStatements(guard, (statement) => {
        statement.Effect = 'Allow';
      });

      expect(await direct(administrator([noDeny]))).toEqual(['Allowed', 'Allowed']);
    });

    it('a guard on another function protects nothing', async () => {
      const elsewhere = withStatements(guard, (statement) => {
        statement.Resource = [`arn:aws:lambda:us-east-1:${ACCOUNT}:function:another`];
      });

      expect(await direct(administrator([elsewhere]))).toEqual(['Allowed', 'Allowed']);
    });

    if (kind === 'function-url') {
      it('a guard without its function URL condition shuts the front door too', async () => {
        const unconditional = withStatements(guard, (statement) => {
          const condition = statement.Condition as Record<string, unknown> | undefined;
          if (condition) delete condition.BoolIfExists;
        });
        const caller = access.of(granted, { serviceControlPolicies: [unconditional] });

        expect(await frontDoor(caller)).toEqual(['Allowed', 'ExplicitlyDenied']);
      });

      it('a caller policy without its InvokedViaFunctionUrl condition opens the Invoke API to the caller: the forged event', async () => {
        const loosened = changedTemplate(template, (copy) => {
          const invokes = policyStatements(
            copy,
            (statement, resource) =>
              resource.type === 'AWS::IAM::Policy' && statement.Action === 'lambda:InvokeFunction',
          );
          for (const { statement } of invokes) delete statement.Condition;
        });
        const caller = TemplateAccess.fromTemplate(loosened).of(granted);

        expect(await direct(caller)).toEqual(['Allowed', 'Allowed']);
      });
    }
  });
});
