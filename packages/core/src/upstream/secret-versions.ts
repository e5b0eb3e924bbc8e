import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';

/** What a secret's metadata says (DescribeSecret). */
export interface SecretMetadata {
  readonly arn: string;
  readonly name: string;
  readonly rotationEnabled: boolean;
  /** Version id → its staging labels. */
  readonly stages: Readonly<Record<string, readonly string[]>>;
}

/** The secret's versions: Secrets Manager in AWS (and moto), files for `tvs rotate` locally. */
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

/**
 * A secret's versions in AWS Secrets Manager: the four calls the rotation function may make
 * (`DescribeSecret`, `GetSecretValue`, `PutSecretValue`, `UpdateSecretVersionStage`) and nothing else.
 */
export class SecretsManagerVersions implements SecretVersions {
  constructor(private readonly client: SecretsManagerClient) {}

  async describe(secretId: string): Promise<SecretMetadata> {
    const answer = await this.client.send(new DescribeSecretCommand({ SecretId: secretId }));
    return {
      arn: answer.ARN ?? secretId,
      name: answer.Name ?? secretId,
      rotationEnabled: answer.RotationEnabled === true,
      stages: answer.VersionIdsToStages ?? {},
    };
  }

  async value(
    secretId: string,
    select: { versionId?: string; stage: 'AWSCURRENT' | 'AWSPENDING' },
  ): Promise<string | undefined> {
    try {
      const answer = await this.client.send(
        new GetSecretValueCommand({
          SecretId: secretId,
          VersionStage: select.stage,
          ...(select.versionId ? { VersionId: select.versionId } : {}),
        }),
      );
      return answer.SecretString;
    } catch (error) {
      // A version staged by RotateSecret holds no value until createSecret puts one.
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }

  async putPending(secretId: string, versionId: string, secretString: string): Promise<void> {
    await this.client.send(
      new PutSecretValueCommand({
        SecretId: secretId,
        ClientRequestToken: versionId,
        SecretString: secretString,
        VersionStages: ['AWSPENDING'],
      }),
    );
  }

  async moveCurrent(secretId: string, to: string, from: string): Promise<void> {
    await this.client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretId,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: to,
        RemoveFromVersionId: from,
      }),
    );
  }

  async removePending(secretId: string, versionId: string): Promise<void> {
    await this.client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretId,
        VersionStage: 'AWSPENDING',
        RemoveFromVersionId: versionId,
      }),
    );
  }
}
