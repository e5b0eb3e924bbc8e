/**
 * Secrets Manager's rotation contract for configuration-client secrets. Secrets Manager starts a rotation
 * by staging a new, empty version `AWSPENDING` under a `ClientRequestToken`, then calls four steps with
 * `{SecretId, ClientRequestToken, Step}`. A reset in Identity Cloud is live at once and kills the old
 * secret at once, so the steps are built never to lose, misdirect or strand a secret:
 *
 * - Every step first refuses a secret whose `client_id` is not the client's configured `clientId`,
 *   before anything is sent: a secret edited to name another client (the `via` client, say) never gets
 *   that client reset. The reset token is asked for exactly `*:config/clients/<clientId>`.
 * - `createSecret`, one container at a time per secret ({@link ResetLease}): (1) an `AWSPENDING` value of
 *   this token that Identity Cloud takes: done; (2) read the live secret back (`GET …/secret`); if it
 *   differs from `AWSCURRENT`, store it as `AWSPENDING` — a reset whose answer was lost, that landed late,
 *   or was made in the Console is adopted, with no new reset; (3) otherwise reset **once** (never again
 *   in this attempt once it may have reached Identity Cloud), reading back when its outcome is unknown;
 *   (4) store `AWSPENDING`, retrying. Any failure leaves the live secret readable, so the next attempt's
 *   (2) repairs it without a person, as long as `via` can mint.
 * - `setSecret`: nothing; the reset already set the secret in Identity Cloud.
 * - `testSecret`: any 200 from the token endpoint passes (the granted scope does not matter here); only
 *   `invalid_client` fails it; 5xx, 429 and network errors are retried within the step.
 * - `finishSecret`: move `AWSCURRENT` to the new version and drop `AWSPENDING`; nothing when done already.
 *
 * Between the reset and `finishSecret` the pending version is the live secret; the vend path tries it
 * when the current one is refused (`minter.ts`). Every step is bounded by a deadline and logged as one
 * audit line by the handler; no secret is ever logged.
 */
import { randomUUID } from 'node:crypto';
import {
  type Clock,
  describeError,
  ROTATION_KEY_PREFIX,
  RotationError,
  sleep,
  UpstreamRejectedError,
  UpstreamUnavailableError,
} from '@tvs/client/contract';
import { type ConfiguredClient, resetScope, type ServiceConfig } from '../config/service-config.js';
import type { ResetLease } from '../protocol/reset-lease.js';
import { parseClientCredentials } from '../upstream/credentials.js';
import type { ClientCredentials, IdentityCloudClient } from '../upstream/identity-cloud.js';
import type { SecretMetadata, SecretVersions } from '../upstream/secret-versions.js';

/** The steps of Secrets Manager's rotation contract. */
export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** The event Secrets Manager invokes a rotation function with. */
export interface RotationEvent {
  readonly SecretId: string;
  readonly ClientRequestToken: string;
  readonly Step: RotationStep;
}

/**
 * How a step ended. `adopted`: `createSecret` found the live secret already changed (a lost, late or
 * Console reset) and stored it without resetting.
 */
export type StepOutcome = 'done' | 'adopted' | 'already-done' | 'nothing-to-do';

/** One step's audit record: everything but secrets. */
export interface StepRecord {
  readonly step: RotationStep;
  readonly secretArn: string;
  readonly client: string;
  readonly version: string;
  readonly outcome: StepOutcome;
  readonly via?: string;
}

/** Dependencies of a {@link SecretRotator}. */
export interface SecretRotatorOptions {
  readonly config: ServiceConfig;
  readonly versions: SecretVersions;
  /**
   * A token of `via` for exactly `scope`, valid at least `minTtlSeconds`, through the vending core as a
   * caller with the rotation function's grant (cached like any token). Throws the core's errors.
   */
  readonly resetToken: (
    via: ConfiguredClient,
    scope: string,
    minTtlSeconds: number,
    deadline: number,
  ) => Promise<string>;
  readonly identityCloud: Pick<IdentityCloudClient, 'resetSecret' | 'readSecret' | 'requestToken'>;
  /** One `createSecret` per secret at a time across containers. */
  readonly resetLease: ResetLease;
  /** How long one step may take, ms (well under the function's timeout). @default 20_000 */
  readonly stepDeadlineMs?: number;
  /** Pauses before each retry of storing a secret, ms. @default 200 ms doubling, 6 retries */
  readonly storeRetryPausesMs?: readonly number[];
  /** Pause between tries of a secret Identity Cloud could not answer for (5xx, 429, network), ms. @default 1_000 */
  readonly testRetryPauseMs?: number;
  readonly now?: Clock;
  readonly sleep?: (ms: number) => Promise<void>;
}

const DEFAULT_STORE_RETRY_PAUSES_MS = [200, 400, 800, 1_600, 3_200, 3_200];

/**
 * The `min_ttl` of a reset token of a client that rotates itself: long enough to read its secret back
 * for 15 minutes after a failed store, when its old secret is dead and no new token can be minted with it.
 */
export const SELF_ROTATION_MIN_TTL_SECONDS = 900;
/** The `min_ttl` of a reset token from another client: enough for one step. */
const RESET_TOKEN_MIN_TTL_SECONDS = 60;
/** Pause between tries to take a secret's reset lease held by another container, ms. */
const LEASE_POLL_MS = 250;

/** The name of a secret's reset lease in the token table: apart from every token key. */
export function resetLeaseName(client: string): string {
  return `${ROTATION_KEY_PREFIX}${client}#reset`;
}

/** Whether the two secret strings name the same client secret. */
function sameSecret(left: ClientCredentials, right: string): boolean {
  return left.clientSecret === right;
}

/** Runs the steps of rotations; see the module comment. */
export class SecretRotator {
  private readonly config: ServiceConfig;
  private readonly versions: SecretVersions;
  private readonly resetToken: SecretRotatorOptions['resetToken'];
  private readonly identityCloud: SecretRotatorOptions['identityCloud'];
  private readonly resetLease: ResetLease;
  private readonly stepDeadlineMs: number;
  private readonly storeRetryPausesMs: readonly number[];
  private readonly testRetryPauseMs: number;
  private readonly now: Clock;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: SecretRotatorOptions) {
    this.config = options.config;
    this.versions = options.versions;
    this.resetToken = options.resetToken;
    this.identityCloud = options.identityCloud;
    this.resetLease = options.resetLease;
    this.stepDeadlineMs = options.stepDeadlineMs ?? 20_000;
    this.storeRetryPausesMs = options.storeRetryPausesMs ?? DEFAULT_STORE_RETRY_PAUSES_MS;
    this.testRetryPauseMs = options.testRetryPauseMs ?? 1_000;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? sleep;
  }

  /** Run one step of a rotation. Throws {@link RotationError} (or the failure of a dependency) when it cannot. */
  async step(event: RotationEvent): Promise<StepRecord> {
    const deadline = this.now() + this.stepDeadlineMs;
    const metadata = await this.versions.describe(event.SecretId);
    const client = this.clientOf(metadata);
    const record = (outcome: StepOutcome): StepRecord => ({
      step: event.Step,
      secretArn: metadata.arn,
      client: client.name,
      version: event.ClientRequestToken,
      outcome,
      via: client.rotation.via,
    });
    if (!metadata.rotationEnabled)
      throw new RotationError(`rotation is not enabled for secret ${metadata.arn}`);
    const stages = metadata.stages[event.ClientRequestToken];
    if (stages === undefined) {
      throw new RotationError(
        `secret ${metadata.arn} has no version ${event.ClientRequestToken} to rotate to`,
      );
    }
    if (stages.includes('AWSCURRENT')) {
      // Done already (a retried finishSecret, or a late step): only tidy the pending stage.
      if (event.Step === 'finishSecret' && stages.includes('AWSPENDING')) {
        await this.versions.removePending(event.SecretId, event.ClientRequestToken);
      }
      return record('already-done');
    }
    if (!stages.includes('AWSPENDING')) {
      throw new RotationError(
        `version ${event.ClientRequestToken} of secret ${metadata.arn} is not staged AWSPENDING`,
      );
    }
    // Before anything is sent: the current secret must be the configured client's.
    const current = await this.credentials(event.SecretId, client, { stage: 'AWSCURRENT' });
    if (current === undefined) throw new RotationError(`secret ${metadata.arn} has no AWSCURRENT value`);
    switch (event.Step) {
      case 'createSecret':
        return record(await this.createSecret(event, client, current, deadline));
      case 'setSecret':
        return record('nothing-to-do');
      case 'testSecret':
        await this.testSecret(event, client, deadline);
        return record('done');
      case 'finishSecret':
        await this.pendingOf(event, client);
        await this.finishSecret(event, metadata);
        return record('done');
    }
  }

  /** The configured client whose `secretId` names this secret (by name, ARN, or ARN without its suffix). */
  private clientOf(metadata: SecretMetadata): RotatedClient {
    const withoutSuffix = metadata.arn.replace(/-[A-Za-z0-9]{6}$/, '');
    const client = this.config.clients.find((candidate) =>
      [metadata.name, metadata.arn, withoutSuffix].includes(candidate.secretId),
    );
    if (client === undefined)
      throw new RotationError(`secret ${metadata.arn} is not the secret of a configured client`);
    if (client.rotation === undefined) {
      throw new RotationError(`client ${client.name} has no rotation in the configuration`);
    }
    return client as RotatedClient;
  }

  /**
   * The credentials of a version, or undefined when it has no value. Refuses (a {@link RotationError})
   * a secret whose `client_id` is not the configured `clientId`: nothing is ever sent for it.
   */
  private async credentials(
    secretId: string,
    client: RotatedClient,
    select: { versionId?: string; stage: 'AWSCURRENT' | 'AWSPENDING' },
  ): Promise<ClientCredentials | undefined> {
    const value = await this.versions.value(secretId, select);
    if (value === undefined) return undefined;
    const credentials = parseClientCredentials(secretId, value);
    if (credentials.clientId !== client.rotation.clientId) {
      throw new RotationError(
        `the ${select.stage} secret of client ${client.name} names another client_id than its configured clientId; ` +
          'refused before anything was sent (check who wrote the secret)',
      );
    }
    return credentials;
  }

  private async pendingOf(event: RotationEvent, client: RotatedClient): Promise<ClientCredentials> {
    const pending = await this.credentials(event.SecretId, client, {
      versionId: event.ClientRequestToken,
      stage: 'AWSPENDING',
    });
    if (pending === undefined)
      throw new RotationError(
        `version ${event.ClientRequestToken} of ${event.SecretId} has no value to test`,
      );
    return pending;
  }

  private async createSecret(
    event: RotationEvent,
    client: RotatedClient,
    current: ClientCredentials,
    deadline: number,
  ): Promise<StepOutcome> {
    const holder = randomUUID();
    const lease = resetLeaseName(client.name);
    while (!(await this.resetLease.take(lease, holder, deadline + this.stepDeadlineMs))) {
      if (this.now() + LEASE_POLL_MS >= deadline) {
        throw new RotationError(
          `another container is running createSecret for client ${client.name}; this attempt stops, sending nothing`,
        );
      }
      await this.sleep(LEASE_POLL_MS);
    }
    try {
      return await this.createSecretHoldingLease(event, client, current, deadline);
    } finally {
      await this.resetLease.release(lease, holder).catch(() => {});
    }
  }

  private async createSecretHoldingLease(
    event: RotationEvent,
    client: RotatedClient,
    current: ClientCredentials,
    deadline: number,
  ): Promise<StepOutcome> {
    // (1) This token's pending value, if Identity Cloud takes it: stored already, nothing to do.
    const pending = await this.credentials(event.SecretId, client, {
      versionId: event.ClientRequestToken,
      stage: 'AWSPENDING',
    });
    if (pending !== undefined && (await this.accepted(client, pending, deadline))) return 'already-done';

    const clientId = client.rotation.clientId;
    const accessToken = await this.tokenToReset(client, deadline);
    // (2) The live secret: a reset whose answer was lost, that landed late, or made by hand, is adopted.
    const live = await this.readLive(client, accessToken, deadline, 'before resetting');
    if (!sameSecret(current, live)) {
      if (pending !== undefined) return this.repair(event, client, pending, live);
      await this.storePending(event, client, live);
      return 'adopted';
    }
    if (pending !== undefined) {
      // The current secret is live and this version holds a dead one, which cannot be replaced (versions
      // are immutable): free the pending stage so that the next rotation starts afresh.
      await this.versions.removePending(event.SecretId, event.ClientRequestToken);
      throw new RotationError(
        `version ${event.ClientRequestToken} of client ${client.name} holds a secret Identity Cloud refuses, while the current one is live; ` +
          'the pending stage was removed and nothing was reset: rotate again',
      );
    }
    // (3) Reset, once.
    const reset = await this.identityCloud.resetSecret(client.tokenEndpoint, clientId, accessToken, deadline);
    let secret: string;
    if (reset.outcome === 'reset') {
      secret = reset.secret;
    } else {
      secret = await this.readLive(
        client,
        accessToken,
        deadline,
        `after a reset of unknown outcome (${reset.failure.message})`,
      );
      if (sameSecret(current, secret)) {
        throw new RotationError(
          `the secret reset of client ${client.name} had an unknown outcome (${reset.failure.message}) and the live secret reads unchanged; ` +
            'no second reset was sent: the next attempt reads it back again',
          { cause: reset.failure },
        );
      }
    }
    // (4) From here the old secret is dead: store the new one, retrying.
    await this.storePending(event, client, secret);
    return 'done';
  }

  /** A token of `via` for exactly the reset (and read) of this client's secret. */
  private async tokenToReset(client: RotatedClient, deadline: number): Promise<string> {
    const via = this.config.client(client.rotation.via);
    if (via === undefined)
      throw new RotationError(`client ${client.name}: its rotation.via is not a configured client`);
    const scope = resetScope(client.rotation.clientId);
    const minTtl = via.name === client.name ? SELF_ROTATION_MIN_TTL_SECONDS : RESET_TOKEN_MIN_TTL_SECONDS;
    try {
      return await this.resetToken(via, scope, minTtl, deadline);
    } catch (error) {
      throw new RotationError(
        `client ${via.name} could not give a token for ${scope} to reset the secret of client ${client.name}: ${describeError(error)}`,
        { cause: error },
      );
    }
  }

  private async readLive(
    client: RotatedClient,
    accessToken: string,
    deadline: number,
    when: string,
  ): Promise<string> {
    try {
      return await this.identityCloud.readSecret(
        client.tokenEndpoint,
        client.rotation.clientId,
        accessToken,
        deadline,
      );
    } catch (error) {
      throw new RotationError(
        `the live secret of client ${client.name} could not be read back ${when}: ${describeError(error)}; nothing was stored, and the next attempt reads it back`,
        { cause: error },
      );
    }
  }

  /**
   * This token's pending version holds a dead secret and the live one differs from both it and the
   * current one (say, reset in the Console meanwhile). A version cannot be rewritten, so the live secret
   * becomes current at once in a new version — what every container needs — and this rotation ends.
   * Staged through `AWSPENDING` (which leaves this token's version) with the same calls as a rotation.
   */
  private async repair(
    event: RotationEvent,
    client: RotatedClient,
    pending: ClientCredentials,
    live: string,
  ): Promise<StepOutcome> {
    if (sameSecret(pending, live)) return 'already-done';
    const repairVersion = randomUUID();
    await this.store(event.SecretId, () =>
      this.versions.putPending(event.SecretId, repairVersion, secretString(client, live)),
    );
    const { stages } = await this.versions.describe(event.SecretId);
    const current = Object.entries(stages).find(([, labels]) => labels.includes('AWSCURRENT'))?.[0];
    if (current === undefined) throw new RotationError(`secret ${event.SecretId} has no AWSCURRENT version`);
    await this.versions.moveCurrent(event.SecretId, repairVersion, current);
    await this.versions.removePending(event.SecretId, repairVersion);
    throw new RotationError(
      `client ${client.name}: the pending secret of version ${event.ClientRequestToken} was dead and the live secret was another; ` +
        'the live secret is now current (no reset sent) and this rotation ends: rotate again for a new secret',
    );
  }

  private async storePending(event: RotationEvent, client: RotatedClient, secret: string): Promise<void> {
    await this.store(event.SecretId, () =>
      this.versions.putPending(event.SecretId, event.ClientRequestToken, secretString(client, secret)),
    );
  }

  private async store(secretId: string, write: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await write();
        return;
      } catch (error) {
        const pause = this.storeRetryPausesMs[attempt];
        if (pause === undefined) {
          throw new RotationError(
            `the live secret of ${secretId} could not be stored (${describeError(error)}); ` +
              'it is still live in Identity Cloud: the next attempt reads it back and stores it',
            { cause: error },
          );
        }
        await this.sleep(pause);
      }
    }
  }

  /**
   * Whether Identity Cloud takes `credentials`: any 200 of the token endpoint says yes (a 200 without the
   * asked scope too: the client's token policy decides scope, not its secret), `invalid_client` says no;
   * 5xx, 429 and network failures are tried again until the step's deadline, then thrown.
   */
  private async accepted(
    client: RotatedClient,
    credentials: ClientCredentials,
    deadline: number,
  ): Promise<boolean> {
    const scope = client.allowedScopes[0]?.text ?? '';
    for (;;) {
      try {
        // The token itself is dropped: the test is that Identity Cloud takes the secret.
        await this.identityCloud.requestToken(client.tokenEndpoint, credentials, scope, deadline);
        return true;
      } catch (error) {
        const verdict = this.verdictOf(client, error, deadline);
        if (verdict !== undefined) return verdict;
        await this.sleep(this.testRetryPauseMs);
      }
    }
  }

  /**
   * What a failed token request says of the secret under test: taken (`true`), refused (`false`), or
   * nothing yet (`undefined`: Identity Cloud is unavailable and there is time to ask again). Anything
   * else ends the test with a {@link RotationError}.
   */
  private verdictOf(client: RotatedClient, error: unknown, deadline: number): boolean | undefined {
    if (error instanceof UpstreamRejectedError) {
      if (error.reason === 'invalid_client') return false;
      // Both come only with a 200: the secret was taken.
      if (error.reason === 'insufficient_scope' || error.reason === 'invalid_response') return true;
      throw untestable(client, error);
    }
    if (!(error instanceof UpstreamUnavailableError) || this.now() + this.testRetryPauseMs >= deadline) {
      throw untestable(client, error);
    }
    return undefined;
  }

  private async testSecret(event: RotationEvent, client: RotatedClient, deadline: number): Promise<void> {
    const pending = await this.pendingOf(event, client);
    if (!(await this.accepted(client, pending, deadline))) {
      throw new RotationError(
        `Identity Cloud refuses the pending secret of client ${client.name}; the rotation stops before finishSecret ` +
          '(the next createSecret reads the live secret back)',
      );
    }
  }

  private async finishSecret(event: RotationEvent, metadata: SecretMetadata): Promise<void> {
    const current = Object.entries(metadata.stages).find(([, stages]) => stages.includes('AWSCURRENT'))?.[0];
    if (current === undefined) throw new RotationError(`secret ${metadata.arn} has no AWSCURRENT version`);
    await this.versions.moveCurrent(event.SecretId, event.ClientRequestToken, current);
    await this.versions.removePending(event.SecretId, event.ClientRequestToken);
  }
}

/** A configured client with a rotation. */
type RotatedClient = ConfiguredClient & { readonly rotation: NonNullable<ConfiguredClient['rotation']> };

/** The secret of `client` could not be tested, for `error`. */
function untestable(client: RotatedClient, error: unknown): RotationError {
  return new RotationError(
    `the secret of client ${client.name} could not be tested: ${describeError(error)}`,
    {
      cause: error,
    },
  );
}

/** The secret string of `client` with `secret`: always the configured client id. */
function secretString(client: RotatedClient, secret: string): string {
  return JSON.stringify({ client_id: client.rotation.clientId, client_secret: secret });
}

/** Whether `event` is a rotation event of Secrets Manager's contract. */
export function isRotationEvent(event: unknown): event is RotationEvent {
  const candidate = event as Partial<Record<string, unknown>> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.SecretId === 'string' &&
    candidate.SecretId !== '' &&
    typeof candidate.ClientRequestToken === 'string' &&
    /^[\w-]{32,64}$/.test(candidate.ClientRequestToken) &&
    (ROTATION_STEPS as readonly unknown[]).includes(candidate.Step)
  );
}
