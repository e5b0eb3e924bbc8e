import { ROTATION_KEY_PREFIX } from '@tvs/client/contract';
import type { ConfiguredClient, ServiceConfig } from '@tvs/core/config/service-config';
import { budgetKey } from '@tvs/core/protocol/mint-budget';
import { circuitKey } from '@tvs/core/protocol/upstream-circuit';
import { Annotations, Aws, Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { bundledCode, ROTATION_ENTRY } from './handler-bundle';
import { secretResourceArn } from './service-config';

/** The rotation function's timeout: a step resets within 15 s and stores the secret within 10 more. */
export const ROTATION_FUNCTION_TIMEOUT = Duration.seconds(30);

/** The clients whose secrets the configuration rotates. */
export function rotatedClients(config: ServiceConfig): readonly ConfiguredClient[] {
  return config.clients.filter((client) => client.rotation !== undefined);
}

/** What the rotation needs of the rest of the construct. */
export interface RotationProps {
  readonly config: ServiceConfig;
  /** The rotation function's role, made first because the token key's policy names it. */
  readonly role: iam.Role;
  readonly table: dynamodb.ITable;
  /** The vend function's environment: the rotation function runs the same vending core. */
  readonly environment: Readonly<Record<string, string>>;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** The CMK of the secrets, when not `aws/secretsmanager`. */
  readonly secretsKey?: kms.IKey;
}

/**
 * Central credential rotation (docs/contract.md): a function implementing Secrets Manager's rotation contract
 * for the configured clients' secrets (`lambdas/rotate-secret`), a rotation schedule per rotated secret,
 * and what the function may do — exactly:
 *
 * - `DescribeSecret`, `GetSecretValue`, `PutSecretValue`, `UpdateSecretVersionStage` on the rotated
 *   secrets, nothing else of Secrets Manager;
 * - `GetSecretValue` on the secrets of the `via` clients, to mint their reset tokens;
 * - `GetItem`, `UpdateItem` on its own items of the table only (`dynamodb:LeadingKeys`: its reset
 *   tokens and leases under `rotation:`, and the via clients' mint budgets and upstream circuits, which
 *   it shares with the vend function), and (by the token key's own
 *   policy) data keys with its own encryption context only: it opens no vended token;
 * - its own log group.
 *
 * Secrets Manager may invoke it only for those secrets (`SourceArn`) of this account.
 */
export class SecretRotation extends Construct {
  /** The rotation function. */
  readonly function: lambda.Function;
  readonly logGroup: logs.LogGroup;
  /** A rotation schedule per rotated secret. */
  readonly schedules: readonly secretsmanager.CfnRotationSchedule[];

  constructor(scope: Construct, id: string, props: RotationProps) {
    super(scope, id);
    const rotated = rotatedClients(props.config);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.function = new lambda.Function(this, 'Function', {
      description:
        'Token Vending Service: rotates the configured clients’ secrets (Secrets Manager rotation)',
      code: bundledCode(ROTATION_ENTRY, props.config.document),
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      timeout: ROTATION_FUNCTION_TIMEOUT,
      role: props.role,
      logGroup: this.logGroup,
      environment: {
        ...props.environment,
        TVS_FUNCTION_TIMEOUT_SECONDS: String(ROTATION_FUNCTION_TIMEOUT.toSeconds()),
        TVS_ROTATION_PRINCIPAL: props.role.roleArn,
      },
    });
    this.grant(props, rotated);
    for (const client of rotated.filter((candidate) => candidate.rotation?.via === candidate.name)) {
      Annotations.of(this).addWarningV2(
        `tvs:self-rotation-${client.name}`,
        `client ${client.name} rotates its own secret: after a failed rotation it can read its new secret back only while its reset token lives (at least 15 minutes); past that only another client can repair it. A dedicated rotation client is recommended.`,
      );
    }

    const schedules: secretsmanager.CfnRotationSchedule[] = [];
    for (const client of rotated) {
      const secretArn = secretResourceArn(this, client.secretId);
      const permission = new lambda.CfnPermission(this, `SecretsManagerRotates-${client.name}`, {
        action: 'lambda:InvokeFunction',
        functionName: this.function.functionArn,
        principal: 'secretsmanager.amazonaws.com',
        sourceArn: secretArn,
        sourceAccount: Aws.ACCOUNT_ID,
      });
      const schedule = new secretsmanager.CfnRotationSchedule(this, `Schedule-${client.name}`, {
        secretId: client.secretId,
        rotationLambdaArn: this.function.functionArn,
        rotationRules: { automaticallyAfterDays: client.rotation?.everyDays },
      });
      schedule.node.addDependency(permission);
      schedules.push(schedule);
    }
    this.schedules = schedules;
  }

  /** A failed step throws, so the function's errors are failed rotations. */
  metricFailures(period: Duration): cloudwatch.IMetric {
    return this.function.metricErrors({ period, statistic: cloudwatch.Stats.SUM });
  }

  private grant(props: RotationProps, rotated: readonly ConfiguredClient[]): void {
    const role = props.role;
    this.logGroup.grant(role, 'logs:CreateLogStream', 'logs:PutLogEvents');
    // Only its own items: its reset tokens and leases (`rotation:…`), and the mint budgets of the via
    // clients it mints through (shared with the vend function: one budget per client).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ItsOwnItemsOfTheTable',
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [props.table.tableArn],
        conditions: {
          'ForAllValues:StringLike': {
            'dynamodb:LeadingKeys': [
              `${ROTATION_KEY_PREFIX}*`,
              ...[...new Set(rotated.map((client) => client.rotation?.via ?? ''))]
                .sort()
                .flatMap((via) => [budgetKey(via), circuitKey(via)]),
            ],
          },
        },
      }),
    );
    const arns = (clients: readonly (ConfiguredClient | undefined)[]) => [
      ...new Set(clients.flatMap((client) => (client ? [secretResourceArn(this, client.secretId)] : []))),
    ];
    const rotatedSecrets = arns(rotated);
    // Those of a via client it rotates too are readable already.
    const viaSecrets = arns(rotated.map((client) => props.config.client(client.rotation?.via ?? ''))).filter(
      (arn) => !rotatedSecrets.includes(arn),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RotateTheRotatedSecrets',
        actions: [
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:PutSecretValue',
          'secretsmanager:UpdateSecretVersionStage',
        ],
        resources: rotatedSecrets,
      }),
    );
    if (viaSecrets.length > 0) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadTheViaSecrets',
          actions: ['secretsmanager:GetSecretValue'],
          resources: viaSecrets,
        }),
      );
    }
    if (props.secretsKey) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [props.secretsKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
        }),
      );
    }
  }
}
