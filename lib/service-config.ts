import { ConfigError } from '@tvs/client/contract';
import {
  type ClientDocument,
  type GrantDocument,
  parseServiceConfig,
  type ServiceConfig,
  type ServiceConfigDocument,
} from '@tvs/core/config/service-config';
import { ArnFormat, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * The JSON shapes of the service configuration document (docs/contract.md, "Configuration"): plain interfaces,
 * what a user writes as the construct's `config`. It is validated at synth by the same parser the
 * function runs at cold start, and shipped inside the function bundle as `tvs-config.json`.
 */
export type { ClientDocument, GrantDocument, ServiceConfigDocument };

/**
 * Validates a configuration document with the function's own parser and returns the parsed
 * {@link ServiceConfig}: its `document` is what the bundle ships, its clients what the function may read.
 *
 * @throws Error whose message lists every problem as `path: message` when the document is invalid.
 */
export function validateServiceConfig(document: unknown): ServiceConfig {
  try {
    return parseServiceConfig(document);
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new Error(
        `The service configuration given to TokenVendingService is invalid:\n  - ${error.problems.join('\n  - ')}`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** Secrets Manager appends a hyphen and six characters to a secret's name to form its ARN. */
const SECRET_ARN_SUFFIX = /-[A-Za-z0-9]{6}$/;

/**
 * The IAM resource for one `secretId` of the configuration.
 *
 * A complete ARN is used as it is; a partial ARN (no random suffix) gets `-??????`. A name becomes
 * `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-??????`: `?` matches exactly one
 * character, so the statement covers that one secret and not `<name>-other`, which `*` would.
 */
export function secretResourceArn(scope: IConstruct, secretId: string): string {
  if (secretId.startsWith('arn:')) {
    const resourceName = secretId.split(':').slice(6).join(':');
    return SECRET_ARN_SUFFIX.test(resourceName) ? secretId : `${secretId}-??????`;
  }
  return Stack.of(scope).formatArn({
    service: 'secretsmanager',
    resource: 'secret',
    resourceName: `${secretId}-??????`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}
