/**
 * Secrets Manager's rotation contract for configuration-client secrets (docs/contract.md "Central credential
 * rotation"). Secrets Manager starts a rotation by staging a new, empty version `AWSPENDING` under a
 * `ClientRequestToken`, then calls four steps with `{SecretId, ClientRequestToken, Step}`:
 *
 * - `createSecret`: obtain a token for exactly `*:config/clients/<client_id>` from the `via` client
 *   (through the vending core, as a caller with its own grant), reset the secret in Identity Cloud — it
 *   takes effect at once — and store the answer as `AWSPENDING` under the token, retrying the write (a
 *   secret reset and not stored is lost). A retried step that finds its `AWSPENDING` value does nothing:
 *   never two resets for one rotation.
 * - `setSecret`: nothing; the reset already set the secret in Identity Cloud.
 * - `testSecret`: mint a token with the pending secret.
 * - `finishSecret`: move `AWSCURRENT` to the new version and drop `AWSPENDING`; nothing when done already.
 *
 * Between the reset and `finishSecret` the pending version is the live secret; the vend path tries it
 * when the current one is refused (`minter.ts`). Every step is bounded by a deadline and logged as one
 * audit line by the handler; no secret is ever logged.
 */
import { describeError, RotationError, UpstreamRejectedError } from '../../src/shared/errors';
import { parseScopes } from '../../src/shared/scopes';
import { type Clock, sleep } from '../../src/shared/time';
import { type ConfiguredClient, resetScope, type ServiceConfig } from '../vend-token/config';
import { parseClientCredentials } from '../vend-token/credentials';
import type { ClientCredentials, IdentityCloudClient } from '../vend-token/identity-cloud';

/** The steps of Secrets Manager's rotation contract. */
export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** The event Secrets Manager invokes a rotation function with. */
export interface RotationEvent {
  readonly SecretId: string;
  readonly ClientRequestToken: string;
  readonly Step: RotationStep;
}

/** What a secret's metadata says (DescribeSecret). */
export interface SecretMetadata {
  readonly arn: string;
  readonly name: string;
  readonly rotationEnabled: boolean;
  /** Version id → its staging labels. */
  readonly stages: Readonly<Record<string, readonly string[]>>;
}

/** The secret's versions: Secrets Manager in AWS (and moto), a file for `tvs rotate` locally. */
export interface SecretVersions {
  describe(secretId: string): Promise<SecretMetadata>;
  /** The value of the version `versionId` (or staged `stage`), or undefined when it has none. */
  value(
    secretId: string,
    select: { versionId?: string; stage: 'AWSCURRENT' | 'AWSPENDING' },
  ): Promise<string | undefined>;
  /** Store `secretString` as version `versionId`, staged `AWSPENDING`. */
  putPending(secretId: string, versionId: string, secretString: string): Promise<void>;
  /** Move `AWSCURRENT` from version `from` to version `to`. */
  moveCurrent(secretId: string, to: string, from: string): Promise<void>;
  /** Remove `AWSPENDING` from version `versionId`. */
  removePending(secretId: string, versionId: string): Promise<void>;
}

/** How a step ended. */
export type StepOutcome = 'done' | 'already-done' | 'nothing-to-do';

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
   * A token of `via` for exactly `scope`, through the vending core as a caller with the rotation
   * function's grant (cached like any token). Throws the core's errors.
   */
  readonly resetToken: (via: ConfiguredClient, scope: string, deadline: number) => Promise<string>;
  readonly identityCloud: Pick<IdentityCloudClient, 'resetSecret' | 'requestToken'>;
  /** How long one step may take, ms (well under the function's timeout). @default 20_000 */
  readonly stepDeadlineMs?: number;
  /** Pauses before each retry of storing a reset secret, ms. @default 200 ms doubling, 6 retries */
  readonly storeRetryPausesMs?: readonly number[];
  readonly now?: Clock;
  readonly sleep?: (ms: number) => Promise<void>;
}

const DEFAULT_STORE_RETRY_PAUSES_MS = [200, 400, 800, 1_600, 3_200, 3_200];

/** Runs the steps of rotations; see the module comment. */
export class SecretRotator {
  private readonly config: ServiceConfig;
  private readonly versions: SecretVersions;
  private readonly resetToken: SecretRotatorOptions['resetToken'];
  private readonly identityCloud: SecretRotatorOptions['identityCloud'];
  private readonly stepDeadlineMs: number;
  private readonly storeRetryPausesMs: readonly number[];
  private readonly now: Clock;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: SecretRotatorOptions) {
    this.config = options.config;
    this.versions = options.versions;
    this.resetToken = options.resetToken;
    this.identityCloud = options.identityCloud;
    this.stepDeadlineMs = options.stepDeadlineMs ?? 20_000;
    this.storeRetryPausesMs = options.storeRetryPausesMs ?? DEFAULT_STORE_RETRY_PAUSES_MS;
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
      ...(client.rotation ? { via: client.rotation.via } : {}),
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
    switch (event.Step) {
      case 'createSecret':
        return record(await this.createSecret(event, client, deadline));
      case 'setSecret':
        return record('nothing-to-do');
      case 'testSecret':
        await this.testSecret(event, client, deadline);
        return record('done');
      case 'finishSecret':
        await this.finishSecret(event, metadata);
        return record('done');
    }
  }

  /** The configured client whose `secretId` names this secret (by name, ARN, or ARN without its suffix). */
  private clientOf(metadata: SecretMetadata): ConfiguredClient {
    const withoutSuffix = metadata.arn.replace(/-[A-Za-z0-9]{6}$/, '');
    const client = this.config.clients.find((candidate) =>
      [metadata.name, metadata.arn, withoutSuffix].includes(candidate.secretId),
    );
    if (client === undefined)
      throw new RotationError(`secret ${metadata.arn} is not the secret of a configured client`);
    if (client.rotation === undefined) {
      throw new RotationError(`client ${client.name} has no rotation in the configuration`);
    }
    return client;
  }

  private async createSecret(
    event: RotationEvent,
    client: ConfiguredClient,
    deadline: number,
  ): Promise<StepOutcome> {
    const pending = await this.versions.value(event.SecretId, {
      versionId: event.ClientRequestToken,
      stage: 'AWSPENDING',
    });
    if (pending !== undefined) return 'already-done';
    const current = parseClientCredentials(
      event.SecretId,
      (await this.versions.value(event.SecretId, { stage: 'AWSCURRENT' })) ?? '',
    );
    const via = this.config.client(client.rotation?.via ?? '');
    if (via === undefined)
      throw new RotationError(`client ${client.name}: its rotation.via is not a configured client`);
    const scope = resetScope(current.clientId);
    try {
      parseScopes(scope);
    } catch {
      throw new RotationError(
        `client ${client.name}: its client_id cannot be named in a scope, so its secret cannot be reset`,
      );
    }
    let accessToken: string;
    try {
      accessToken = await this.resetToken(via, scope, deadline);
    } catch (error) {
      throw new RotationError(
        `client ${via.name} could not give a token for ${scope} to reset the secret of client ${client.name}: ${describeError(error)}`,
        { cause: error },
      );
    }
    const secret = await this.identityCloud.resetSecret(
      client.tokenEndpoint,
      current.clientId,
      accessToken,
      deadline,
    );
    // From here the old secret is dead and the new one exists only in this process: store it, retrying.
    await this.storePending(event, JSON.stringify({ client_id: current.clientId, client_secret: secret }));
    return 'done';
  }

  private async storePending(event: RotationEvent, secretString: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.versions.putPending(event.SecretId, event.ClientRequestToken, secretString);
        return;
      } catch (error) {
        const pause = this.storeRetryPausesMs[attempt];
        if (pause === undefined) {
          throw new RotationError(
            `the secret of ${event.SecretId} was reset but the new one could not be stored (${describeError(error)}); ` +
              'it is lost: the next rotation resets it again through its via client',
            { cause: error },
          );
        }
        await this.sleep(pause);
      }
    }
  }

  private async testSecret(event: RotationEvent, client: ConfiguredClient, deadline: number): Promise<void> {
    const pendingString = await this.versions.value(event.SecretId, {
      versionId: event.ClientRequestToken,
      stage: 'AWSPENDING',
    });
    if (pendingString === undefined)
      throw new RotationError(
        `version ${event.ClientRequestToken} of ${event.SecretId} has no value to test`,
      );
    const pending: ClientCredentials = parseClientCredentials(event.SecretId, pendingString);
    const scope = client.allowedScopes[0]?.text ?? '';
    try {
      // The token itself is dropped: the test is that Identity Cloud takes the new secret.
      await this.identityCloud.requestToken(client.tokenEndpoint, pending, scope, deadline);
    } catch (error) {
      const refused = error instanceof UpstreamRejectedError && error.reason === 'invalid_client';
      throw new RotationError(
        refused
          ? `Identity Cloud refuses the pending secret of client ${client.name}; the rotation stops before finishSecret`
          : `the pending secret of client ${client.name} could not be tested: ${describeError(error)}`,
        { cause: error },
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
