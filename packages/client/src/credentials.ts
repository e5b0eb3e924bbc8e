/**
 * The credentials a client signs with when it is given none. The AWS SDK's default credential chain
 * (`@aws-sdk/credential-provider-node`, an optional peer dependency: every project on the AWS SDK v3 has
 * it) when it is installed; without it, the access keys in the environment; else a `no_credentials`
 * {@link TokenServiceError} that says how to provide some.
 */
import { TokenServiceError } from './contract/errors.js';
import { importIfInstalled } from './optional-import.js';
import type { AwsCredentials } from './signed-request.js';

/** The package of the AWS SDK's default credential chain: profiles, SSO, container and instance roles. */
export const CREDENTIAL_CHAIN_PACKAGE = '@aws-sdk/credential-provider-node';

/** What this client uses of {@link CREDENTIAL_CHAIN_PACKAGE}: its default chain. */
export interface CredentialChainModule {
  readonly defaultProvider: () => () => Promise<AwsCredentials>;
}

/** Loads {@link CREDENTIAL_CHAIN_PACKAGE}; resolves to undefined when it is not installed. */
export type CredentialChainLoader = () => Promise<CredentialChainModule | undefined>;

/** Options of {@link defaultCredentials}; both are for tests. */
export interface DefaultCredentialsOptions {
  /** @default {@link loadCredentialChain} */
  readonly loadChain?: CredentialChainLoader;
  /** Where the access keys are read from without the chain. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Import {@link CREDENTIAL_CHAIN_PACKAGE} where it is installed. A package that is present but fails to
 * load is an error, not absence.
 */
export async function loadCredentialChain(): Promise<CredentialChainModule | undefined> {
  const module = await importIfInstalled<
    Partial<CredentialChainModule> & { default?: CredentialChainModule }
  >(CREDENTIAL_CHAIN_PACKAGE, CREDENTIAL_CHAIN_PACKAGE);
  if (module === undefined) return undefined;
  // A CommonJS package: its exports are named exports, and also the default export's properties.
  return typeof module.defaultProvider === 'function' ? (module as CredentialChainModule) : module.default;
}

/**
 * The access keys in the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, and
 * `AWS_SESSION_TOKEN` for session credentials), or undefined when either key is missing.
 */
export function environmentCredentials(env: NodeJS.ProcessEnv): AwsCredentials | undefined {
  const {
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_SESSION_TOKEN: sessionToken,
  } = env;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** No credentials anywhere this client looks: the error says where to put some. */
function noCredentials(): TokenServiceError {
  return new TokenServiceError('TVS_ERR_NO_CREDENTIALS', {
    status: 0,
    error: 'no_credentials',
    error_description:
      'no AWS credentials found to sign the request with: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ' +
      '(and AWS_SESSION_TOKEN for session credentials), or install ' +
      `${CREDENTIAL_CHAIN_PACKAGE} for the default credential chain (profiles, SSO, container and ` +
      'instance roles)',
  });
}

/**
 * The credentials of a client given none: the AWS SDK's default chain when
 * {@link CREDENTIAL_CHAIN_PACKAGE} is installed (loaded on first use; it finds and refreshes them);
 * without it, {@link environmentCredentials}, read at each request; else a `no_credentials`
 * {@link TokenServiceError} (status 0).
 */
export function defaultCredentials(options: DefaultCredentialsOptions = {}): () => Promise<AwsCredentials> {
  const loadChain = options.loadChain ?? loadCredentialChain;
  let chain: Promise<(() => Promise<AwsCredentials>) | undefined> | undefined;
  return async () => {
    chain ??= loadChain().then((module) => module?.defaultProvider());
    const provider = await chain;
    if (provider) return provider();
    const fromEnvironment = environmentCredentials(options.env ?? process.env);
    if (fromEnvironment) return fromEnvironment;
    throw noCredentials();
  };
}
