import { ArnFormat, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import {
  type ClientConfig,
  type Grant,
  parseServiceConfig,
  type ServiceConfig,
} from '../lambdas/vend-token/config';
import { ConfigError } from '../src/shared/errors';

/** One configuration client, as written in the service configuration document (the function's own type). */
export type ClientDocument = ClientConfig;

/** One grant: which IAM principal may ask for which scopes of which client. */
export type GrantDocument = Grant;

/**
 * The service configuration document (DESIGN.md, "Configuration"). It is validated at synth by the same
 * parser the function runs at cold start, and shipped inside the function bundle as `tvs-config.json`.
 */
export type ServiceConfigDocument = ServiceConfig;

/**
 * Validates a configuration document with the function's own parser and returns it unchanged.
 *
 * @throws Error whose message lists every problem as `path: message` when the document is invalid.
 */
export function validateServiceConfig(document: unknown): ServiceConfigDocument {
  try {
    parseServiceConfig(document);
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new Error(
        `The service configuration given to TokenVendingService is invalid:\n  - ${error.problems.join('\n  - ')}`,
        { cause: error },
      );
    }
    throw error;
  }
  return document as ServiceConfigDocument;
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
