/**
 * `tvs rotate --config FILE --client NAME`: rotate a configured client's secret now.
 *
 * - With a `local.secretsFile` (local runs, the demo): the rotation function's own steps run here against
 *   the secrets file — the same `SecretRotator`, its reset token from a vending core of its own (an
 *   in-memory store: nothing to share), Identity Cloud (or the simulator) at the configured endpoints.
 *   The new secret is written beside the file (`<file>.pending`) as soon as Identity Cloud gave it, and
 *   into the file when the rotation finishes; a running `tvs serve` reads it on its next `invalid_client`.
 *   A rotation stopped halfway is resumed by the next `tvs rotate`.
 * - Without one (AWS, runbooks): Secrets Manager is asked to rotate the secret now (`RotateSecret`), which
 *   runs the deployed rotation function; its log and the rotation alarm tell how it went. A rotation
 *   left unfinished is resumed with its own version.
 */
import { randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { LocalConfigError } from '@tvs/client/contract';
import { parseServiceConfig } from '@tvs/core/config/service-config';
import { ROTATION_STEPS, SecretRotator, type StepRecord } from '@tvs/core/flow/rotation';
import { VendingService } from '@tvs/core/flow/vending-service';
import { settingsFromEnv } from '@tvs/core/policy/settings';
import { RecordStoreResetLease } from '@tvs/core/protocol/reset-lease';
import { MemoryRecordStore } from '@tvs/core/stores/memory-store';
import { CredentialsCache } from '@tvs/core/upstream/credentials';
import { IdentityCloudClient } from '@tvs/core/upstream/identity-cloud';
import { Minter } from '@tvs/core/upstream/minter';
import type { SecretMetadata, SecretVersions } from '@tvs/core/upstream/secret-versions';
import { loadConfigFile, parseLocalSection } from './local-config.js';
import { parseSecretsFile, SecretsFileSource } from './secrets-file.js';

/** The caller the local rotation asks for reset tokens as (its grants come from the configuration). */
export const LOCAL_ROTATION_PRINCIPAL = 'arn:aws:iam::000000000000:role/tvs-local-rotation';

/** The version of a file's secret that is current (a file holds one value per secret). */
const CURRENT_VERSION = 'current';

/** A rotation's pending version of one secret, as the pending file holds it. */
interface PendingEntry {
  readonly versionId: string;
  readonly value?: string;
  readonly current?: boolean;
}

/** Write `text` to `path` whole, then rename, so a reader never sees half a file; owner-only. */
async function writeWhole(path: string, text: string): Promise<void> {
  const partial = `${path}.${process.pid}.tmp`;
  await writeFile(partial, text, { mode: 0o600 });
  await rename(partial, path);
}

/**
 * A secrets file as a secret's versions: the file holds the current value; a rotation's pending version
 * is kept in the file beside it, `<secrets file>.pending` — written before it is tested, so a secret that
 * Identity Cloud already took is never only in memory, and a rotation stopped halfway is resumed by the
 * next `tvs rotate` from it. `finishSecret` writes the pending value into the secrets file.
 */
export class SecretsFileVersions implements SecretVersions {
  readonly pendingPath: string;

  constructor(private readonly path: string) {
    this.pendingPath = `${path}.pending`;
  }

  private async pendingEntries(): Promise<Record<string, PendingEntry>> {
    try {
      return JSON.parse(await readFile(this.pendingPath, 'utf8')) as Record<string, PendingEntry>;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new LocalConfigError(this.pendingPath, ['cannot read the pending secrets file']);
    }
  }

  private async setPending(secretId: string, entry: PendingEntry | undefined): Promise<void> {
    const entries = await this.pendingEntries();
    if (entry === undefined) delete entries[secretId];
    else entries[secretId] = entry;
    await writeWhole(this.pendingPath, `${JSON.stringify(entries, null, 2)}\n`);
  }

  /** The version id of a rotation of `secretId` stopped before it finished, if there is one. */
  async stuckVersion(secretId: string): Promise<string | undefined> {
    const entry = (await this.pendingEntries())[secretId];
    return entry !== undefined && entry.current !== true ? entry.versionId : undefined;
  }

  /** Stage an empty pending version, as Secrets Manager's `RotateSecret` does. */
  async stagePending(secretId: string, versionId: string): Promise<void> {
    await this.setPending(secretId, { versionId });
  }

  async describe(secretId: string): Promise<SecretMetadata> {
    const pending = (await this.pendingEntries())[secretId];
    const stages: Record<string, string[]> =
      pending?.current === true
        ? { [pending.versionId]: ['AWSCURRENT', 'AWSPENDING'] }
        : {
            [CURRENT_VERSION]: ['AWSCURRENT'],
            ...(pending ? { [pending.versionId]: ['AWSPENDING'] } : {}),
          };
    return { arn: secretId, name: secretId, rotationEnabled: true, stages };
  }

  async value(
    secretId: string,
    select: { versionId?: string; stage: 'AWSCURRENT' | 'AWSPENDING' },
  ): Promise<string | undefined> {
    if (select.stage === 'AWSCURRENT')
      return parseSecretsFile(await readFile(this.path, 'utf8'), this.path).get(secretId);
    const pending = (await this.pendingEntries())[secretId];
    return pending && (select.versionId ?? pending.versionId) === pending.versionId
      ? pending.value
      : undefined;
  }

  async putPending(secretId: string, versionId: string, secretString: string): Promise<void> {
    await this.setPending(secretId, { versionId, value: secretString });
  }

  private async writeCurrent(secretId: string, secretString: string): Promise<void> {
    const document = JSON.parse(await readFile(this.path, 'utf8')) as Record<string, unknown>;
    // Kept in the form it was written in: a JSON string, or the object itself.
    document[secretId] = typeof document[secretId] === 'string' ? secretString : JSON.parse(secretString);
    await writeWhole(this.path, `${JSON.stringify(document, null, 2)}\n`);
  }

  async moveCurrent(secretId: string, to: string): Promise<void> {
    const pending = (await this.pendingEntries())[secretId];
    if (pending?.versionId !== to || pending.value === undefined) {
      throw new LocalConfigError(this.path, [`${secretId}: no pending value to make current`]);
    }
    await this.writeCurrent(secretId, pending.value);
    await this.setPending(secretId, { ...pending, current: true });
  }

  async removePending(secretId: string): Promise<void> {
    await this.setPending(secretId, undefined);
  }
}

/** What `tvs rotate` did. */
export type RotationReport =
  | { readonly mode: 'local'; readonly steps: readonly StepRecord[] }
  | {
      readonly mode: 'secrets-manager';
      readonly secretArn: string;
      readonly versionId: string;
      /** The version was a rotation left unfinished, resumed rather than a new one. */
      readonly resumed: boolean;
    };

/** Rotate `clientName`'s secret now; see the module comment. Throws when it cannot. */
export async function rotateClient(options: {
  readonly configPath: string;
  readonly client: string;
  readonly env: NodeJS.ProcessEnv;
}): Promise<RotationReport> {
  const loaded = await loadConfigFile(options.configPath);
  const config = parseServiceConfig(loaded.document, { rotationPrincipal: LOCAL_ROTATION_PRINCIPAL });
  // The deployed configuration has no `local` section: then it is Secrets Manager's secret to rotate.
  const hasLocal = (loaded.document as { local?: unknown } | null)?.local !== undefined;
  const local = hasLocal ? parseLocalSection(loaded.document, loaded.baseDir, options.configPath) : undefined;
  const client = config.client(options.client);
  if (client === undefined)
    throw new LocalConfigError(options.configPath, [`no client ${JSON.stringify(options.client)}`]);
  if (client.rotation === undefined) {
    throw new LocalConfigError(options.configPath, [`clients.${client.name}: has no "rotation"`]);
  }

  if (local?.secretsFile === undefined) {
    const { DescribeSecretCommand, RotateSecretCommand, SecretsManagerClient } = await import(
      '@aws-sdk/client-secrets-manager'
    );
    const secretsManager = new SecretsManagerClient({
      region: options.env.AWS_REGION ?? options.env.AWS_DEFAULT_REGION ?? local?.region ?? 'us-east-1',
    });
    try {
      // A rotation stopped before it finished (AWSPENDING on a version that is not current) is resumed
      // with its own version: its steps finish it from the live secret, with no second reset.
      const { VersionIdsToStages: stages = {} } = await secretsManager.send(
        new DescribeSecretCommand({ SecretId: client.secretId }),
      );
      const stuck = Object.entries(stages).find(
        ([, labels]) => labels.includes('AWSPENDING') && !labels.includes('AWSCURRENT'),
      )?.[0];
      const answer = await secretsManager.send(
        new RotateSecretCommand({
          SecretId: client.secretId,
          RotateImmediately: true,
          ...(stuck ? { ClientRequestToken: stuck } : {}),
        }),
      );
      return {
        mode: 'secrets-manager',
        secretArn: answer.ARN ?? client.secretId,
        versionId: answer.VersionId ?? '',
        resumed: stuck !== undefined,
      };
    } finally {
      secretsManager.destroy();
    }
  }

  const identityCloud = new IdentityCloudClient();
  try {
    const service = new VendingService({
      config,
      store: new MemoryRecordStore(),
      minter: new Minter({
        credentials: new CredentialsCache(new SecretsFileSource(local.secretsFile)),
        identityCloud,
      }),
      settings: settingsFromEnv(options.env),
    });
    const versions = new SecretsFileVersions(local.secretsFile);
    const rotator = new SecretRotator({
      config,
      versions,
      identityCloud,
      resetLease: new RecordStoreResetLease(new MemoryRecordStore()),
      resetToken: async (via, scope, minTtl) =>
        (await service.vend(LOCAL_ROTATION_PRINCIPAL, { client: via.name, scope, minTtl })).token.accessToken,
    });
    // A rotation stopped before it finished is resumed with its own version, from the live secret.
    let versionId = await versions.stuckVersion(client.secretId);
    if (versionId === undefined) {
      versionId = randomUUID();
      await versions.stagePending(client.secretId, versionId);
    }
    const steps: StepRecord[] = [];
    for (const Step of ROTATION_STEPS) {
      steps.push(await rotator.step({ SecretId: client.secretId, ClientRequestToken: versionId, Step }));
    }
    return { mode: 'local', steps };
  } finally {
    await identityCloud.close();
  }
}
