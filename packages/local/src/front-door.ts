/**
 * The front door `tvs serve` emulates in front of the Lambda (docs/contract.md "Endpoint kinds"): what it
 * answers itself, never reaching the function — a route it does not have, a body too large, a signature
 * it refuses, an account its resource policy does not admit — and the event it hands the function.
 * - `rest-api`: API Gateway's — SigV4 for `execute-api`, only the two routes, the REST proxy event.
 * - `function-url`: a function URL's — SigV4 for `lambda`, every path passed on, the payload 2.0 event.
 */
import { type EndpointKind, routeMethod, SIGNING_SERVICE } from '@tvs/client/contract';
import type { FunctionUrlEvent } from '@tvs/core/entry/events';
import { principalAccount } from '@tvs/core/policy/admission';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { type ReceivedHttpRequest, toApiGatewayEvent, toFunctionUrlEvent } from './lambda-events.js';
import type { LocalSection } from './local-config.js';
import {
  type LocalCaller,
  type ReceivedRequest,
  type SignatureRefusal,
  SigV4Verifier,
} from './sigv4-verifier.js';

/** An answer of the front door's own: its status, `x-amzn-ErrorType` and message. */
export interface GatewayAnswer {
  readonly status: number;
  readonly errorType: string;
  readonly message: string;
}

/** What both front doors answer a body larger than they take. */
export const REQUEST_TOO_LONG: GatewayAnswer = {
  status: 413,
  errorType: 'RequestEntityTooLargeException',
  message: 'Request Too Long',
};

/** What both front doors answer when the function fails to answer. */
export const INTERNAL_SERVER_ERROR: GatewayAnswer = {
  status: 500,
  errorType: 'InternalServerErrorException',
  message: 'Internal server error',
};

/** What API Gateway answers a method and path it has no route for. */
const MISSING_AUTHENTICATION_TOKEN: GatewayAnswer = {
  status: 403,
  errorType: 'MissingAuthenticationTokenException',
  message: 'Missing Authentication Token',
};

/** What a function URL answers an unsigned request; other refusals keep the verifier's messages. */
export const FUNCTION_URL_FORBIDDEN =
  'Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html';

/** A request the front door let through, and who sent it. */
export interface FrontDoorAdmission {
  readonly ok: true;
  readonly caller: LocalCaller;
}

/** A request the front door refused before the function ran. */
export interface FrontDoorRefusal {
  readonly ok: false;
  /** The error type of the check that refused it: the SigV4 check's, or the resource policy's. */
  readonly errorType: string;
  /** What the front door answers. */
  readonly answer: GatewayAnswer;
}

/** The front door of one endpoint kind over the `local` section's callers and admitted accounts. */
export class FrontDoor {
  /** The SigV4 check, for the kind's signing service and the section's region and callers. */
  readonly verifier: SigV4Verifier;
  /** The accounts the resource policy admits; absent, every configured caller's account. */
  readonly admittedAccounts: ReadonlySet<string> | undefined;

  constructor(
    readonly kind: EndpointKind,
    local: LocalSection,
  ) {
    this.verifier = new SigV4Verifier({
      callers: local.callers,
      region: local.region,
      service: SIGNING_SERVICE[kind],
    });
    this.admittedAccounts = local.allowedAccounts;
  }

  /**
   * The answer to a method and path the front door has no route for. API Gateway has only the service's
   * routes and answers anything else itself; a function URL has none: every path reaches the function,
   * which answers 404 or 405 itself.
   */
  unroutedAnswer(method: string, path: string): GatewayAnswer | undefined {
    if (this.kind === 'rest-api' && routeMethod(path) !== method) return MISSING_AUTHENTICATION_TOKEN;
    return undefined;
  }

  /** The SigV4 check, then the resource policy's admission of the caller's account. */
  async authorize(request: ReceivedRequest): Promise<FrontDoorAdmission | FrontDoorRefusal> {
    const verdict = await this.verifier.verify(request);
    if (!verdict.ok)
      return { ok: false, errorType: verdict.errorType, answer: this.signatureAnswer(verdict) };
    if (!this.admits(verdict.caller.arn)) {
      const answer = this.notAdmittedAnswer(verdict.caller.arn, request.method, request.path);
      return { ok: false, errorType: answer.errorType, answer };
    }
    return verdict;
  }

  /** Whether the resource policy admits the account of `callerArn`. */
  admits(callerArn: string): boolean {
    if (this.admittedAccounts === undefined) return true;
    const account = principalAccount(callerArn);
    return account !== undefined && this.admittedAccounts.has(account);
  }

  /** The event the front door hands the function for an admitted request. */
  eventFor(request: ReceivedHttpRequest): APIGatewayProxyEvent | FunctionUrlEvent {
    return this.kind === 'function-url' ? toFunctionUrlEvent(request) : toApiGatewayEvent(request);
  }

  /** The body of the front door's own answer: `{"message": …}` from API Gateway, `{"Message": …}` from a function URL. */
  answerBody(message: string): string {
    return JSON.stringify(this.kind === 'function-url' ? { Message: message } : { message });
  }

  private signatureAnswer(refusal: SignatureRefusal): GatewayAnswer {
    if (this.kind === 'function-url' && refusal.errorType === 'MissingAuthenticationTokenException') {
      return { status: 403, errorType: 'AccessDeniedException', message: FUNCTION_URL_FORBIDDEN };
    }
    return { status: 403, errorType: refusal.errorType, message: refusal.message };
  }

  /** What the resource policy answers a caller of an account it does not admit. */
  private notAdmittedAnswer(callerArn: string, method: string, path: string): GatewayAnswer {
    if (this.kind === 'function-url') {
      return { status: 403, errorType: 'AccessDeniedException', message: FUNCTION_URL_FORBIDDEN };
    }
    return {
      status: 403,
      errorType: 'AccessDeniedException',
      message: `User: ${callerArn} is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:local:local:local/local/${method}${path} because no resource-based policy allows the execute-api:Invoke action`,
    };
  }
}
