import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, type EndpointKind, JsonSyntaxError } from '@tvs/client/contract';
import { type JsonDocument, readJsonText } from '@tvs/core/config/json-text';
import { type ServiceConfigDocument, strictConfigDocument } from '@tvs/core/config/service-config';
import { Aws, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { TokenVendingService, type TokenVendingServiceProps } from './token-vending-service';

/** The configuration document used when the `config` context value is not given. */
export const DEFAULT_CONFIG_FILE = 'config/tvs.config.json';

/** Properties of {@link TokenVendingStack}. */
export interface TokenVendingStackProps extends StackProps {
  /**
   * Path of the configuration document, relative to the working directory.
   *
   * @default - the `config` context value (`cdk synth -c config=path`), else `config/tvs.config.json`
   */
  readonly configFile?: string;

  /**
   * Further properties of the service (throttle, timeout, alarms, pre-warm, …); they win over context.
   *
   * @default - the construct's defaults
   */
  readonly service?: Partial<Omit<TokenVendingServiceProps, 'config'>>;
}

/**
 * The Token Vending Service as a deployable stack, environment-agnostic unless `env` is given.
 *
 * Context values (`cdk synth -c name=value`): `config` (path of the configuration document),
 * `endpoint` (`rest-api`, the default, or `function-url`), `allowedAccounts` and `vpcEndpointIds`
 * (comma-separated), `allowedOrganizationId`, `alarmTopicArn` (an existing SNS topic that every alarm
 * notifies). With neither `allowedAccounts` nor `allowedOrganizationId`, the stack admits the account it
 * is deployed to.
 */
export class TokenVendingStack extends Stack {
  /** The service. */
  readonly service: TokenVendingService;

  constructor(scope: Construct, id: string, props: TokenVendingStackProps = {}) {
    const { configFile: givenConfigFile, service, ...stackProps } = props;
    super(scope, id, {
      description:
        'Token Vending Service: narrowed-scope, cached Akamai Identity Cloud tokens for IAM callers',
      ...stackProps,
    });

    const configFile = givenConfigFile ?? contextString(this, 'config') ?? DEFAULT_CONFIG_FILE;
    const allowedOrganizationId = contextString(this, 'allowedOrganizationId');
    const allowedAccounts =
      contextList(this, 'allowedAccounts') ?? (allowedOrganizationId ? undefined : [Aws.ACCOUNT_ID]);
    const vpcEndpointIds = contextList(this, 'vpcEndpointIds');
    // Checked by the construct, which names the two kinds when it is neither.
    const endpoint = contextString(this, 'endpoint') as EndpointKind | undefined;
    const alarmTopicArn = contextString(this, 'alarmTopicArn');

    this.service = new TokenVendingService(this, 'TokenVendingService', {
      config: readConfigDocument(configFile),
      endpoint,
      allowedAccounts,
      allowedOrganizationId,
      vpcEndpointIds,
      ...(alarmTopicArn ? { alarmTopicArn } : {}),
      ...service,
    });
    new CfnOutput(this, 'TokenTableName', {
      description: 'Token Vending Service: the token cache table (tvs purge --table <this>)',
      value: this.service.table.tableName,
    });
  }
}

/** Reads the JSON document strictly (no key twice); its content is validated by the construct. */
function readConfigDocument(configFile: string): ServiceConfigDocument {
  const path = resolve(configFile);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`Cannot read the service configuration ${path}; give another with -c config=<path>.`, {
      cause: error,
    });
  }
  let json: JsonDocument;
  try {
    json = readJsonText(text);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    throw new Error(`The service configuration ${path} is not valid JSON: ${error.message}`, {
      cause: error,
    });
  }
  try {
    // Its content is validated by the construct.
    return strictConfigDocument(json) as ServiceConfigDocument;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new Error(`The service configuration ${path} is invalid:\n  - ${error.problems.join('\n  - ')}`, {
      cause: error,
    });
  }
}

function contextString(scope: Construct, key: string): string | undefined {
  const value: unknown = scope.node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new Error(`Context value "${key}" must be a string.`);
  return value;
}

/** A list from context: a JSON array (cdk.json) or a comma-separated string (`-c key=a,b`). */
function contextList(scope: Construct, key: string): string[] | undefined {
  const value: unknown = scope.node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  const items = Array.isArray(value) ? value : String(value).split(',');
  const list = items.map((item) => String(item).trim()).filter((item) => item !== '');
  return list.length > 0 ? list : undefined;
}
