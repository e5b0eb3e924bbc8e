/**
 * The Token Vending Service client for services: SigV4-signed calls; tokens kept in memory and refreshed
 * in the background once inside their refresh margin (the service's rule, over the token's whole
 * lifetime), so a caller holding a token never waits on the network; never a token within a safety
 * margin of its expiry; one request in flight per (client, scope); and a 503 surfaced at once with its
 * `Retry-After`.
 *
 * ```ts
 * const tokens = createTokenClient({ endpoint: process.env.TVS_ENDPOINT! });
 * const { accessToken } = await tokens.getToken({ client: 'webhooks-us', scope: '.:webhooks/**' });
 *
 * // Or let the client put the token on each request, and replace it once when the API refuses it:
 * const webhooks = tokens.authorizedFetch({ client: 'webhooks-us', scope: '.:webhooks/**' });
 * const answer = await webhooks(`${webhooksApi}/subscriptions`);
 * ```
 */

export { type SigningService, signingServiceFor } from './contract/endpoint-kinds.js';
export {
  ERROR_CODES,
  type ErrorCode,
  type ErrorCodeInfo,
  isErrorCode,
  TokenServiceError,
} from './contract/errors.js';
export {
  CREDENTIAL_CHAIN_PACKAGE,
  type CredentialChainLoader,
  type CredentialChainModule,
  type DefaultCredentialsOptions,
  defaultCredentials,
  environmentCredentials,
  loadCredentialChain,
} from './credentials.js';
export {
  type AwsCredentials,
  type ClientsAnswer,
  type CredentialsSource,
  processClientsAnswer,
  processTokenAnswer,
  type RetryPolicy,
  retryUnavailable,
  type ServiceAnswer,
  type ServiceRequest,
  type ServiceTarget,
  sendSigned,
  type TokenAnswer,
  unreachable,
} from './signed-request.js';
export {
  type AuthorizedFetch,
  canonicalScope,
  createTokenClient,
  defaultRegion,
  type TokenClient,
  type TokenClientOptions,
  type TokenRequestOptions,
  tokenTimes,
  type VendedToken,
} from './token-client.js';
