/**
 * Offline IAM evaluation of a synthesized CloudFormation template: who may do what to which resource,
 * decided the way AWS decides it (identity policies, resource policies, same-account and cross-account
 * rules, KMS key-policy trust), by `@cloud-copilot/iam-simulate`.
 *
 * The template's intrinsics are resolved to concrete values for one fixed environment, every policy the
 * template holds is collected (role and user policies, key policies, the REST API's resource policy,
 * Lambda permissions, table, secret, topic, queue and bucket policies, role trust policies), and a
 * request is evaluated against the policies that apply to it. Anything the evaluator cannot model fails
 * loudly instead of being guessed.
 *
 * ```ts
 * const access = TemplateAccess.fromTemplate(Template.fromStack(stack).toJSON());
 * const fn = access.of(access.functionRole(logicalId(service.function)));
 * expect(await fn.can('dynamodb:GetItem', access.arn(logicalId(service.table)))).toBe('Allowed');
 * ```
 */
import { createHash } from 'node:crypto';
import {
  type EvaluationResult,
  type RequestAnalysis,
  runSimulation,
  type Simulation,
} from '@cloud-copilot/iam-simulate';

/** Where the template is taken to be deployed. */
export interface DeploymentEnvironment {
  /** `AWS::AccountId`. */
  readonly account: string;
  /** `AWS::Region`. */
  readonly region: string;
  /** `AWS::Partition`. */
  readonly partition: string;
  /** `AWS::URLSuffix`. */
  readonly urlSuffix: string;
  /** `AWS::StackName`. */
  readonly stackName: string;
}

/** The environment templates are evaluated in unless told otherwise. */
export const DEFAULT_ENVIRONMENT: DeploymentEnvironment = {
  account: '123456789012',
  region: 'us-east-1',
  partition: 'aws',
  urlSuffix: 'amazonaws.com',
  stackName: 'Test',
};

/** The answer to a request: iam-simulate's (and IAM's) three outcomes. */
export type Decision = EvaluationResult;

/** An IAM policy statement as written in a template (after intrinsics are resolved). */
export type PolicyStatement = Readonly<Record<string, unknown>>;

/** An IAM policy document. */
export interface PolicyDocument {
  readonly Version?: string;
  readonly Id?: string;
  readonly Statement: readonly PolicyStatement[] | PolicyStatement;
}

/** A policy with the name it is reported under. */
export interface NamedPolicy {
  /** Where the policy comes from, e.g. `FunctionRoleDefaultPolicy1234 (AWS::IAM::Policy)`. */
  readonly name: string;
  readonly document: PolicyDocument;
}

/** Request context keys and values (`aws:PrincipalOrgID`, `aws:SourceVpce`, `kms:EncryptionContext:<k>`, …). */
export type ContextValues = Readonly<Record<string, string | readonly string[]>>;

/** A CloudFormation template as JSON (`Template.fromStack(stack).toJSON()`). */
export type TemplateJson = Readonly<Record<string, unknown>>;

/** Options of {@link TemplateAccess.fromTemplate}. */
export interface TemplateAccessOptions {
  /**
   * The environment intrinsics resolve in; fields given override {@link DEFAULT_ENVIRONMENT}.
   *
   * @default DEFAULT_ENVIRONMENT
   */
  readonly environment?: Partial<DeploymentEnvironment>;
  /**
   * Values of template parameters that are referenced by a policy. A parameter without a value here
   * resolves to its `Default` unless it is an SSM parameter type, and fails otherwise.
   *
   * @default - none
   */
  readonly parameters?: Readonly<Record<string, string>>;
  /**
   * Documents of managed policies that are not in the template (AWS managed policies), by ARN. A role
   * with a managed policy ARN that is neither in the template nor here fails, unless
   * `ignoreUnknownManagedPolicies` is set.
   *
   * @default - none
   */
  readonly managedPolicies?: Readonly<Record<string, PolicyDocument>>;
  /**
   * Evaluate roles as if managed policies not in the template and not in `managedPolicies` were not
   * attached; they are listed in {@link TemplateAccess.ignoredManagedPolicies}.
   *
   * @default false
   */
  readonly ignoreUnknownManagedPolicies?: boolean;
}

/** One resource of the template. */
export interface TemplateResource {
  readonly logicalId: string;
  readonly type: string;
  /** The resource's properties as written (intrinsics not resolved). */
  readonly properties: Readonly<Record<string, unknown>>;
  /** The template condition the resource is created under, if any. */
  readonly condition?: string;
}

/** One request to evaluate. */
export interface AccessRequest {
  /**
   * Who asks: the logical id of a role or user of the template, an IAM ARN (role, user, assumed-role
   * session, account root) or a service principal (`apigateway.amazonaws.com`).
   */
  readonly principal: string;
  /** `service:Action`. */
  readonly action: string;
  /** The resource ARN, concrete (no wildcard). */
  readonly resource: string;
  /** Request context; merged over the keys the evaluator derives from the principal. */
  readonly context?: ContextValues;
  /**
   * Identity policies of the principal besides those the template attaches to it. Required (possibly
   * empty) for a principal the template does not know, so a misspelt principal cannot silently have none.
   */
  readonly identityPolicies?: readonly PolicyDocument[];
  /**
   * The resource policy of a resource outside the template (for example another account's secret, or
   * another KMS key). A template resource's own policy cannot be replaced here: mutate the template.
   */
  readonly resourcePolicy?: PolicyDocument;
  /**
   * Service control policies of the principal's account, beside AWS's `FullAWSAccess` (which the
   * evaluator attaches with them). Like AWS, they restrict IAM principals only, never a service principal.
   *
   * @default - none: the account is in no organization, or its SCPs allow everything
   */
  readonly serviceControlPolicies?: readonly PolicyDocument[];
  /**
   * The account that owns the resource, when its ARN does not say (S3).
   *
   * @default - the ARN's account field, or the template's account for a template resource
   */
  readonly resourceAccount?: string;
}

/** The outcome of one request, with the statements that decided it. */
export interface Evaluation {
  readonly decision: Decision;
  /** The request as simulated (principal resolved, context derived and renamed, policies named). */
  readonly simulation: Simulation;
  /** Human-readable lines naming the policies and statements that allowed or denied the request. */
  readonly reasons: readonly string[];
  /** iam-simulate's own analysis, for debugging. */
  readonly analysis: RequestAnalysis;
}

/** Options of {@link TemplateAccess.of}. */
export interface PrincipalOptions {
  /** Identity policies of the principal besides those of the template (see {@link AccessRequest}). */
  readonly policies?: readonly PolicyDocument[];
  /** Context true of every request this principal makes (`aws:PrincipalOrgID`, …). */
  readonly context?: ContextValues;
  /** Service control policies of the principal's account (see {@link AccessRequest}). */
  readonly serviceControlPolicies?: readonly PolicyDocument[];
}

/** Options of one request made through {@link PrincipalAccess}. */
export interface RequestOptions {
  /** Request context, merged over the principal's. */
  readonly context?: ContextValues;
  /** See {@link AccessRequest.resourcePolicy}. */
  readonly resourcePolicy?: PolicyDocument;
  /** See {@link AccessRequest.resourceAccount}. */
  readonly resourceAccount?: string;
}

/** Where an execute-api request goes: `arn:…:execute-api:<region>:<account>:<apiId>/<stage>/<METHOD>/<path>`. */
export interface InvokeTarget {
  /** The logical id of the RestApi. @default - the template's only RestApi */
  readonly api?: string;
  /** The stage name. @default - the RestApi's only stage */
  readonly stage?: string;
  /** The HTTP method, e.g. `POST`. */
  readonly method: string;
  /** The resource path with or without a leading slash, e.g. `v1/token`. */
  readonly path: string;
}

/** A policy statement allowing `actions` on `resources`, for policies a test gives a principal. */
export function allow(
  actions: string | readonly string[],
  resources: string | readonly string[],
): PolicyDocument {
  return { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: resources }] };
}

/** An identity policy allowing every action on every resource (an administrator). */
export function allowEverything(): PolicyDocument {
  return allow('*', '*');
}

/**
 * The key policy KMS gives a key created without one: the account may use IAM policies to allow access
 * to the key. Use it for keys outside the template whose policy is not the point of the test.
 */
export function defaultKeyPolicy(account: string, partition = DEFAULT_ENVIRONMENT.partition): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:${partition}:iam::${account}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  };
}

/**
 * iam-simulate 0.1.173 drops request context keys it cannot match to its catalogue entry (notably
 * `kms:EncryptionContext:<key>`, whose catalogue entry is a variable without a `/`), so a condition on
 * them could never match. Such keys are renamed, in every policy and in the request context alike, to
 * `aws:RequestTag/<prefix><original key>`: a global, string-typed, variable key the simulator keeps.
 * Condition operators and values are untouched, so the outcome is the one the original key would give.
 */
const RENAMED_KEY_PREFIX = 'aws:RequestTag/iam-evaluation.';
const RENAMED_KEYS: readonly RegExp[] = [/^kms:EncryptionContext:.+$/i, /^lambda:InvokedViaFunctionUrl$/i];

/** The name a context key is evaluated under (see the rename note above); most keys are unchanged. */
export function simulatedContextKey(key: string): string {
  if (key.toLowerCase().startsWith(RENAMED_KEY_PREFIX.toLowerCase())) {
    throw new Error(`Context key ${key} uses the prefix the evaluator reserves for renamed keys.`);
  }
  return RENAMED_KEYS.some((pattern) => pattern.test(key)) ? `${RENAMED_KEY_PREFIX}${key}` : key;
}

const NO_VALUE = Symbol('AWS::NoValue');

type Attributes = Readonly<Record<string, (resource: TemplateResource) => string>>;

/** How one resource type answers `Ref` and `Fn::GetAtt`. */
interface ResourceTypeModel {
  readonly ref?: (resource: TemplateResource) => string;
  readonly attributes: Attributes;
}

/**
 * Resolves a template's intrinsics to concrete values for one environment. Physical names are the
 * resource's name property when it has one, else derived from the logical id, so the same template
 * always gives the same ARNs. An intrinsic, pseudo parameter, resource type or attribute it does not
 * know throws.
 */
export class TemplateResolver {
  readonly environment: DeploymentEnvironment;
  private readonly resourcesById: ReadonlyMap<string, TemplateResource>;
  private readonly parameters: Readonly<Record<string, unknown>>;
  private readonly parameterValues: Readonly<Record<string, string>>;
  private readonly mappings: Readonly<Record<string, Record<string, Record<string, unknown>>>>;
  private readonly resolving = new Set<string>();
  private readonly models: Readonly<Record<string, ResourceTypeModel>>;

  constructor(
    template: TemplateJson,
    environment: DeploymentEnvironment = DEFAULT_ENVIRONMENT,
    parameterValues: Readonly<Record<string, string>> = {},
  ) {
    this.environment = environment;
    const resources = (template.Resources ?? {}) as Record<
      string,
      { Type: string; Properties?: object; Condition?: string }
    >;
    this.resourcesById = new Map(
      Object.entries(resources).map(([logicalId, resource]) => [
        logicalId,
        {
          logicalId,
          type: resource.Type,
          properties: (resource.Properties ?? {}) as Record<string, unknown>,
          ...(resource.Condition ? { condition: resource.Condition } : {}),
        },
      ]),
    );
    this.parameters = (template.Parameters ?? {}) as Record<string, unknown>;
    this.parameterValues = parameterValues;
    this.mappings = (template.Mappings ?? {}) as Record<string, Record<string, Record<string, unknown>>>;
    this.models = this.resourceTypeModels();
  }

  /** The template's resources, of one type when given. */
  resources(type?: string): TemplateResource[] {
    return [...this.resourcesById.values()].filter(
      (resource) => type === undefined || resource.type === type,
    );
  }

  /** One resource by logical id; throws when there is none. */
  resource(logicalId: string): TemplateResource {
    const resource = this.resourcesById.get(logicalId);
    if (!resource) throw new Error(`The template has no resource ${logicalId}.`);
    return resource;
  }

  /** `{ Ref: logicalId }`. */
  ref(logicalId: string): string {
    return this.resolveString({ Ref: logicalId }, `Ref ${logicalId}`);
  }

  /** `{ 'Fn::GetAtt': [logicalId, attribute] }`. */
  getAtt(logicalId: string, attribute: string): string {
    return this.resolveString({ 'Fn::GetAtt': [logicalId, attribute] }, `GetAtt ${logicalId}.${attribute}`);
  }

  /** Whether a resource type answers `Fn::GetAtt` for an attribute. */
  hasAttribute(type: string, attribute: string): boolean {
    return this.models[type]?.attributes[attribute] !== undefined;
  }

  /** A value with every intrinsic resolved; `where` names it in errors. */
  resolve(value: unknown, where: string): unknown {
    const resolved = this.resolveValue(value, where);
    return resolved === NO_VALUE ? undefined : resolved;
  }

  /** A value that must resolve to a string. */
  resolveString(value: unknown, where: string): string {
    const resolved = this.resolve(value, where);
    if (typeof resolved === 'number') return String(resolved);
    if (typeof resolved !== 'string') {
      throw new Error(`${where}: expected a string, got ${JSON.stringify(resolved)}.`);
    }
    return resolved;
  }

  /** A value that must resolve to a list of strings (a single string is a list of one). */
  resolveStrings(value: unknown, where: string): string[] {
    if (value === undefined) return [];
    const resolved = this.resolve(value, where);
    const list = Array.isArray(resolved) ? resolved : [resolved];
    return list.map((item, index) => {
      if (typeof item !== 'string') throw new Error(`${where}[${index}]: expected a string.`);
      return item;
    });
  }

  private resolveValue(value: unknown, where: string): unknown {
    if (Array.isArray(value)) {
      return value
        .map((item, index) => this.resolveValue(item, `${where}[${index}]`))
        .filter((item) => item !== NO_VALUE);
    }
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    const intrinsic = entries.filter(([key]) => key === 'Ref' || key.startsWith('Fn::'));
    if (intrinsic.length > 0) {
      if (entries.length !== 1) throw new Error(`${where}: an intrinsic must be the only key of its object.`);
      const [name, argument] = entries[0] as [string, unknown];
      return this.intrinsic(name, argument, where);
    }
    const resolved: Record<string, unknown> = {};
    for (const [key, item] of entries) {
      const resolvedItem = this.resolveValue(item, `${where}.${key}`);
      if (resolvedItem !== NO_VALUE) resolved[key] = resolvedItem;
    }
    return resolved;
  }

  private intrinsic(name: string, argument: unknown, where: string): unknown {
    const at = `${where} (${name})`;
    switch (name) {
      case 'Ref':
        if (typeof argument !== 'string') throw new Error(`${at}: Ref takes a name.`);
        return this.resolveRef(argument, at);
      case 'Fn::GetAtt':
        return this.fnGetAtt(argument, at);
      case 'Fn::Join':
        return this.fnJoin(argument, at);
      case 'Fn::Select':
        return this.fnSelect(argument, at);
      case 'Fn::Split':
        return this.fnSplit(argument, at);
      case 'Fn::Sub':
        return this.substitute(argument, at);
      case 'Fn::FindInMap':
        return this.fnFindInMap(argument, at);
      default:
        throw new Error(
          `${at}: the evaluator does not resolve ${name}; teach TemplateResolver (test/support/iam-evaluation.ts) ` +
            'rather than let a policy be guessed.',
        );
    }
  }

  private fnGetAtt(argument: unknown, at: string): unknown {
    const [logicalId, attribute] =
      typeof argument === 'string'
        ? splitOnce(argument, '.')
        : (this.resolveValue(argument, at) as [unknown, unknown]);
    if (typeof logicalId !== 'string' || typeof attribute !== 'string') {
      throw new Error(`${at}: Fn::GetAtt takes [logicalId, attribute].`);
    }
    return this.resolveGetAtt(logicalId, attribute, at);
  }

  private fnJoin(argument: unknown, at: string): string {
    const [delimiter, list] = argumentList(argument, 2, at);
    const items = this.resolveValue(list, at);
    if (typeof delimiter !== 'string' || !Array.isArray(items)) {
      throw new Error(`${at}: Fn::Join takes [delimiter, list].`);
    }
    return items.map((item) => scalarString(item, at)).join(delimiter);
  }

  private fnSelect(argument: unknown, at: string): unknown {
    const [index, list] = argumentList(argument, 2, at);
    const position = Number(this.resolveValue(index, at));
    const items = this.resolveValue(list, at);
    if (!Array.isArray(items) || !Number.isInteger(position) || position < 0 || position >= items.length) {
      throw new Error(`${at}: Fn::Select index ${String(index)} is outside the list.`);
    }
    return items[position];
  }

  private fnSplit(argument: unknown, at: string): string[] {
    const [delimiter, text] = argumentList(argument, 2, at);
    if (typeof delimiter !== 'string') throw new Error(`${at}: Fn::Split takes [delimiter, string].`);
    return scalarString(this.resolveValue(text, at), at).split(delimiter);
  }

  private fnFindInMap(argument: unknown, at: string): unknown {
    const [map, top, second] = argumentList(argument, 3, at).map((part) =>
      scalarString(this.resolveValue(part, at), at),
    ) as [string, string, string];
    const found = this.mappings[map]?.[top]?.[second];
    if (found === undefined) throw new Error(`${at}: no mapping ${map}.${top}.${second}.`);
    return found;
  }

  private substitute(argument: unknown, at: string): string {
    const [text, variables] = typeof argument === 'string' ? [argument, {}] : argumentList(argument, 2, at);
    if (typeof text !== 'string' || variables === null || typeof variables !== 'object') {
      throw new Error(`${at}: Fn::Sub takes a string or [string, variables].`);
    }
    const values = variables as Record<string, unknown>;
    return text.replace(/\$\{(!?)([^}]*)\}/g, (_whole, literal: string, name: string) => {
      if (literal) return `\${${name}}`;
      if (name in values) return scalarString(this.resolveValue(values[name], `${at} \${${name}}`), at);
      if (name.includes('.') && !name.startsWith('AWS::')) {
        const [logicalId, attribute] = splitOnce(name, '.');
        return this.resolveGetAtt(logicalId, attribute, at);
      }
      return scalarString(this.resolveRef(name, at), at);
    });
  }

  private resolveRef(name: string, at: string): unknown {
    const environment = this.environment;
    switch (name) {
      case 'AWS::AccountId':
        return environment.account;
      case 'AWS::Region':
        return environment.region;
      case 'AWS::Partition':
        return environment.partition;
      case 'AWS::URLSuffix':
        return environment.urlSuffix;
      case 'AWS::StackName':
        return environment.stackName;
      case 'AWS::StackId':
        return `arn:${environment.partition}:cloudformation:${environment.region}:${environment.account}:stack/${environment.stackName}/${uuidFrom(environment.stackName)}`;
      case 'AWS::NoValue':
        return NO_VALUE;
    }
    if (name.startsWith('AWS::')) throw new Error(`${at}: the pseudo parameter ${name} is not modelled.`);
    if (name in this.parameters) return this.parameterValue(name, at);
    const resource = this.resourcesById.get(name);
    if (!resource) throw new Error(`${at}: Ref to ${name}, which is neither a parameter nor a resource.`);
    const ref = this.models[resource.type]?.ref;
    if (!ref) throw new Error(`${at}: Ref of a ${resource.type} (${name}) is not modelled.`);
    return this.guarded(`Ref ${name}`, () => ref(resource));
  }

  private resolveGetAtt(logicalId: string, attribute: string, at: string): string {
    const resource = this.resourcesById.get(logicalId);
    if (!resource) throw new Error(`${at}: Fn::GetAtt of ${logicalId}, which is not a resource.`);
    const model = this.models[resource.type]?.attributes[attribute];
    if (!model) throw new Error(`${at}: Fn::GetAtt ${attribute} of a ${resource.type} is not modelled.`);
    return this.guarded(`GetAtt ${logicalId}.${attribute}`, () => model(resource));
  }

  private parameterValue(name: string, at: string): string {
    const given = this.parameterValues[name];
    if (given !== undefined) return given;
    const parameter = this.parameters[name] as { Type?: string; Default?: unknown };
    if (parameter.Default !== undefined && !String(parameter.Type).startsWith('AWS::SSM::')) {
      return scalarString(parameter.Default, at);
    }
    throw new Error(`${at}: parameter ${name} has no value; give it in options.parameters.`);
  }

  private guarded<T>(key: string, compute: () => T): T {
    if (this.resolving.has(key)) throw new Error(`${key} refers to itself.`);
    this.resolving.add(key);
    try {
      return compute();
    } finally {
      this.resolving.delete(key);
    }
  }

  /** The resource's name property when it has one, else a name derived from its logical id. */
  private nameOf(resource: TemplateResource, property: string, fallback = resource.logicalId): string {
    const value = resource.properties[property];
    return value === undefined ? fallback : this.resolveString(value, `${resource.logicalId}.${property}`);
  }

  private arn(service: string, resource: string, region = true, account = true): string {
    const { partition, region: regionName, account: accountId } = this.environment;
    return `arn:${partition}:${service}:${region ? regionName : ''}:${account ? accountId : ''}:${resource}`;
  }

  private resourceTypeModels(): Record<string, ResourceTypeModel> {
    const path = (resource: TemplateResource) => this.nameOf(resource, 'Path', '/');
    const roleName = (resource: TemplateResource) => this.nameOf(resource, 'RoleName');
    const roleArn = (resource: TemplateResource) =>
      this.arn('iam', `role${path(resource)}${roleName(resource)}`, false);
    const userName = (resource: TemplateResource) => this.nameOf(resource, 'UserName');
    const userArn = (resource: TemplateResource) =>
      this.arn('iam', `user${path(resource)}${userName(resource)}`, false);
    const managedPolicyArn = (resource: TemplateResource) =>
      this.arn('iam', `policy${path(resource)}${this.nameOf(resource, 'ManagedPolicyName')}`, false);
    const tableName = (resource: TemplateResource) => this.nameOf(resource, 'TableName');
    const tableArn = (resource: TemplateResource) => this.arn('dynamodb', `table/${tableName(resource)}`);
    const keyId = (resource: TemplateResource) => uuidFrom(`kms-key:${resource.logicalId}`);
    const keyArn = (resource: TemplateResource) => this.arn('kms', `key/${keyId(resource)}`);
    const functionName = (resource: TemplateResource) => this.nameOf(resource, 'FunctionName');
    const functionArn = (resource: TemplateResource) =>
      this.arn('lambda', `function:${functionName(resource)}`);
    const logGroupName = (resource: TemplateResource) => this.nameOf(resource, 'LogGroupName');
    const apiId = (resource: TemplateResource) => idFrom(`rest-api:${resource.logicalId}`, 10);
    const secretArn = (resource: TemplateResource) =>
      this.arn(
        'secretsmanager',
        `secret:${this.nameOf(resource, 'Name')}-${idFrom(`secret:${resource.logicalId}`, 6, true)}`,
      );
    const topicName = (resource: TemplateResource) => this.nameOf(resource, 'TopicName');
    const queueName = (resource: TemplateResource) => this.nameOf(resource, 'QueueName');
    const bucketName = (resource: TemplateResource) =>
      this.nameOf(resource, 'BucketName', resource.logicalId.toLowerCase());
    const ruleName = (resource: TemplateResource) => this.nameOf(resource, 'Name');
    const physicalId = (prefix: string, length: number) => (resource: TemplateResource) =>
      `${prefix}${idFrom(`${prefix}${resource.logicalId}`, length)}`;

    return {
      'AWS::IAM::Role': {
        ref: roleName,
        attributes: {
          Arn: roleArn,
          RoleId: (resource) => `AROA${idFrom(`role:${resource.logicalId}`, 17).toUpperCase()}`,
        },
      },
      'AWS::IAM::User': { ref: userName, attributes: { Arn: userArn } },
      'AWS::IAM::ManagedPolicy': { ref: managedPolicyArn, attributes: { PolicyArn: managedPolicyArn } },
      'AWS::IAM::Policy': { ref: physicalId('Test-', 12), attributes: {} },
      'AWS::DynamoDB::Table': {
        ref: tableName,
        attributes: {
          Arn: tableArn,
          StreamArn: (resource) => `${tableArn(resource)}/stream/1970-01-01T00:00:00.000`,
        },
      },
      'AWS::KMS::Key': { ref: keyId, attributes: { Arn: keyArn, KeyId: keyId } },
      'AWS::KMS::Alias': { ref: (resource) => this.nameOf(resource, 'AliasName'), attributes: {} },
      'AWS::Lambda::Function': { ref: functionName, attributes: { Arn: functionArn } },
      'AWS::Lambda::Url': {
        attributes: {
          FunctionArn: (resource) =>
            this.resolveString(
              resource.properties.TargetFunctionArn,
              `${resource.logicalId}.TargetFunctionArn`,
            ),
          FunctionUrl: (resource) =>
            `https://${idFrom(`url:${resource.logicalId}`, 32)}.lambda-url.${this.environment.region}.on.aws/`,
        },
      },
      'AWS::Logs::LogGroup': {
        ref: logGroupName,
        attributes: { Arn: (resource) => this.arn('logs', `log-group:${logGroupName(resource)}:*`) },
      },
      'AWS::ApiGateway::RestApi': {
        ref: apiId,
        attributes: { RestApiId: apiId, RootResourceId: physicalId('', 10) },
      },
      'AWS::ApiGateway::Stage': { ref: (resource) => this.nameOf(resource, 'StageName'), attributes: {} },
      'AWS::ApiGateway::Deployment': {
        ref: physicalId('', 6),
        attributes: { DeploymentId: physicalId('', 6) },
      },
      'AWS::ApiGateway::Resource': { ref: physicalId('', 6), attributes: { ResourceId: physicalId('', 6) } },
      'AWS::SecretsManager::Secret': { ref: secretArn, attributes: { Id: secretArn } },
      'AWS::SNS::Topic': {
        ref: (resource) => this.arn('sns', topicName(resource)),
        attributes: { TopicArn: (resource) => this.arn('sns', topicName(resource)), TopicName: topicName },
      },
      'AWS::SQS::Queue': {
        ref: (resource) =>
          `https://sqs.${this.environment.region}.${this.environment.urlSuffix}/${this.environment.account}/${queueName(resource)}`,
        attributes: { Arn: (resource) => this.arn('sqs', queueName(resource)), QueueName: queueName },
      },
      'AWS::S3::Bucket': {
        ref: bucketName,
        attributes: { Arn: (resource) => this.arn('s3', bucketName(resource), false, false) },
      },
      'AWS::Events::Rule': {
        ref: ruleName,
        attributes: { Arn: (resource) => this.arn('events', `rule/${ruleName(resource)}`) },
      },
      'AWS::EC2::VPCEndpoint': { ref: physicalId('vpce-', 17), attributes: {} },
    };
  }
}

/** A resource policy of the template (or given by a test), and what it governs. */
interface ResourcePolicyRecord {
  readonly name: string;
  /** The service prefix of the actions it governs (`kms`, `execute-api`, `sts` for trust policies, …). */
  readonly service: string;
  /** Whether it is the policy of this resource ARN. */
  readonly covers: (resourceArn: string) => boolean;
  readonly document: PolicyDocument;
}

/** Resource types whose policies the evaluator does not model, by the service of the actions they govern. */
const UNMODELLED_POLICY_TYPES: Readonly<Record<string, string>> = {
  'AWS::Logs::ResourcePolicy': 'logs',
  'AWS::Events::EventBusPolicy': 'events',
  'AWS::Lambda::LayerVersionPermission': 'lambda',
  'AWS::KMS::ReplicaKey': 'kms',
  'AWS::SNS::TopicInlinePolicy': 'sns',
  'AWS::SQS::QueueInlinePolicy': 'sqs',
  'AWS::S3::AccessPoint': 's3',
  'AWS::S3::MultiRegionAccessPointPolicy': 's3',
};

/**
 * The access model of one template: its identity and resource policies, and the evaluation of requests
 * against them. Build it once per template (it is cheap; synthesizing the template is not).
 */
export class TemplateAccess {
  /** Resolves the template's intrinsics (ARNs of its resources, …). */
  readonly resolver: TemplateResolver;
  /** Managed policy ARNs ignored because of `ignoreUnknownManagedPolicies`. */
  readonly ignoredManagedPolicies: readonly string[];

  private readonly identityPolicies = new Map<string, NamedPolicy[]>();
  private readonly permissionBoundaries = new Map<string, NamedPolicy[]>();
  private readonly principalsByLogicalId = new Map<string, string>();
  private readonly resourcePolicies: ResourcePolicyRecord[] = [];
  private readonly templateArns = new Set<string>();
  private readonly functionUrlAuthTypes = new Map<string, string>();
  private readonly unmodelledServices = new Map<string, string>();

  private constructor(template: TemplateJson, options: TemplateAccessOptions) {
    this.resolver = new TemplateResolver(
      template,
      { ...DEFAULT_ENVIRONMENT, ...options.environment },
      options.parameters,
    );
    const conditional = this.resolver.resources().filter((resource) => resource.condition !== undefined);
    if (conditional.length > 0) {
      // Which of them exist depends on parameters; evaluating all of them could allow what is never deployed.
      throw new Error(
        `Conditional resources are not modelled: ${conditional.map((resource) => resource.logicalId).join(', ')}.`,
      );
    }
    const ignored: string[] = [];
    this.collectPrincipals(options, ignored);
    this.collectAttachedPolicies();
    this.collectResourcePolicies();
    this.ignoredManagedPolicies = ignored;
  }

  /** The access model of a synthesized template (`Template.fromStack(stack).toJSON()`). */
  static fromTemplate(template: TemplateJson, options: TemplateAccessOptions = {}): TemplateAccess {
    return new TemplateAccess(template, options);
  }

  /** The environment the template is evaluated in. */
  get environment(): DeploymentEnvironment {
    return this.resolver.environment;
  }

  /** The ARN of a template resource (`Fn::GetAtt [logicalId, Arn]`, or its ARN-valued equivalent). */
  arn(logicalId: string): string {
    const resource = this.resolver.resource(logicalId);
    for (const attribute of ['Arn', 'TopicArn', 'PolicyArn']) {
      if (this.resolver.hasAttribute(resource.type, attribute))
        return this.resolver.getAtt(logicalId, attribute);
    }
    if (resource.type === 'AWS::SecretsManager::Secret') return this.resolver.ref(logicalId);
    throw new Error(`A ${resource.type} (${logicalId}) has no ARN the evaluator knows.`);
  }

  /** `{ Ref: logicalId }`, resolved. */
  ref(logicalId: string): string {
    return this.resolver.ref(logicalId);
  }

  /** The logical ids of the template's resources of one type, for lookups by type. */
  logicalIds(type: string): string[] {
    return this.resolver.resources(type).map((resource) => resource.logicalId);
  }

  /** The ARN of the role a Lambda function of the template runs as (the only function when not named). */
  functionRole(functionLogicalId?: string): string {
    const logicalId = functionLogicalId ?? this.only('AWS::Lambda::Function');
    const resource = this.resolver.resource(logicalId);
    if (resource.type !== 'AWS::Lambda::Function') throw new Error(`${logicalId} is not a Lambda function.`);
    return this.resolver.resolveString(resource.properties.Role, `${logicalId}.Role`);
  }

  /**
   * The execute-api ARN of one method of a RestApi of the template:
   * `arn:<partition>:execute-api:<region>:<account>:<apiId>/<stage>/<METHOD>/<path>`.
   */
  invokeArn(target: InvokeTarget): string {
    const api = target.api ?? this.only('AWS::ApiGateway::RestApi');
    const apiId = this.resolver.ref(api);
    const stage = target.stage ?? this.onlyStageOf(api);
    const { partition, region, account } = this.environment;
    const path = target.path.replace(/^\//, '');
    return `arn:${partition}:execute-api:${region}:${account}:${apiId}/${stage}/${target.method}/${path}`;
  }

  /** The identity policies the template attaches to a principal (role or user ARN, or logical id). */
  identityPoliciesOf(principal: string): readonly NamedPolicy[] {
    return this.identityPolicies.get(this.identityArn(this.principalArn(principal))) ?? [];
  }

  /** A principal, to ask what it can do: `access.of(roleArn).can('dynamodb:GetItem', tableArn)`. */
  of(principal: string, options: PrincipalOptions = {}): PrincipalAccess {
    return new PrincipalAccess(this, principal, options);
  }

  /** Evaluates one request; throws when it cannot be evaluated faithfully. */
  async evaluate(request: AccessRequest): Promise<Evaluation> {
    const principal = this.principalArn(request.principal);
    const { action, resource } = request;
    if (resource.includes('*')) {
      throw new Error(`Evaluate a concrete resource, not the pattern ${resource}.`);
    }
    const service = action.split(':')[0]?.toLowerCase() ?? '';
    const unmodelled = this.unmodelledServices.get(service);
    if (unmodelled) {
      throw new Error(
        `The template has a ${unmodelled}, whose policy the evaluator does not model; ${action} cannot be decided.`,
      );
    }

    const identityPolicies = this.identityPoliciesFor(principal, request.identityPolicies);
    const resourcePolicy = this.resourcePolicyFor(service, resource, request.resourcePolicy);
    const givenContext = { ...request.context };
    const context = { ...this.derivedContext(principal, action, resource, givenContext), ...givenContext };
    const renamedContext: Record<string, string | string[]> = {};
    for (const [key, value] of Object.entries(context)) {
      renamedContext[simulatedContextKey(key)] = typeof value === 'string' ? value : [...value];
    }
    const boundaries = this.permissionBoundaries.get(this.identityArn(principal));

    const simulation: Simulation = {
      request: {
        principal,
        action,
        resource: { resource, accountId: this.resourceAccount(resource, request.resourceAccount) },
        contextVariables: renamedContext,
      },
      identityPolicies: identityPolicies.map(({ name, document }) => ({
        name,
        policy: renamePolicyKeys(document),
      })),
      serviceControlPolicies: this.serviceControlPoliciesFor(principal, request.serviceControlPolicies),
      resourceControlPolicies: [],
      ...(resourcePolicy ? { resourcePolicy: renamePolicyKeys(resourcePolicy.document) } : {}),
      ...(boundaries
        ? {
            permissionBoundaryPolicies: boundaries.map(({ name, document }) => ({
              name,
              policy: renamePolicyKeys(document),
            })),
          }
        : {}),
    };
    const outcome = await runSimulation(simulation, { simulationMode: 'Strict' });
    if (outcome.resultType === 'error') {
      throw new Error(
        `iam-simulate cannot evaluate ${action} on ${resource}: ${JSON.stringify(outcome.errors)}`,
      );
    }
    if (outcome.resultType !== 'single') {
      throw new Error(
        `iam-simulate answered a ${outcome.resultType} result for the concrete resource ${resource}.`,
      );
    }
    const ignored = (outcome.result.ignoredContextKeys ?? []).filter((key) =>
      Object.keys(givenContext).some(
        (given) => simulatedContextKey(given).toLowerCase() === key.toLowerCase(),
      ),
    );
    if (ignored.length > 0) {
      throw new Error(
        `iam-simulate ignores the context key(s) ${ignored.join(', ')} for ${action}, so a condition on them ` +
          'would never be tested; add them to RENAMED_KEYS in test/support/iam-evaluation.ts if AWS does use them.',
      );
    }
    const analysis = outcome.result.analysis;
    return {
      decision: outcome.overallResult,
      simulation,
      analysis,
      reasons: reasonsOf(analysis, resourcePolicy?.name),
    };
  }

  /** The SCPs of a request: none for a service principal (SCPs never restrict one), else FullAWSAccess and the given. */
  private serviceControlPoliciesFor(
    principal: string,
    given: readonly PolicyDocument[] | undefined,
  ): Simulation['serviceControlPolicies'] {
    if (given === undefined || given.length === 0 || !principal.startsWith('arn:')) return [];
    return [
      {
        orgIdentifier: 'r-root',
        policies: [
          { name: 'FullAWSAccess', policy: allowEverything() },
          ...given.map((document, index) => ({
            name: `service control policy ${index + 1}`,
            policy: renamePolicyKeys(document),
          })),
        ],
      },
    ];
  }

  /** The principal ARN a request names: a logical id of the template, or an ARN or service principal as is. */
  private principalArn(principal: string): string {
    const fromTemplate = this.principalsByLogicalId.get(principal);
    if (fromTemplate) return fromTemplate;
    if (principal.startsWith('arn:') || /^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$/.test(principal))
      return principal;
    throw new Error(
      `${principal} is neither a role or user of the template nor an ARN or service principal.`,
    );
  }

  /** The ARN identity policies are attached to: an assumed-role session's role. */
  private identityArn(principal: string): string {
    const session = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(principal);
    if (!session) return principal;
    const [, partition, account, roleName] = session;
    const byName = [...this.principalsByLogicalId.values()].find(
      (arn) => arn.startsWith(`arn:${partition}:iam::${account}:role/`) && arn.endsWith(`/${roleName}`),
    );
    return byName ?? `arn:${partition}:iam::${account}:role/${roleName}`;
  }

  private identityPoliciesFor(
    principal: string,
    given: readonly PolicyDocument[] | undefined,
  ): NamedPolicy[] {
    const isService = !principal.startsWith('arn:');
    const arn = this.identityArn(principal);
    const known = this.identityPolicies.has(arn) || [...this.principalsByLogicalId.values()].includes(arn);
    if (isService) {
      if (given && given.length > 0)
        throw new Error(`A service principal (${principal}) has no identity policies.`);
      return [];
    }
    if (!known && given === undefined) {
      throw new Error(
        `${principal} is not a principal of the template: say which identity policies it has (policies: [] for none).`,
      );
    }
    return [
      ...(this.identityPolicies.get(arn) ?? []),
      ...(given ?? []).map((document, index) => ({ name: `given policy ${index + 1}`, document })),
    ];
  }

  private resourcePolicyFor(
    service: string,
    resource: string,
    given: PolicyDocument | undefined,
  ): { name: string; document: PolicyDocument } | undefined {
    const own = this.resourcePolicies.filter(
      (record) => record.service === service && record.covers(resource),
    );
    if (own.length > 1) {
      throw new Error(
        `${resource} has ${own.length} resource policies in the template: ${own.map((r) => r.name).join(', ')}.`,
      );
    }
    if (own[0]) {
      if (given)
        throw new Error(
          `${resource} has its own resource policy (${own[0].name}); mutate the template instead.`,
        );
      return own[0];
    }
    if (given) return { name: 'given resource policy', document: given };
    if (service === 'kms' && /:key\//.test(resource)) {
      // Without a key policy KMS denies everyone; evaluating without one would prove nothing.
      throw new Error(
        `${resource} is not a key of the template: give its key policy (e.g. defaultKeyPolicy(account)).`,
      );
    }
    return undefined;
  }

  /** Context AWS sets from the principal and resource, unless the request sets it itself. */
  private derivedContext(
    principal: string,
    action: string,
    resource: string,
    given: ContextValues,
  ): Record<string, string | readonly string[]> {
    const derived: Record<string, string | readonly string[]> = {};
    const account = principal.split(':')[4];
    if (principal.startsWith('arn:') && account) {
      derived['aws:PrincipalArn'] = this.identityArn(principal);
      derived['aws:PrincipalAccount'] = account;
      derived['aws:PrincipalIsAWSService'] = 'false';
      if (action.toLowerCase().startsWith('kms:')) derived['kms:CallerAccount'] = account;
    } else if (!principal.startsWith('arn:')) {
      derived['aws:PrincipalIsAWSService'] = 'true';
      derived['aws:PrincipalServiceName'] = principal;
    }
    const encryptionContextKeys = Object.keys(given)
      .filter((key) => /^kms:EncryptionContext:/i.test(key))
      .map((key) => key.slice('kms:EncryptionContext:'.length));
    if (encryptionContextKeys.length > 0) derived['kms:EncryptionContextKeys'] = encryptionContextKeys;
    if (action.toLowerCase() === 'lambda:invokefunctionurl') {
      const authType = this.functionUrlAuthTypes.get(resource);
      if (authType) derived['lambda:FunctionUrlAuthType'] = authType;
    }
    return derived;
  }

  private resourceAccount(resource: string, given: string | undefined): string {
    if (given) return given;
    const account = resource.split(':')[4];
    if (account) return account;
    if (
      this.templateArns.has(resource) ||
      [...this.templateArns].some((arn) => resource.startsWith(`${arn}/`))
    ) {
      return this.environment.account;
    }
    throw new Error(`${resource} does not name its account: give resourceAccount.`);
  }

  private only(type: string): string {
    const ids = this.logicalIds(type);
    if (ids.length !== 1) {
      throw new Error(
        `The template has ${ids.length} ${type} resources (${ids.join(', ')}): name the one meant.`,
      );
    }
    return ids[0] as string;
  }

  private onlyStageOf(apiLogicalId: string): string {
    const stages = this.resolver
      .resources('AWS::ApiGateway::Stage')
      .filter((stage) => isRefTo(stage.properties.RestApiId, apiLogicalId))
      .map((stage) =>
        this.resolver.resolveString(stage.properties.StageName, `${stage.logicalId}.StageName`),
      );
    if (stages.length !== 1)
      throw new Error(`${apiLogicalId} has ${stages.length} stages: name the one meant.`);
    return stages[0] as string;
  }

  /** Attaches a policy once (a managed policy can name a role that also lists it). */
  private addIdentityPolicy(principalArn: string, policy: NamedPolicy): void {
    const attached = this.identityPolicies.get(principalArn) ?? [];
    if (!attached.some((existing) => existing.name === policy.name)) {
      this.identityPolicies.set(principalArn, [...attached, policy]);
    }
  }

  private collectPrincipals(options: TemplateAccessOptions, ignored: string[]): void {
    const managedInTemplate = new Map<string, NamedPolicy>();
    for (const policy of this.resolver.resources('AWS::IAM::ManagedPolicy')) {
      managedInTemplate.set(this.arn(policy.logicalId), {
        name: `${policy.logicalId} (AWS::IAM::ManagedPolicy)`,
        document: this.policyDocument(policy.properties.PolicyDocument, `${policy.logicalId}.PolicyDocument`),
      });
    }
    /** A managed policy by ARN: the template's, else one given in options, else ignored or an error. */
    const managed = (arn: string, where: string): NamedPolicy | undefined => {
      const known = managedInTemplate.get(arn);
      if (known) return known;
      const given = options.managedPolicies?.[arn];
      if (given) return { name: arn, document: given };
      if (options.ignoreUnknownManagedPolicies) {
        ignored.push(arn);
        return undefined;
      }
      throw new Error(
        `${where} attaches the managed policy ${arn}, which cannot be evaluated offline: give its document in ` +
          'managedPolicies, or set ignoreUnknownManagedPolicies.',
      );
    };

    for (const type of ['AWS::IAM::Role', 'AWS::IAM::User'] as const) {
      for (const principal of this.resolver.resources(type)) this.collectPrincipal(type, principal, managed);
    }
    for (const type of ['AWS::IAM::Group', 'AWS::IAM::UserToGroupAddition']) {
      if (this.resolver.resources(type).length > 0)
        throw new Error(`${type} is not modelled by the evaluator.`);
    }
    // A customer managed policy of the template attached through its own Roles/Users properties.
    for (const policy of this.resolver.resources('AWS::IAM::ManagedPolicy')) {
      const named = managedInTemplate.get(this.arn(policy.logicalId)) as NamedPolicy;
      this.attachByName(policy, named);
    }
  }

  /** A role or user of the template: its inline and managed policies, its boundary, a role's trust policy. */
  private collectPrincipal(
    type: 'AWS::IAM::Role' | 'AWS::IAM::User',
    principal: TemplateResource,
    managed: (arn: string, where: string) => NamedPolicy | undefined,
  ): void {
    const { logicalId, properties } = principal;
    const arn = this.arn(logicalId);
    this.principalsByLogicalId.set(logicalId, arn);
    this.templateArns.add(arn);
    if (this.resolver.resolveStrings(properties.Groups, `${logicalId}.Groups`).length > 0) {
      throw new Error(`${logicalId} is in IAM groups; group policies are not modelled.`);
    }
    const inline = (properties.Policies ?? []) as { PolicyName: unknown; PolicyDocument: unknown }[];
    for (const [index, policy] of inline.entries()) {
      const name = this.resolver.resolveString(
        policy.PolicyName,
        `${logicalId}.Policies[${index}].PolicyName`,
      );
      this.addIdentityPolicy(arn, {
        name: `${logicalId}/${name} (inline)`,
        document: this.policyDocument(policy.PolicyDocument, `${logicalId}.Policies[${index}]`),
      });
    }
    for (const managedArn of this.resolver.resolveStrings(
      properties.ManagedPolicyArns,
      `${logicalId}.ManagedPolicyArns`,
    )) {
      const policy = managed(managedArn, logicalId);
      if (policy) this.addIdentityPolicy(arn, policy);
    }
    if (properties.PermissionsBoundary !== undefined) {
      const boundaryArn = this.resolver.resolveString(
        properties.PermissionsBoundary,
        `${logicalId}.PermissionsBoundary`,
      );
      const boundary = managed(boundaryArn, `${logicalId} (permissions boundary)`);
      if (boundary) this.permissionBoundaries.set(arn, [boundary]);
    }
    if (type === 'AWS::IAM::Role') {
      this.resourcePolicies.push({
        name: `${logicalId} trust policy`,
        service: 'sts',
        covers: (resource) => resource === arn,
        document: this.policyDocument(
          properties.AssumeRolePolicyDocument,
          `${logicalId}.AssumeRolePolicyDocument`,
        ),
      });
    }
  }

  /** AWS::IAM::Policy, AWS::IAM::RolePolicy and AWS::IAM::UserPolicy. */
  private collectAttachedPolicies(): void {
    for (const policy of this.resolver.resources('AWS::IAM::Policy')) {
      const name = this.resolver.resolveString(
        policy.properties.PolicyName,
        `${policy.logicalId}.PolicyName`,
      );
      this.attachByName(policy, {
        name: `${name} (AWS::IAM::Policy ${policy.logicalId})`,
        document: this.policyDocument(policy.properties.PolicyDocument, `${policy.logicalId}.PolicyDocument`),
      });
    }
    for (const [type, nameProperty, kind] of [
      ['AWS::IAM::RolePolicy', 'RoleName', 'role'],
      ['AWS::IAM::UserPolicy', 'UserName', 'user'],
    ] as const) {
      for (const policy of this.resolver.resources(type)) {
        const owner = this.resolver.resolveString(
          policy.properties[nameProperty],
          `${policy.logicalId}.${nameProperty}`,
        );
        this.addIdentityPolicy(this.principalArnByName(kind, owner), {
          name: `${policy.logicalId} (${type})`,
          document: this.policyDocument(
            policy.properties.PolicyDocument,
            `${policy.logicalId}.PolicyDocument`,
          ),
        });
      }
    }
  }

  private attachByName(policy: TemplateResource, named: NamedPolicy): void {
    const { logicalId, properties } = policy;
    if (this.resolver.resolveStrings(properties.Groups, `${logicalId}.Groups`).length > 0) {
      throw new Error(`${logicalId} is attached to IAM groups; group policies are not modelled.`);
    }
    for (const roleName of this.resolver.resolveStrings(properties.Roles, `${logicalId}.Roles`)) {
      this.addIdentityPolicy(this.principalArnByName('role', roleName), named);
    }
    for (const userName of this.resolver.resolveStrings(properties.Users, `${logicalId}.Users`)) {
      this.addIdentityPolicy(this.principalArnByName('user', userName), named);
    }
  }

  /** A role or user by name: the template's (whatever its path), else one of that name in the account. */
  private principalArnByName(kind: 'role' | 'user', name: string): string {
    const { partition, account } = this.environment;
    const prefix = `arn:${partition}:iam::${account}:${kind}/`;
    const inTemplate = [...this.principalsByLogicalId.values()].find(
      (arn) => arn.startsWith(prefix) && arn.split('/').at(-1) === name,
    );
    return inTemplate ?? `${prefix}${name}`;
  }

  private collectResourcePolicies(): void {
    this.noteUnmodelledPolicies();
    this.collectKeyPolicies();
    this.collectRestApiPolicies();
    this.collectTablePolicies();
    this.collectSecretPolicies();
    const { partition, region } = this.environment;
    this.collectListedPolicies('AWS::SNS::TopicPolicy', 'Topics', 'sns', (arn) => [arn]);
    this.collectListedPolicies('AWS::SQS::QueuePolicy', 'Queues', 'sqs', (url) => {
      const [, , , , account, name] = url.split('/');
      return [`arn:${partition}:sqs:${region}:${account}:${name}`];
    });
    this.collectBucketPolicies();
    this.collectLambdaPermissions();
  }

  /** Resource policies the evaluator does not model: their services are refused, not guessed. */
  private noteUnmodelledPolicies(): void {
    for (const [type, service] of Object.entries(UNMODELLED_POLICY_TYPES)) {
      if (this.resolver.resources(type).length > 0) this.unmodelledServices.set(service, type);
    }
    for (const repository of this.resolver.resources('AWS::ECR::Repository')) {
      if (repository.properties.RepositoryPolicyText !== undefined) {
        this.unmodelledServices.set('ecr', 'AWS::ECR::Repository with a RepositoryPolicyText');
      }
    }
  }

  private collectKeyPolicies(): void {
    for (const key of this.resolver.resources('AWS::KMS::Key')) {
      const arn = this.arn(key.logicalId);
      this.templateArns.add(arn);
      const document =
        key.properties.KeyPolicy === undefined
          ? defaultKeyPolicy(this.environment.account, this.environment.partition)
          : this.policyDocument(key.properties.KeyPolicy, `${key.logicalId}.KeyPolicy`);
      this.resourcePolicies.push({
        name: `${key.logicalId} key policy`,
        service: 'kms',
        covers: (r) => r === arn,
        document,
      });
    }
  }

  private collectRestApiPolicies(): void {
    for (const api of this.resolver.resources('AWS::ApiGateway::RestApi')) {
      const { partition, region, account } = this.environment;
      const prefix = `arn:${partition}:execute-api:${region}:${account}:${this.resolver.ref(api.logicalId)}/`;
      if (api.properties.Policy === undefined) continue;
      const document = expandExecuteApiResources(
        this.policyDocument(api.properties.Policy, `${api.logicalId}.Policy`),
        prefix,
      );
      this.resourcePolicies.push({
        name: `${api.logicalId} resource policy`,
        service: 'execute-api',
        covers: (resource) => resource.startsWith(prefix),
        document,
      });
    }
  }

  private collectTablePolicies(): void {
    for (const table of this.resolver.resources('AWS::DynamoDB::Table')) {
      const arn = this.arn(table.logicalId);
      this.templateArns.add(arn);
      const policy = table.properties.ResourcePolicy as { PolicyDocument?: unknown } | undefined;
      if (policy?.PolicyDocument === undefined) continue;
      this.resourcePolicies.push({
        name: `${table.logicalId} resource policy`,
        service: 'dynamodb',
        covers: (resource) => resource === arn || resource.startsWith(`${arn}/`),
        document: this.policyDocument(policy.PolicyDocument, `${table.logicalId}.ResourcePolicy`),
      });
    }
  }

  private collectSecretPolicies(): void {
    for (const policy of this.resolver.resources('AWS::SecretsManager::ResourcePolicy')) {
      const secret = this.resolver.resolveString(policy.properties.SecretId, `${policy.logicalId}.SecretId`);
      this.resourcePolicies.push({
        name: `${policy.logicalId} (AWS::SecretsManager::ResourcePolicy)`,
        service: 'secretsmanager',
        covers: (resource) => resource === secret,
        document: this.policyDocument(policy.properties.ResourcePolicy, `${policy.logicalId}.ResourcePolicy`),
      });
    }
  }

  /** A policy resource that lists the resources it covers (SNS topics, SQS queues). */
  private collectListedPolicies(
    type: string,
    listProperty: string,
    service: string,
    toArns: (value: string) => string[],
  ): void {
    for (const policy of this.resolver.resources(type)) {
      const arns = this.resolver
        .resolveStrings(policy.properties[listProperty], `${policy.logicalId}.${listProperty}`)
        .flatMap(toArns);
      const document = this.policyDocument(
        policy.properties.PolicyDocument,
        `${policy.logicalId}.PolicyDocument`,
      );
      this.resourcePolicies.push({
        name: `${policy.logicalId} (${type})`,
        service,
        covers: (resource) =>
          arns.some((arn) => resource === arn || (service === 's3' && resource.startsWith(`${arn}/`))),
        document,
      });
    }
  }

  private collectBucketPolicies(): void {
    const { partition } = this.environment;
    for (const bucket of this.resolver.resources('AWS::S3::Bucket'))
      this.templateArns.add(this.arn(bucket.logicalId));
    for (const policy of this.resolver.resources('AWS::S3::BucketPolicy')) {
      const bucket = this.resolver.resolveString(policy.properties.Bucket, `${policy.logicalId}.Bucket`);
      const arn = `arn:${partition}:s3:::${bucket}`;
      this.resourcePolicies.push({
        name: `${policy.logicalId} (AWS::S3::BucketPolicy)`,
        service: 's3',
        covers: (resource) => resource === arn || resource.startsWith(`${arn}/`),
        document: this.policyDocument(policy.properties.PolicyDocument, `${policy.logicalId}.PolicyDocument`),
      });
    }
  }

  /** AWS::Lambda::Permission resources, as one resource policy per function, and function URLs. */
  private collectLambdaPermissions(): void {
    const resolver = this.resolver;
    for (const fn of resolver.resources('AWS::Lambda::Function'))
      this.templateArns.add(this.arn(fn.logicalId));
    for (const url of resolver.resources('AWS::Lambda::Url')) {
      if (url.properties.Qualifier !== undefined)
        throw new Error(`${url.logicalId}: qualified function URLs are not modelled.`);
      const arn = this.functionArn(
        resolver.resolveString(url.properties.TargetFunctionArn, `${url.logicalId}.TargetFunctionArn`),
      );
      this.functionUrlAuthTypes.set(
        arn,
        resolver.resolveString(url.properties.AuthType, `${url.logicalId}.AuthType`),
      );
    }

    const statements = new Map<string, PolicyStatement[]>();
    const supported = new Set([
      'Action',
      'FunctionName',
      'Principal',
      'SourceArn',
      'SourceAccount',
      'PrincipalOrgID',
      'FunctionUrlAuthType',
      'InvokedViaFunctionUrl',
    ]);
    for (const permission of resolver.resources('AWS::Lambda::Permission')) {
      const { logicalId, properties } = permission;
      const unsupported = Object.keys(properties).filter((key) => !supported.has(key));
      if (unsupported.length > 0) throw new Error(`${logicalId}: ${unsupported.join(', ')} not modelled.`);
      const value = (key: string) =>
        properties[key] === undefined
          ? undefined
          : resolver.resolveString(properties[key], `${logicalId}.${key}`);
      const functionArn = this.functionArn(value('FunctionName') as string);
      const conditions: Record<string, Record<string, string>> = {};
      const condition = (operator: string, key: string, conditionValue: string | undefined) => {
        if (conditionValue !== undefined)
          conditions[operator] = { ...conditions[operator], [key]: conditionValue };
      };
      condition('ArnLike', 'aws:SourceArn', value('SourceArn'));
      condition('StringEquals', 'aws:SourceAccount', value('SourceAccount'));
      condition('StringEquals', 'aws:PrincipalOrgID', value('PrincipalOrgID'));
      condition('StringEquals', 'lambda:FunctionUrlAuthType', value('FunctionUrlAuthType'));
      const viaUrl = resolver.resolve(properties.InvokedViaFunctionUrl, `${logicalId}.InvokedViaFunctionUrl`);
      if (viaUrl !== undefined) condition('Bool', 'lambda:InvokedViaFunctionUrl', String(viaUrl));
      statements.set(functionArn, [
        ...(statements.get(functionArn) ?? []),
        {
          Sid: logicalId,
          Effect: 'Allow',
          Principal: lambdaPrincipal(value('Principal') as string, this.environment.partition),
          Action: value('Action'),
          Resource: functionArn,
          ...(Object.keys(conditions).length > 0 ? { Condition: conditions } : {}),
        },
      ]);
    }
    for (const [functionArn, functionStatements] of statements) {
      this.resourcePolicies.push({
        name: `${functionArn} permissions`,
        service: 'lambda',
        covers: (resource) => resource === functionArn || resource.startsWith(`${functionArn}:`),
        document: { Version: '2012-10-17', Id: 'default', Statement: functionStatements },
      });
    }
  }

  /** A function name, partial ARN or ARN as the function's unqualified ARN. */
  private functionArn(nameOrArn: string): string {
    const { partition, region, account } = this.environment;
    if (nameOrArn.startsWith('arn:')) return nameOrArn.split(':').slice(0, 7).join(':');
    const parts = nameOrArn.split(':');
    if (parts.length >= 3 && parts[1] === 'function') {
      return `arn:${partition}:lambda:${region}:${parts[0]}:function:${parts[2]}`;
    }
    return `arn:${partition}:lambda:${region}:${account}:function:${parts[0]}`;
  }

  private policyDocument(value: unknown, where: string): PolicyDocument {
    const resolved = this.resolver.resolve(typeof value === 'string' ? JSON.parse(value) : value, where);
    if (resolved === null || typeof resolved !== 'object' || !('Statement' in resolved)) {
      throw new Error(`${where}: not a policy document.`);
    }
    return resolved as PolicyDocument;
  }
}

/** One principal of a {@link TemplateAccess}, asking about actions on resources. */
export class PrincipalAccess {
  constructor(
    private readonly access: TemplateAccess,
    private readonly principal: string,
    private readonly options: PrincipalOptions,
  ) {}

  /** The decision on one action on one resource. */
  async can(action: string, resource: string, options: RequestOptions = {}): Promise<Decision> {
    return (await this.explain(action, resource, options)).decision;
  }

  /** The decision on each of several actions on one resource, as `{ action: decision }`. */
  async canEach(
    actions: readonly string[],
    resource: string,
    options: RequestOptions = {},
  ): Promise<Record<string, Decision>> {
    const decisions = await Promise.all(actions.map((action) => this.can(action, resource, options)));
    return Object.fromEntries(actions.map((action, index) => [action, decisions[index] as Decision]));
  }

  /** The whole evaluation of one request, with the statements that decided it. */
  explain(action: string, resource: string, options: RequestOptions = {}): Promise<Evaluation> {
    return this.access.evaluate({
      principal: this.principal,
      action,
      resource,
      context: { ...this.options.context, ...options.context },
      ...(this.options.policies ? { identityPolicies: this.options.policies } : {}),
      ...(this.options.serviceControlPolicies
        ? { serviceControlPolicies: this.options.serviceControlPolicies }
        : {}),
      ...(options.resourcePolicy ? { resourcePolicy: options.resourcePolicy } : {}),
      ...(options.resourceAccount ? { resourceAccount: options.resourceAccount } : {}),
    });
  }
}

/** One statement of a policy document found in a template, live: changing it changes the template. */
export interface FoundStatement {
  /** The logical id of the resource whose property holds the policy. */
  readonly logicalId: string;
  readonly type: string;
  readonly statement: Record<string, unknown>;
}

/**
 * A deep copy of a template with `change` applied, for tests that break a policy on purpose to show
 * that a claim about it can fail. The original is untouched.
 */
export function changedTemplate(
  template: TemplateJson,
  change: (copy: Record<string, unknown>) => void,
): TemplateJson {
  const copy = structuredClone(template) as Record<string, unknown>;
  change(copy);
  return copy;
}

/**
 * Every statement of every policy document in a template (role inline policies and trust policies,
 * AWS::IAM::Policy and managed policies, key policies, API resource policies, table, secret, topic, queue
 * and bucket policies) for which `matches` holds, as live objects: use on a {@link changedTemplate} copy.
 */
export function policyStatements(
  template: TemplateJson,
  matches: (
    statement: Record<string, unknown>,
    resource: { logicalId: string; type: string },
  ) => boolean = () => true,
): FoundStatement[] {
  const found: FoundStatement[] = [];
  const resources = (template.Resources ?? {}) as Record<
    string,
    { Type: string; Properties?: Record<string, unknown> }
  >;
  for (const [logicalId, { Type: type, Properties: properties = {} }] of Object.entries(resources)) {
    for (const statement of policyDocuments(type, properties).flatMap(statementsOf)) {
      if (matches(statement, { logicalId, type })) found.push({ logicalId, type, statement });
    }
  }
  return found;
}

/** The properties of a resource that may hold a policy document, by type. */
function policyDocuments(type: string, properties: Record<string, unknown>): unknown[] {
  return [
    properties.PolicyDocument,
    properties.KeyPolicy,
    properties.AssumeRolePolicyDocument,
    (properties.ResourcePolicy as { PolicyDocument?: unknown } | undefined)?.PolicyDocument ??
      properties.ResourcePolicy,
    type === 'AWS::ApiGateway::RestApi' ? properties.Policy : undefined,
    ...((properties.Policies ?? []) as { PolicyDocument?: unknown }[]).map((policy) => policy.PolicyDocument),
  ];
}

/** The statements of a policy document, live; none of anything else. */
function statementsOf(document: unknown): Record<string, unknown>[] {
  if (document === null || typeof document !== 'object' || !('Statement' in document)) return [];
  const statements = (document as { Statement: unknown }).Statement;
  return (Array.isArray(statements) ? statements : [statements]) as Record<string, unknown>[];
}

/** Renames the condition keys iam-simulate would drop (see {@link simulatedContextKey}). */
function renamePolicyKeys(document: PolicyDocument): PolicyDocument {
  if (/\$\{kms:EncryptionContext:/i.test(JSON.stringify(document))) {
    throw new Error('A policy variable $' + '{kms:EncryptionContext:…} is not modelled by the evaluator.');
  }
  const statements = Array.isArray(document.Statement) ? document.Statement : [document.Statement];
  return {
    ...document,
    Statement: (statements as PolicyStatement[]).map((statement) => {
      const condition = statement.Condition as Record<string, Record<string, unknown>> | undefined;
      if (!condition) return statement;
      const renamed: Record<string, Record<string, unknown>> = {};
      for (const [operator, keys] of Object.entries(condition)) {
        renamed[operator] = Object.fromEntries(
          Object.entries(keys).map(([key, values]) => [simulatedContextKey(key), values]),
        );
      }
      return { ...statement, Condition: renamed };
    }),
  };
}

/** API Gateway's `execute-api:/<stage>/<METHOD>/<path>` resource shorthand as ARNs of this API. */
function expandExecuteApiResources(document: PolicyDocument, arnPrefix: string): PolicyDocument {
  const expand = (value: unknown): unknown => {
    if (typeof value === 'string')
      return value.startsWith('execute-api:/') ? `${arnPrefix}${value.slice(13)}` : value;
    return Array.isArray(value) ? value.map(expand) : value;
  };
  const statements = Array.isArray(document.Statement) ? document.Statement : [document.Statement];
  return {
    ...document,
    Statement: (statements as PolicyStatement[]).map((statement) => ({
      ...statement,
      ...('Resource' in statement ? { Resource: expand(statement.Resource) } : {}),
      ...('NotResource' in statement ? { NotResource: expand(statement.NotResource) } : {}),
    })),
  };
}

/** The `Principal` of a Lambda permission as a policy principal. */
function lambdaPrincipal(principal: string, partition: string): unknown {
  if (principal === '*') return '*';
  if (/^\d{12}$/.test(principal)) return { AWS: `arn:${partition}:iam::${principal}:root` };
  if (principal.startsWith('arn:')) return { AWS: principal };
  return { Service: principal };
}

/** Which policies and statements decided an analysis, as readable lines. */
function reasonsOf(analysis: RequestAnalysis, resourcePolicyName = 'given'): string[] {
  const lines: string[] = [];
  const statements = (
    kind: string,
    part: { allowStatements: unknown[]; denyStatements: unknown[] } | undefined,
  ) => {
    for (const [effect, list] of [
      ['denies', part?.denyStatements ?? []],
      ['allows', part?.allowStatements ?? []],
    ] as const) {
      for (const statement of list as { policyId?: string; explain: { identifier: string } }[]) {
        const policy = statement.policyId ? `${kind} "${statement.policyId}"` : kind;
        lines.push(`${policy}, statement ${statement.explain.identifier}, ${effect}`);
      }
    }
  };
  statements('identity policy', analysis.identityAnalysis);
  statements(`resource policy "${resourcePolicyName}"`, analysis.resourceAnalysis);
  statements('permission boundary', analysis.permissionBoundaryAnalysis);
  if (analysis.blockedBy) lines.push(`blocked by ${analysis.blockedBy.join(', ')}`);
  return lines;
}

function isRefTo(value: unknown, logicalId: string): boolean {
  return value !== null && typeof value === 'object' && (value as { Ref?: unknown }).Ref === logicalId;
}

function argumentList(argument: unknown, length: number, at: string): unknown[] {
  if (!Array.isArray(argument) || argument.length !== length) {
    throw new Error(`${at}: expected a list of ${length} arguments.`);
  }
  return argument;
}

function scalarString(value: unknown, at: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`${at}: expected a string, got ${JSON.stringify(value)}.`);
}

function splitOnce(text: string, separator: string): [string, string] {
  const index = text.indexOf(separator);
  return index < 0 ? [text, ''] : [text.slice(0, index), text.slice(index + 1)];
}

function digest(seed: string): string {
  return createHash('sha256').update(seed).digest('hex');
}

/** A deterministic identifier: lowercase base-36 (or mixed-case letters and digits) of the given length. */
function idFrom(seed: string, length: number, mixedCase = false): string {
  const alphabet = mixedCase
    ? 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
    : 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = createHash('sha256').update(seed).digest();
  return [...bytes.subarray(0, length)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

/** A deterministic UUID-shaped identifier (KMS key ids). */
function uuidFrom(seed: string): string {
  const hex = digest(seed);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
