/**
 * Mints one token: the client's credentials from Secrets Manager, the client-credentials request to
 * Identity Cloud, the answer's checks (in `identity-cloud.ts`), and the check that the granted scope is
 * exactly the requested one. Knows nothing of caches, leases or callers.
 */
import {
  type Clock,
  coversAll,
  fingerprintOf,
  InvalidScopeError,
  parseScopes,
  type Scope,
  sleep,
  UpstreamRejectedError,
  UpstreamUnavailableError,
} from '@tvs/client/contract';
import type { CachedToken } from '../record/cache-record.js';
import { type CredentialsCache, sameCredentials } from './credentials.js';
import type { ClientCredentials, IdentityCloudClient, TokenResponse } from './identity-cloud.js';

/** Pauses before each read of a rotation's pending secret, ms. */
const PENDING_SECRET_PAUSES_MS = [0, 100, 200, 400, 800];

/** What to mint. */
export interface MintRequest {
  /** The configured client's name (for reports). */
  readonly client: string;
  readonly tokenEndpoint: string;
  readonly secretId: string;
  /** The requested scopes, parsed, and their canonical form (sent upstream and stored with the token). */
  readonly scopes: readonly Scope[];
  readonly canonical: string;
  /** Epoch ms: every step (secret read, upstream attempts, the retry after a rotation) ends by then. */
  readonly deadline: number;
  /** Attempts of each upstream request, when fewer than the token client's policy (a probe makes one). */
  readonly attempts?: number;
}

/** Outcomes the minter reports; it neither logs nor counts by itself. */
export interface MinterEvents {
  upstreamCall?(
    outcome: 'ok' | 'rejected' | 'unavailable',
    detail: { client: string; reason?: string },
  ): void;
  /** Identity Cloud refused the credentials; the secret is read again (a rotation looks like this). */
  secretReread?(client: string): void;
  /** The current secret was refused and unchanged; the pending version of a rotation worked and is used. */
  pendingSecretUsed?(client: string): void;
}

/** Dependencies of a {@link Minter}. */
export interface MinterOptions {
  readonly credentials: CredentialsCache;
  readonly identityCloud: Pick<IdentityCloudClient, 'requestToken'>;
  readonly events?: MinterEvents;
  readonly now?: Clock;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Mints tokens; see the module comment. */
export class Minter {
  private readonly credentials: CredentialsCache;
  private readonly identityCloud: Pick<IdentityCloudClient, 'requestToken'>;
  private readonly events: MinterEvents;
  private readonly now: Clock;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: MinterOptions) {
    this.credentials = options.credentials;
    this.identityCloud = options.identityCloud;
    this.events = options.events ?? {};
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? sleep;
  }

  /**
   * A new token for `request`. Throws `UpstreamRejectedError` (502) when Identity Cloud refuses or grants
   * another scope, `UpstreamUnavailableError` (503) when it cannot be reached in time, and
   * `CredentialsError` when the secret cannot be read.
   */
  async mint(request: MintRequest): Promise<CachedToken> {
    const issuedAt = Math.floor(this.now() / 1000);
    let answer: TokenResponse;
    try {
      answer = await this.requestToken(request);
    } catch (error) {
      if (error instanceof UpstreamRejectedError) this.report('rejected', request, error.reason);
      // Secrets Manager out is not an upstream call: Identity Cloud was not asked.
      if (error instanceof UpstreamUnavailableError && error.reason !== 'dependency') {
        this.report('unavailable', request, error.reason);
      }
      throw error;
    }
    this.checkGrantedScope(request, answer.grantedScope);
    this.report('ok', request);
    return {
      accessToken: answer.accessToken,
      scope: request.canonical,
      issuedAt,
      expiresAt: issuedAt + answer.expiresIn,
      fingerprint: fingerprintOf(answer.accessToken),
    };
  }

  /**
   * Ask Identity Cloud. On `invalid_client` (what a rotated secret looks like) the secret is read again,
   * bypassing the cache, and the request made once more. If the current version is unchanged, a rotation
   * is between its reset (which takes effect at once) and `finishSecret`: its pending version is the live
   * secret, so that is tried — waited for briefly, since it is written right after the reset — and kept.
   */
  private async requestToken(request: MintRequest): Promise<TokenResponse> {
    const first = this.credentials.get(request.secretId);
    let refused: UpstreamRejectedError;
    try {
      return await this.send(request, first);
    } catch (error) {
      if (!(error instanceof UpstreamRejectedError && error.reason === 'invalid_client')) throw error;
      refused = error;
    }
    this.events.secretReread?.(request.client);
    this.credentials.invalidate(request.secretId, first);
    const current = this.credentials.get(request.secretId);
    if (!sameCredentials(await this.beforeDeadline(current, request.deadline), await first)) {
      return this.send(request, current);
    }
    const pending = await this.pendingCredentials(request, await first);
    if (pending === undefined) throw refused;
    const answer = await this.send(request, Promise.resolve(pending));
    this.credentials.adopt(request.secretId, pending);
    this.events.pendingSecretUsed?.(request.client);
    return answer;
  }

  /**
   * The pending version of the secret when it differs from `refused`, read again after 100, 200, 400 and
   * 800 ms while it is absent (a reset's answer is stored moments after the reset), within the deadline
   * less a second to use it; undefined when there is none, at once when the source has no stages.
   */
  private async pendingCredentials(
    request: MintRequest,
    refused: ClientCredentials,
  ): Promise<ClientCredentials | undefined> {
    if (!this.credentials.hasPendingVersions) return undefined;
    for (const pause of PENDING_SECRET_PAUSES_MS) {
      if (pause > 0) {
        if (this.now() + pause > request.deadline - 1_000) return undefined;
        await this.sleep(pause);
      }
      const pending = await this.beforeDeadline(this.credentials.pending(request.secretId), request.deadline);
      if (pending !== undefined && !sameCredentials(pending, refused)) return pending;
    }
    return undefined;
  }

  private async send(request: MintRequest, credentials: Promise<ClientCredentials>): Promise<TokenResponse> {
    return this.identityCloud.requestToken(
      request.tokenEndpoint,
      await this.beforeDeadline(credentials, request.deadline),
      request.canonical,
      request.deadline,
      request.attempts,
    );
  }

  /** `work` (a read of the secret), or a 503 when the deadline passes first. */
  private async beforeDeadline<T>(work: Promise<T>, deadline: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new UpstreamUnavailableError(
              'the secret could not be read before the request deadline',
              'dependency',
              1,
            ),
          ),
        Math.max(0, deadline - this.now()),
      );
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The token must carry exactly the requested scope: less fails the caller, more is more power than the
   * caller was granted.
   */
  private checkGrantedScope(request: MintRequest, grantedScope: string): void {
    let granted: Scope[];
    try {
      granted = parseScopes(grantedScope);
    } catch (error) {
      if (!(error instanceof InvalidScopeError)) throw error;
      this.report('rejected', request, 'invalid_response');
      throw new UpstreamRejectedError(
        'Identity Cloud granted a scope that does not parse',
        'invalid_response',
      );
    }
    if (!coversAll(granted, request.scopes) || !coversAll(request.scopes, granted)) {
      this.report('rejected', request, 'insufficient_scope');
      throw new UpstreamRejectedError(
        'Identity Cloud granted a different scope than requested',
        'insufficient_scope',
      );
    }
  }

  private report(outcome: 'ok' | 'rejected' | 'unavailable', request: MintRequest, reason?: string): void {
    this.events.upstreamCall?.(outcome, { client: request.client, ...(reason ? { reason } : {}) });
  }
}
