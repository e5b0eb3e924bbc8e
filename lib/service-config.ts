import { ArnFormat, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { parseServiceConfig } from '../lambdas/vend-token/config';
import { ConfigError } from '../lambdas/vend-token/errors';

/**
 * One configuration client of Akamai Identity Cloud, as written in the service configuration document.
 */
export interface ClientDocument {
  /** `https://v1.api.<region>.janrain.com/<customer-id>/login/token`. */
  readonly tokenEndpoint: string;
  /**
   * The Secrets Manager secret holding `{"client_id","client_secret"}`: a secret name (`tvs/webhooks-us`)
   * or a complete secret ARN (a secret in another account must be named by ARN).
   */
  readonly secretId: string;
  /** The scopes the client's token policy allows; every grant must stay within them. */
  readonly allowedScopes: readonly string[];
}

/** One grant: which IAM principal may ask for which scopes of which client. */
export interface GrantDocument {
  /** An IAM role or user ARN; `*` matches within the role name only. */
  readonly principal: string;
  /** The name of a client in {@link ServiceConfigDocument.clients}. */
  readonly client: string;
  /** The scopes this principal may request, each within the client's `allowedScopes`. */
  readonly scopes: readonly string[];
}

/**
 * The service configuration document (DESIGN.md, "Configuration"). It is validated at synth by the same
 * parser the function runs at cold start, and shipped inside the function bundle as `tvs-config.json`.
 */
export interface ServiceConfigDocument {
  /** Configuration clients by name. */
  readonly clients: Readonly<Record<string, ClientDocument>>;
  /** Who may ask for what. */
  readonly grants: readonly GrantDocument[];
}

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
