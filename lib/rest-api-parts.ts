import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ErrorCode } from '@tvs/client/contract';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';

/** The HTTP API's description (OpenAPI 3.1), tested against the handler's answers. */
export const OPENAPI_DOCUMENT = fileURLToPath(new URL('../docs/openapi.json', import.meta.url));

/** The JSON Schema keywords API Gateway's request validation applies to a body (draft 4). */
const VALIDATED_KEYWORDS = ['minLength', 'maxLength', 'minimum', 'maximum', 'pattern'] as const;

/**
 * The request model of `POST /v1/token`, made from the `TokenRequest` schema of `docs/openapi.json`, so
 * API Gateway refuses exactly what the document says is invalid (the function checks again). Only
 * what draft 4 validation reads is kept: types, required fields, no other fields, and each limit.
 */
export function tokenRequestModel(): apigw.JsonSchema {
  const document = JSON.parse(readFileSync(OPENAPI_DOCUMENT, 'utf8'));
  const schema = document.components.schemas.TokenRequest as {
    required: string[];
    additionalProperties: boolean;
    properties: Record<string, Record<string, unknown>>;
  };
  const typeOf = (type: unknown): apigw.JsonSchemaType => {
    const found = Object.values(apigw.JsonSchemaType).find((candidate) => candidate === type);
    if (found === undefined)
      throw new Error(`docs/openapi.json: TokenRequest type ${String(type)} is not JSON Schema`);
    return found;
  };
  return {
    schema: apigw.JsonSchemaVersion.DRAFT4,
    title: 'TokenRequest',
    type: apigw.JsonSchemaType.OBJECT,
    required: [...schema.required],
    additionalProperties: schema.additionalProperties,
    properties: Object.fromEntries(
      Object.entries(schema.properties).map(([name, property]) => [
        name,
        {
          type: typeOf(property.type),
          ...Object.fromEntries(
            VALIDATED_KEYWORDS.flatMap((keyword) =>
              keyword in property ? [[keyword, property[keyword]]] : [],
            ),
          ),
        },
      ]),
    ),
  };
}

/** Who the API's resource policy admits, and through which VPC endpoints. */
export interface ApiAdmission {
  readonly allowedAccounts?: readonly string[];
  readonly allowedOrganizationId?: string;
  readonly vpcEndpointIds?: readonly string[];
}

/**
 * The API's resource policy. `execute-api:/*` is API Gateway's own resource syntax for "every method of
 * this API" in a resource policy, not an IAM identity-policy wildcard.
 */
export function resourcePolicy(props: ApiAdmission): iam.PolicyDocument {
  const invoke = { actions: ['execute-api:Invoke'], resources: ['execute-api:/*'] };
  const statements: iam.PolicyStatement[] = [];
  const accounts = props.allowedAccounts ?? [];
  if (accounts.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'AllowListedAccounts',
        principals: accounts.map((account) => new iam.AccountPrincipal(account)),
        ...invoke,
      }),
    );
  }
  if (props.allowedOrganizationId) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'AllowOrganization',
        principals: [new iam.AnyPrincipal()],
        conditions: { StringEquals: { 'aws:PrincipalOrgID': props.allowedOrganizationId } },
        ...invoke,
      }),
    );
  }
  const vpcEndpointIds = props.vpcEndpointIds ?? [];
  if (vpcEndpointIds.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'DenyOutsideVpcEndpoints',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        conditions: { StringNotEquals: { 'aws:SourceVpce': [...vpcEndpointIds] } },
        ...invoke,
      }),
    );
  }
  return new iam.PolicyDocument({ statements });
}

/** One JSON object per request: who called, what, and how it went. */
export function accessLogFormat(): apigw.AccessLogFormat {
  const field = apigw.AccessLogField;
  return apigw.AccessLogFormat.custom(
    JSON.stringify({
      requestId: field.contextRequestId(),
      extendedRequestId: field.contextExtendedRequestId(),
      requestTime: field.contextRequestTime(),
      caller: field.contextIdentityUserArn(),
      callerAccount: field.contextIdentityAccountId(),
      sourceIp: field.contextIdentitySourceIp(),
      vpceId: '$context.identity.vpceId',
      userAgent: field.contextIdentityUserAgent(),
      httpMethod: field.contextHttpMethod(),
      resourcePath: field.contextResourcePath(),
      status: field.contextStatus(),
      responseLength: field.contextResponseLength(),
      latencyMs: field.contextResponseLatency(),
      integrationLatencyMs: field.contextIntegrationLatency(),
      integrationStatus: field.contextIntegrationStatus(),
      errorType: field.contextErrorResponseType(),
      errorMessage: field.contextErrorMessage(),
    }),
  );
}

/**
 * Errors API Gateway answers itself (before the function runs) in the RFC 6749 §5.2 shape the function
 * uses, with the code of the failure beside `error` and the same no-store headers: a body the request
 * model refuses is the function's own `TVS_ERR_INVALID_REQUEST`; a missing or bad signature, a caller IAM
 * does not let in, an unknown route are `TVS_ERR_FRONT_DOOR`; throttling is `TVS_ERR_THROTTLED`.
 */
export function addOAuthGatewayResponses(api: apigw.RestApi): void {
  const headers = { 'Cache-Control': "'no-store'", Pragma: "'no-cache'" };
  const body = (error: string, code: ErrorCode) => ({
    'application/json': `{"error":"${error}","error_description":$context.error.messageString,"code":"${code}"}`,
  });
  const responses: [string, apigw.ResponseType, string, ErrorCode, string?][] = [
    [
      'BadRequestBody',
      apigw.ResponseType.BAD_REQUEST_BODY,
      'invalid_request',
      'TVS_ERR_INVALID_REQUEST',
      '400',
    ],
    ['AccessDenied', apigw.ResponseType.ACCESS_DENIED, 'access_denied', 'TVS_ERR_FRONT_DOOR', '403'],
    [
      'MissingAuthenticationToken',
      apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
      'access_denied',
      'TVS_ERR_FRONT_DOOR',
      '403',
    ],
    ['InvalidSignature', apigw.ResponseType.INVALID_SIGNATURE, 'access_denied', 'TVS_ERR_FRONT_DOOR', '403'],
    ['ExpiredToken', apigw.ResponseType.EXPIRED_TOKEN, 'access_denied', 'TVS_ERR_FRONT_DOOR', '403'],
    ['Throttled', apigw.ResponseType.THROTTLED, 'temporarily_unavailable', 'TVS_ERR_THROTTLED', '429'],
    ['Default4xx', apigw.ResponseType.DEFAULT_4XX, 'invalid_request', 'TVS_ERR_FRONT_DOOR'],
    ['Default5xx', apigw.ResponseType.DEFAULT_5XX, 'server_error', 'TVS_ERR_INTERNAL'],
  ];
  for (const [id, type, error, code, statusCode] of responses) {
    api.addGatewayResponse(id, { type, statusCode, responseHeaders: headers, templates: body(error, code) });
  }
}

/**
 * The stage's request metrics (namespace `AWS/ApiGateway`), in the shape of `functionUrlMetrics`
 * (`function-url-parts.ts`) so the alarms and the dashboard are written once for both endpoint kinds.
 */
export function restApiMetrics(stage: apigw.Stage) {
  return {
    requests: (options: cloudwatch.MetricOptions) => stage.metricCount(options),
    clientErrors: (options: cloudwatch.MetricOptions) => stage.metricClientError(options),
    serverErrors: (options: cloudwatch.MetricOptions) => stage.metricServerError(options),
    latency: (options: cloudwatch.MetricOptions) => stage.metricLatency(options),
  };
}
