import { ServiceConfig } from '@tvs/core/config/service-config';
import { Duration } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as sns from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { type ServiceConfigDocument, validateServiceConfig } from '../../lib/service-config';
import { TokenVendingService, type TokenVendingServiceProps } from '../../lib/token-vending-service';
import { TokenVendingStack } from '../../lib/token-vending-stack';
import { EXAMPLE_CONFIG_FILE, exampleConfig, testApp, testStack } from '../support/stacks';

/** Builds the construct; bad props throw before any resource (or bundling) is made. */
function build(props: Partial<TokenVendingServiceProps>): () => void {
  return () => {
    new TokenVendingService(testStack(), 'Tvs', {
      config: exampleConfig(),
      allowedAccounts: ['123456789012'],
      ...props,
    });
  };
}

function withClient(change: (client: Record<string, unknown>) => void): ServiceConfigDocument {
  const config = structuredClone(exampleConfig()) as unknown as {
    clients: Record<string, Record<string, unknown>>;
  };
  change(config.clients['webhooks-us'] as Record<string, unknown>);
  return config as unknown as ServiceConfigDocument;
}

describe('validateServiceConfig', () => {
  it('returns the parsed configuration, whose document is the input’s clients and grants', () => {
    // Arrange
    const document = exampleConfig();

    // Act
    const config = validateServiceConfig({ $schema: './config.schema.json', ...document });

    // Assert
    expect(config).toBeInstanceOf(ServiceConfig);
    expect(config.document).toEqual({ clients: document.clients, grants: document.grants });
    expect(JSON.parse(JSON.stringify(config.document))).toEqual(document);
    expect(config.clients.map((client) => client.secretId)).toEqual(
      Object.values(document.clients).map((client) => client.secretId),
    );
  });

  it('names every problem of an invalid document', () => {
    expect(() => validateServiceConfig({ clients: {}, grants: {} })).toThrow(
      'The service configuration given to TokenVendingService is invalid:\n  - clients: expected at least one client\n  - grants: required; expected an array of grants (it may be empty)',
    );
  });
});

describe('TokenVendingService props validation', () => {
  it('accepts the example configuration', () => {
    expect(build({})).not.toThrow();
  });

  it('refuses a grant wider than its client’s allowedScopes, naming the path', () => {
    const config = structuredClone(exampleConfig()) as unknown as { grants: { scopes: string[] }[] };
    (config.grants[0] as { scopes: string[] }).scopes = ['*:config/**'];
    expect(build({ config: config as unknown as ServiceConfigDocument })).toThrow(
      /service configuration given to TokenVendingService is invalid:[\s\S]*grants\[0\]/,
    );
  });

  it('refuses a token endpoint that is not https, naming the path', () => {
    const config = withClient((client) => {
      client.tokenEndpoint = 'http://v1.api.us.janrain.com/00000000-0000-0000-0000-000000000000/login/token';
    });
    expect(build({ config })).toThrow(/clients\.webhooks-us\.tokenEndpoint/);
  });

  it('refuses a secretId with a wildcard, which would widen the secrets grant', () => {
    const config = withClient((client) => {
      client.secretId = 'tvs/*';
    });
    expect(build({ config })).toThrow(/clients\.webhooks-us\.secretId/);
  });

  it('refuses to build an API that admits no one', () => {
    expect(build({ allowedAccounts: undefined, allowedOrganizationId: undefined })).toThrow(
      'TokenVendingService needs allowedAccounts or allowedOrganizationId: without one, the resource policy would admit no caller.',
    );
  });

  it('refuses, with a function URL, every property only the REST API has, each with a plain sentence', () => {
    const restApiOnly: Partial<TokenVendingServiceProps> = {
      vpcEndpointIds: ['vpce-0123456789abcdef0'],
      stageName: 'v1',
      throttle: { rateLimit: 10, burstLimit: 20 },
      executionLoggingLevel: apigw.MethodLoggingLevel.INFO,
      apiTracing: true,
    };

    expect(build({ endpoint: 'function-url', ...restApiOnly })).toThrow(
      new RegExp(
        [
          'vpcEndpointIds: a function URL has no private endpoint',
          'stageName: a function URL has no stage',
          'throttle: a function URL has no stage throttling; set reservedConcurrency',
          'executionLoggingLevel: a function URL has no API Gateway execution log',
          'apiTracing: a function URL has no API stage to trace',
        ].join('[\\s\\S]*'),
      ),
    );
    expect(build({ endpoint: 'rest-api', ...restApiOnly })).not.toThrow();
    expect(build({ endpoint: 'function-url', reservedConcurrency: 20 })).not.toThrow();
  });

  it('refuses an endpoint kind that does not exist, from the props and from the stack context', () => {
    expect(build({ endpoint: 'http-api' as never })).toThrow(
      'endpoint: "http-api" is not one of "rest-api" and "function-url".',
    );
    expect(
      () =>
        new TokenVendingStack(testApp({ endpoint: 'lambda-url' }), 'Tvs', {
          configFile: EXAMPLE_CONFIG_FILE,
        }),
    ).toThrow('endpoint: "lambda-url" is not one of "rest-api" and "function-url".');
  });

  it('refuses malformed account, organization and VPC endpoint ids', () => {
    expect(
      build({ allowedAccounts: ['12345'], allowedOrganizationId: 'org-1', vpcEndpointIds: ['endpoint-1'] }),
    ).toThrow(
      /"12345" is not a 12-digit[\s\S]*"org-1" is not an AWS Organizations id[\s\S]*"endpoint-1" is not a VPC endpoint id/,
    );
  });

  it('refuses an alarm topic ARN that is not a standard SNS topic, and a topic given both ways', () => {
    expect(build({ alarmTopicArn: 'arn:aws:sqs:us-east-1:111111111111:alarms' })).toThrow(
      'alarmTopicArn: "arn:aws:sqs:us-east-1:111111111111:alarms" is not the ARN of a standard SNS topic',
    );
    expect(build({ alarmTopicArn: 'arn:aws:sns:us-east-1:111111111111:alarms.fifo' })).toThrow(
      /is not the ARN of a standard SNS topic/,
    );
    const arn = 'arn:aws:sns:us-east-1:111111111111:alarms';
    const topic = sns.Topic.fromTopicArn(testStack(), 'Alarms', arn);
    expect(build({ alarmTopic: topic, alarmTopicArn: arn })).toThrow(
      'alarmTopicArn: give alarmTopic or alarmTopicArn, not both',
    );
  });

  it('refuses a timeout API Gateway would cut short', () => {
    expect(build({ timeout: Duration.seconds(26) })).toThrow(
      /timeout: 26 seconds is outside 5 to 25 seconds; the function must answer before API Gateway gives up at 29 seconds/,
    );
    expect(build({ timeout: Duration.seconds(25) })).not.toThrow();
  });

  it('refuses a timeout too short for a request deadline, as the cold start would', () => {
    expect(build({ timeout: Duration.seconds(4) })).toThrow(
      /timeout: 4 seconds is outside 5 to 25 seconds[^\n]*a request needs a 3-second deadline and 2 seconds to answer/,
    );
    expect(build({ timeout: Duration.seconds(5) })).not.toThrow();
  });

  it('checks the bounds of upstream use with the function’s own rules', () => {
    expect(build({ mintsPerMinute: 4 })).toThrow(
      /policy: mintsPerCallerPerMinute must not be above mintsPerMinute/,
    );
    expect(build({ minMintInterval: Duration.millis(1500) })).toThrow(
      /policy: minMintIntervalSeconds must be a whole number from 0 to 3600, not 1.5/,
    );
    expect(build({ refreshMargin: Duration.hours(1) })).toThrow(
      /policy: refreshMarginSeconds must be a whole number from 1 to 3599, not 3600/,
    );
    expect(
      build({ mintsPerMinute: 60, mintsPerCallerPerMinute: 10, minMintInterval: Duration.minutes(1) }),
    ).not.toThrow();
  });

  it('refuses to pre-warm a client the configuration does not have', () => {
    expect(build({ prewarm: { tokens: [{ client: 'webhooks-eu', scope: '*:webhooks/**' }] } })).toThrow(
      'prewarm.tokens[0].client: "webhooks-eu" is not a client of the configuration.',
    );
  });

  it('refuses to pre-warm a scope outside the client’s allowedScopes, or one that does not parse', () => {
    expect(build({ prewarm: { tokens: [{ client: 'webhooks-us', scope: '*:config/**' }] } })).toThrow(
      'prewarm.tokens[0].scope: "*:config/**" is outside the allowedScopes of client "webhooks-us".',
    );
    expect(build({ prewarm: { tokens: [{ client: 'webhooks-us', scope: 'x:webhooks' }] } })).toThrow(
      /prewarm\.tokens\[0\]\.scope: scope 1 \("x:webhooks"\)/,
    );
    expect(
      build({ prewarm: { tokens: [{ client: 'webhooks-us', scope: '.:webhooks/** *:webhooks/a' }] } }),
    ).not.toThrow();
  });

  it('lists every problem at once', () => {
    expect(
      build({ timeout: Duration.minutes(1), memorySize: 64, throttle: { rateLimit: 0, burstLimit: 0 } }),
    ).toThrow(/timeout[\s\S]*memorySize[\s\S]*throttle/);
  });
});
