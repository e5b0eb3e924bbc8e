import {
  describeError,
  MethodNotAllowedError,
  NotFoundError,
  routeMethod,
  ServiceError,
  UpstreamRejectedError,
} from '@tvs/client/contract';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { VendingService, VendResult } from '../flow/vending-service.js';
import { type FunctionUrlEvent, type HttpRequest, httpRequestOf } from './events.js';
import { errorResponse, jsonResponse, parseTokenRequest } from './http.js';

/** Structured log sink: Powertools Logger in Lambda, anything with the same two methods in tests. */
export interface RequestLog {
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

/** Counters for CloudWatch (EMF in Lambda). */
export interface RequestMetrics {
  count(
    name:
      | 'TokenVended'
      | 'CacheHit'
      | 'UpstreamCall'
      | 'UpstreamFailure'
      | 'StoreFailure'
      | 'MintThrottled'
      | 'RotationFailed'
      | 'Error',
  ): void;
  /**
   * Count `name` once more with one dimension besides `service` (a metric of its own in CloudWatch):
   * `MintThrottled` by `spender`, so the one spending a budget is found on a graph.
   */
  countBy?(name: 'MintThrottled', dimension: 'spender', value: string): void;
  flush(): void;
}

/** What the handler needs; built once per container by `runtime.ts`. */
export interface HandlerRuntime {
  readonly service: VendingService;
  readonly log: RequestLog;
  readonly metrics: RequestMetrics;
  readonly now?: () => number;
}

/** The scheduled pre-warm event (an EventBridge rule with a constant input). */
export interface PrewarmEvent {
  readonly source: 'tvs.prewarm';
  readonly tokens: readonly { readonly client: string; readonly scope: string }[];
  /** Refresh tokens due within this many seconds past their margin. @default 600 */
  readonly lookAheadSeconds?: number;
}

function isPrewarmEvent(event: unknown): event is PrewarmEvent {
  return (
    typeof event === 'object' &&
    event !== null &&
    (event as { source?: unknown }).source === 'tvs.prewarm' &&
    Array.isArray((event as { tokens?: unknown }).tokens)
  );
}

function tokenBody(result: VendResult, nowMs: number) {
  const { token } = result;
  return {
    access_token: token.accessToken,
    token_type: 'Bearer',
    expires_in: Math.max(0, token.expiresAt - Math.floor(nowMs / 1000)),
    expires_at: new Date(token.expiresAt * 1000).toISOString(),
    issued_at: new Date(token.issuedAt * 1000).toISOString(),
    scope: token.scope,
    client: result.client,
  };
}

/**
 * The Lambda handler over a runtime: parse the event (the REST API's or a function URL's, `events.ts`),
 * call the service, map the result. One structured log line per request; the token itself appears only as
 * its fingerprint. The answer, `{statusCode, headers, body}`, is what both front doors take.
 */
export function createHandler(runtime: HandlerRuntime) {
  const now = runtime.now ?? Date.now;
  const { service, log, metrics } = runtime;

  async function prewarm(event: PrewarmEvent) {
    const outcomes = await Promise.allSettled(
      // async: a malformed entry becomes that entry's failure, not the whole run's.
      event.tokens.map(async (entry) =>
        service.prewarm(entry.client, entry.scope, event.lookAheadSeconds ?? 600),
      ),
    );
    outcomes.forEach((outcome, index) => {
      const entry = event.tokens[index];
      if (outcome.status === 'fulfilled') {
        log.info('pre-warm', {
          client: entry?.client,
          scope: outcome.value.token.scope,
          source: outcome.value.source,
          fingerprint: outcome.value.token.fingerprint,
        });
      } else {
        log.warn('pre-warm failed', { client: entry?.client, error: describeError(outcome.reason) });
      }
    });
    metrics.flush();
    return {
      refreshed: outcomes.filter((o) => o.status === 'fulfilled').length,
      failed: outcomes.filter((o) => o.status === 'rejected').length,
    };
  }

  async function route(request: HttpRequest, line: Record<string, unknown>): Promise<APIGatewayProxyResult> {
    const { path, caller } = request;
    const method = routeMethod(path);
    if (method === undefined) throw new NotFoundError('no such resource');
    if (request.method !== method) throw new MethodNotAllowedError(`use ${method} for ${path}`, method);
    if (path === '/v1/clients') return jsonResponse(200, { clients: service.listClients(caller) });

    const tokenRequest = parseTokenRequest(request);
    line.client = tokenRequest.client;
    const result = await service.vend(caller, tokenRequest);
    line.scope = result.token.scope;
    line.source = result.source;
    line.fingerprint = result.token.fingerprint;
    if (result.waited) line.waited = true;
    metrics.count('TokenVended');
    if (result.source !== 'upstream') metrics.count('CacheHit');
    return jsonResponse(200, tokenBody(result, now()));
  }

  /** The route's answer, or the error's (noted on the log line). */
  async function answer(request: HttpRequest, line: Record<string, unknown>): Promise<APIGatewayProxyResult> {
    try {
      return await route(request, line);
    } catch (error) {
      const response = errorResponse(error);
      noteFailure(line, error);
      return response;
    }
  }

  /** What failed, on the log line; an error that is no `ServiceError` is unexpected, counted and described. */
  function noteFailure(line: Record<string, unknown>, error: unknown): void {
    line.error = error instanceof ServiceError ? error.error : 'server_error';
    line.code = error instanceof ServiceError ? error.code : 'TVS_ERR_INTERNAL';
    if (error instanceof UpstreamRejectedError) line.reason = error.reason;
    if (!(error instanceof ServiceError)) {
      metrics.count('Error');
      line.detail = describeError(error);
    }
  }

  /** The request's one log line, at the level its status deserves. */
  function logRequest(line: Record<string, unknown>, status: number): void {
    if (status >= 500) log.error('request failed', line);
    else if (status >= 400) log.warn('request refused', line);
    else log.info(line.fingerprint ? 'token served' : 'request served', line);
  }

  return async function handler(
    event: APIGatewayProxyEvent | FunctionUrlEvent | PrewarmEvent,
  ): Promise<APIGatewayProxyResult | object> {
    if (isPrewarmEvent(event)) return prewarm(event);
    const started = now();
    // Either front door's event, as one request: everything below is the same for both.
    const request = httpRequestOf(event);
    const line: Record<string, unknown> = {
      caller: request.caller,
      method: request.method,
      path: request.path,
    };
    const response = await answer(request, line);
    line.status = response.statusCode;
    line.duration_ms = now() - started;
    logRequest(line, response.statusCode);
    metrics.flush();
    return response;
  };
}
