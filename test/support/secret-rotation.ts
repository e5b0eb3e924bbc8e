import { randomUUID } from 'node:crypto';
import {
  DescribeSecretCommand,
  ResourceNotFoundException,
  RotateSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

/**
 * Start a rotation of `secretId` as Secrets Manager does: `RotateSecret` stages a new, empty `AWSPENDING`
 * version under a fresh `ClientRequestToken`. moto then fails to invoke a Lambda it cannot run here —
 * that error is expected, any other fails. Answers the token and the secret's ARN, which the steps carry.
 */
export async function startRotation(
  secretsManager: SecretsManagerClient,
  secretId: string,
): Promise<{ token: string; arn: string }> {
  const token = randomUUID();
  const started = await secretsManager
    .send(
      new RotateSecretCommand({
        SecretId: secretId,
        ClientRequestToken: token,
        RotationLambdaARN: 'arn:aws:lambda:us-east-1:111111111111:function:tvs-rotation',
        RotationRules: { AutomaticallyAfterDays: 30 },
      }),
    )
    .catch((error: unknown) => error);
  if (!(started instanceof ResourceNotFoundException)) throw new Error(`RotateSecret: ${String(started)}`);
  const arn = (await secretsManager.send(new DescribeSecretCommand({ SecretId: secretId }))).ARN;
  if (arn === undefined) throw new Error(`DescribeSecret of ${secretId} has no ARN`);
  return { token, arn };
}
