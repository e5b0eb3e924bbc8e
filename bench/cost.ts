/**
 * What a million token requests cost at list prices, per endpoint kind, from what `consumption.ts`
 * counted. Pure arithmetic over named prices; no figure here is estimated from anything but a count,
 * except where a line says it is rendered (the log lines AWS writes itself).
 */
import type { Consumption } from './consumption';

/**
 * AWS list prices, US East (N. Virginia), on demand, without free tiers, as published on the AWS pricing
 * pages (aws.amazon.com/api-gateway/pricing, /lambda/pricing, /dynamodb/pricing/on-demand, /kms/pricing,
 * /secrets-manager/pricing, /cloudwatch/pricing), looked up on 2026-11-22 (through restatements of those
 * pages; the bench has no network). Change them here when they change.
 */
export const PRICES = {
  region: 'us-east-1',
  lookedUp: '2026-11-22',
  /** API Gateway REST API, per million requests (first 333 million a month). */
  apiGatewayRestPerMillion: 3.5,
  /** Lambda function URL: no charge of its own; its requests are billed as Lambda invocations. */
  functionUrlPerMillion: 0,
  /** Lambda requests, per million. */
  lambdaRequestsPerMillion: 0.2,
  /** Lambda duration on arm64, per GB-second (first 7.5 billion GB-s a month); billed per 1 ms, rounded up. */
  lambdaArmPerGbSecond: 0.0000133334,
  /** DynamoDB on demand, per million write request units (1 KB each), since the November 2024 reduction. */
  dynamoDbPerMillionWriteUnits: 0.625,
  /** DynamoDB on demand, per million read request units (a strongly consistent read of up to 4 KB is 1). */
  dynamoDbPerMillionReadUnits: 0.125,
  /** KMS, per 10,000 requests (symmetric: GenerateDataKey, Decrypt). */
  kmsPer10kRequests: 0.03,
  /** Secrets Manager, per 10,000 API calls. */
  secretsManagerPer10kCalls: 0.05,
  /** CloudWatch Logs ingestion (Standard class), per GB; each event also counts 26 bytes. */
  cloudWatchLogsPerGbIngested: 0.5,
} as const;

/** CloudWatch Logs counts this many bytes per event on top of its message. */
const LOG_EVENT_OVERHEAD_BYTES = 26;

/**
 * The lines Lambda itself writes per invocation (text log format, the construct's), rendered with a
 * request id and this run's durations: START, END and REPORT.
 */
function platformLogLines(durationMs: number, memoryMb: number): string[] {
  const id = '8f5d1c2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f';
  return [
    `START RequestId: ${id} Version: $LATEST\n`,
    `END RequestId: ${id}\n`,
    `REPORT RequestId: ${id}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${Math.ceil(durationMs)} ms\tMemory Size: ${memoryMb} MB\tMax Memory Used: 98 MB\t\n`,
  ];
}

/** One access log line of the REST API (`accessLogFormat()` of `rest-api-parts.ts`), rendered. */
function accessLogLine(callerArn: string): string {
  return `${JSON.stringify({
    requestId: '8f5d1c2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f',
    extendedRequestId: 'Hk2mZFt1IAMEbHg=',
    requestTime: '22/Nov/2026:02:31:57 +0000',
    caller: callerArn,
    callerAccount: '111111111111',
    sourceIp: '10.0.0.1',
    vpceId: '-',
    userAgent: 'aws-sdk-js/3.1162.0 ua/2.1 os/linux#6.1 lang/js md/nodejs#24.0.0',
    httpMethod: 'POST',
    resourcePath: '/v1/token',
    status: '200',
    responseLength: '245',
    latencyMs: '12',
    integrationLatencyMs: '9',
    integrationStatus: '200',
    errorType: '-',
    errorMessage: '-',
  })}\n`;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** What one scenario's counts come to, per 1,000 requests and per million in dollars, for both kinds. */
export function costOf(consumption: Consumption, memoryMb: number, callerArn: string) {
  const perThousand = (count: number) => (count * 1000) / consumption.requests;
  const call = (name: string) => consumption.calls[name] ?? 0;
  const sum = (prefix: string) =>
    Object.entries(consumption.calls)
      .filter(([name]) => name.startsWith(prefix))
      .reduce((total, [, count]) => total + count, 0);
  // Token items and budget records apart: a write unit is 1 KB, a (strongly consistent) read unit 4 KB of
  // the item, taken at the largest of each kind at the end of the window.
  const sizes = consumption.largestItemBytes;
  const units = (bytes: number, unit: number) => Math.max(1, Math.ceil(bytes / unit));
  const dynamoDbReads = sum('DynamoDB.GetItem');
  const dynamoDbWrites = sum('DynamoDB.UpdateItem') + sum('DynamoDB.PutItem') + sum('DynamoDB.DeleteItem');
  const budgetReads = call('DynamoDB.GetItem budget');
  const budgetWrites = call('DynamoDB.UpdateItem budget');
  const readUnits =
    (dynamoDbReads - budgetReads) * units(sizes.token, 4096) + budgetReads * units(sizes.budget, 4096);
  const writeUnits =
    (dynamoDbWrites - budgetWrites) * units(sizes.token, 1024) + budgetWrites * units(sizes.budget, 1024);
  const billedMs = consumption.handlerMs.reduce((total, ms) => total + Math.max(1, Math.ceil(ms)), 0);
  const gbSeconds = (billedMs / 1000) * (memoryMb / 1024);
  const meanMs = consumption.handlerMs.reduce((total, ms) => total + ms, 0) / consumption.requests;
  const functionLogBytes = consumption.logBytes / consumption.requests;
  const platformLines = platformLogLines(meanMs, memoryMb);
  const platformBytes = platformLines.reduce((total, line) => total + Buffer.byteLength(line), 0);
  const accessLogBytes = Buffer.byteLength(accessLogLine(callerArn));
  // Events per request: the function's JSON line and its EMF line, Lambda's three lines; the access log's one.
  const functionLogIngested = functionLogBytes + platformBytes + 5 * LOG_EVENT_OVERHEAD_BYTES;
  const accessLogIngested = accessLogBytes + LOG_EVENT_OVERHEAD_BYTES;

  const perMillion = (count: number) => (count * 1_000_000) / consumption.requests;
  const dollars = {
    lambda_requests: PRICES.lambdaRequestsPerMillion,
    lambda_duration: (perMillion(gbSeconds) * PRICES.lambdaArmPerGbSecond) as number,
    dynamodb_reads: (perMillion(readUnits) / 1e6) * PRICES.dynamoDbPerMillionReadUnits,
    dynamodb_writes: (perMillion(writeUnits) / 1e6) * PRICES.dynamoDbPerMillionWriteUnits,
    kms: (perMillion(sum('KMS.')) / 10_000) * PRICES.kmsPer10kRequests,
    secrets_manager: (perMillion(sum('SecretsManager.')) / 10_000) * PRICES.secretsManagerPer10kCalls,
  };
  const functionTotal = Object.values(dollars).reduce((total, value) => total + value, 0);
  const functionLogs = (1e6 * functionLogIngested * PRICES.cloudWatchLogsPerGbIngested) / 1024 ** 3;
  const accessLogs = (1e6 * accessLogIngested * PRICES.cloudWatchLogsPerGbIngested) / 1024 ** 3;
  const restApi = functionTotal + PRICES.apiGatewayRestPerMillion;
  const functionUrl = functionTotal + PRICES.functionUrlPerMillion;
  const cents = (value: number) => round(value, 4);

  return {
    token_lifetime_s: consumption.tokenLifetimeSeconds,
    window_s: consumption.windowSeconds,
    requests: consumption.requests,
    failures: consumption.failures,
    per_1000_requests: {
      dynamodb_reads: round(perThousand(dynamoDbReads), 3),
      dynamodb_writes: round(perThousand(dynamoDbWrites), 3),
      dynamodb_read_units: round(perThousand(readUnits), 3),
      dynamodb_write_units: round(perThousand(writeUnits), 3),
      kms_calls: round(perThousand(sum('KMS.')), 3),
      kms_generate_data_key: round(perThousand(call('KMS.GenerateDataKey')), 3),
      kms_decrypt: round(perThousand(call('KMS.Decrypt')), 3),
      secrets_manager_calls: round(perThousand(sum('SecretsManager.')), 3),
      upstream_calls: round(perThousand(consumption.upstreamCalls), 3),
      lambda_billed_ms: round(perThousand(billedMs), 1),
      lambda_gb_s: round(perThousand(gbSeconds), 4),
      function_log_bytes: Math.round(perThousand(consumption.logBytes)),
    },
    per_hour: {
      dynamodb_writes: Math.round((dynamoDbWrites * 3600) / consumption.windowSeconds),
      kms_calls: Math.round((sum('KMS.') * 3600) / consumption.windowSeconds),
      upstream_calls: Math.round((consumption.upstreamCalls * 3600) / consumption.windowSeconds),
    },
    calls: consumption.calls,
    handler_ms_p50: round(percentile(consumption.handlerMs, 50), 3),
    handler_ms_p99: round(percentile(consumption.handlerMs, 99), 3),
    handler_ms_mean: round(meanMs, 3),
    largest_item_bytes: sizes,
    log_bytes_per_request: {
      function_lines: Math.round(functionLogBytes),
      lambda_platform_lines_rendered: platformBytes,
      rest_api_access_line_rendered: accessLogBytes,
    },
    usd_per_million: {
      function: Object.fromEntries(Object.entries(dollars).map(([name, value]) => [name, cents(value)])),
      rest_api: cents(restApi),
      function_url: cents(functionUrl),
      function_url_over_rest_api: round(functionUrl / restApi, 4),
      cloudwatch_logs: { function: cents(functionLogs), rest_api_access_log: cents(accessLogs) },
      rest_api_with_logs: cents(restApi + functionLogs + accessLogs),
      function_url_with_logs: cents(functionUrl + functionLogs),
      function_url_over_rest_api_with_logs: round(
        (functionUrl + functionLogs) / (restApi + functionLogs + accessLogs),
        4,
      ),
    },
  };
}

/** What {@link costOf} returns. */
export type ScenarioCost = ReturnType<typeof costOf>;

/**
 * The goals, judged from the figures: at 3600 s tokens, KMS calls and DynamoDB writes each under
 * 1 per 1,000 requests; and the function URL's total under a tenth of the REST API's. Each says whether
 * it was met and the figures it was judged on; nothing is rounded in its favour.
 */
export function judgeGoals(hour: ScenarioCost, minute: ScenarioCost, requestsPerSecond: number) {
  const kms = hour.per_1000_requests.kms_calls;
  const writes = hour.per_1000_requests.dynamodb_writes;
  // The counts per hour do not grow with traffic: each is under 1 per 1,000 requests above this rate.
  const rateFor = (perHour: number) => round((perHour * 1000) / 3600, 1);
  return {
    kms_calls_and_dynamodb_writes_under_1_per_1000_at_3600s: {
      met: kms < 1 && writes < 1,
      kms_calls_per_1000: kms,
      dynamodb_writes_per_1000: writes,
      at_requests_per_second: requestsPerSecond,
      requests_per_second_needed: Math.max(
        rateFor(hour.per_hour.kms_calls),
        rateFor(hour.per_hour.dynamodb_writes),
      ),
    },
    function_url_under_a_tenth_of_rest_api: {
      met:
        hour.usd_per_million.function_url_over_rest_api < 0.1 &&
        minute.usd_per_million.function_url_over_rest_api < 0.1,
      ratio_3600s: hour.usd_per_million.function_url_over_rest_api,
      ratio_60s: minute.usd_per_million.function_url_over_rest_api,
      // Not part of the goal as set (its price list names no logs), but part of the bill.
      with_cloudwatch_logs: {
        met:
          hour.usd_per_million.function_url_over_rest_api_with_logs < 0.1 &&
          minute.usd_per_million.function_url_over_rest_api_with_logs < 0.1,
        ratio_3600s: hour.usd_per_million.function_url_over_rest_api_with_logs,
        ratio_60s: minute.usd_per_million.function_url_over_rest_api_with_logs,
      },
    },
  };
}
