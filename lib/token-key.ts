import {
  type EncryptionContext,
  resetTokenEncryptionContext,
  tokenEncryptionContext,
} from '@tvs/core/stores/token-crypto';
import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';

/**
 * What the account's administrators may do with the token key: manage it (describe, rotate, tag,
 * enable, disable, schedule its deletion, change its policy and aliases), but never use it — no
 * `Decrypt`, `GenerateDataKey*`, `Encrypt`, `ReEncrypt*`, and no `CreateGrant`, which would hand those to
 * anyone. Listed one by one: a wildcard like `kms:Create*` would include `CreateGrant`.
 */
export const TOKEN_KEY_ADMINISTRATION_ACTIONS: readonly string[] = [
  'kms:CancelKeyDeletion',
  'kms:CreateAlias',
  'kms:DeleteAlias',
  'kms:DescribeKey',
  'kms:DisableKey',
  'kms:DisableKeyRotation',
  'kms:EnableKey',
  'kms:EnableKeyRotation',
  'kms:GetKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:ListAliases',
  'kms:ListGrants',
  'kms:ListKeyPolicies',
  'kms:ListKeyRotations',
  'kms:ListResourceTags',
  'kms:PutKeyPolicy',
  'kms:RevokeGrant',
  'kms:RotateKeyOnDemand',
  'kms:ScheduleKeyDeletion',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:UpdateAlias',
  'kms:UpdateKeyDescription',
];

/** The only uses of the token key: a data key to seal tokens with, and opening one. */
export const TOKEN_KEY_USE_ACTIONS: readonly string[] = ['kms:GenerateDataKey', 'kms:Decrypt'];

/** `StringEquals` on each key of an encryption context: a data key made or opened with exactly it. */
function withContext(context: EncryptionContext): Record<string, Record<string, string>> {
  return {
    StringEquals: Object.fromEntries(
      Object.entries(context).map(([name, value]) => [`kms:EncryptionContext:${name}`, value]),
    ),
  };
}

/**
 * The policy of the token key: the account's administrators manage the key without using it; the vend
 * function's role (`vendRole`) may make and open data keys only with the encryption context of vended
 * tokens of `tableName` (`tokenEncryptionContext`), and the rotation function's role (`rotationRole`, when
 * there is one) only with that of its reset tokens (`resetTokenEncryptionContext`, another `service`
 * value): neither opens the other's tokens. No other principal, and no IAM policy of the account, can use
 * the key: the policy does not delegate its use to IAM, so granting someone read access to the table, or
 * even `kms:*` on `*`, does not let them open a token.
 *
 * In a key policy `Resource: "*"` means "this key": it is the only form KMS accepts there.
 */
export function tokenKeyPolicy(
  vendRole: iam.IPrincipal,
  rotationRole: iam.IPrincipal | undefined,
  tableName: string,
): iam.PolicyDocument {
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: 'AdministratorsManageTheKeyWithoutUsingIt',
        principals: [new iam.ArnPrincipal(`arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:root`)],
        actions: [...TOKEN_KEY_ADMINISTRATION_ACTIONS],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'TheServiceSealsAndOpensTokensOfItsTable',
        principals: [vendRole],
        actions: [...TOKEN_KEY_USE_ACTIONS],
        resources: ['*'],
        conditions: withContext(tokenEncryptionContext(tableName)),
      }),
      ...(rotationRole
        ? [
            new iam.PolicyStatement({
              sid: 'TheRotationSealsAndOpensItsResetTokens',
              principals: [rotationRole],
              actions: [...TOKEN_KEY_USE_ACTIONS],
              resources: ['*'],
              conditions: withContext(resetTokenEncryptionContext(tableName)),
            }),
          ]
        : []),
    ],
  });
}
