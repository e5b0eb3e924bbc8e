/**
 * The misbehaviours the simulator can be told to show: the kinds each endpoint takes ({@link Fault} for
 * the token endpoint, {@link ResetFault} for the secret-reset endpoint), one table that checks them, the
 * schedule that hands them to requests, and the answer of a `status` fault.
 */
import { type Answer, bearerChallenge, errorAnswer, JSON_TYPE, NO_STORE, REALM } from './answers.js';

/** A misbehaviour of the token endpoint, applied to one token request (or to all, when persistent). */
export type Fault =
  /** Answer this status; without `body`, an RFC 6749 §5.2 JSON error body fitting the status. */
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  /** Read the request, then wait `delayMs` before writing the status line (and then answer normally). */
  | { kind: 'slow-headers'; delayMs: number }
  /** Write the normal answer's headers and part of its body, stall `delayMs`, then write the rest. */
  | { kind: 'slow-body'; delayMs: number }
  /** Write the normal answer's headers and part of its body, then reset the connection. */
  | { kind: 'reset-mid-body' }
  /** 200 with `Content-Type: application/json` and an empty body. */
  | { kind: 'empty-200' }
  /** 200 with `Content-Type: application/json` and an HTML body (a proxy's error page, say). */
  | { kind: 'non-json-200' }
  /** 200 with this value as JSON body, whatever it is. */
  | { kind: 'json-200'; body: unknown }
  /** Destroy the connection right after reading the request, without answering. */
  | { kind: 'close-without-answer' }
  /**
   * 200 whose JSON body never ends: 16 KiB chunks, written as fast as the reader takes them, until the
   * connection closes (or 1 GiB). With `contentLength`, the headers claim 1 GiB; without, the body is
   * chunked. `IdentityCloudSimulator.endlessBodyBytes` tells how much a reader took before it let go.
   */
  | { kind: 'endless-200'; contentLength: boolean };

/**
 * A misbehaviour of the secret-reset endpoint, applied to one reset request (or to all, when
 * persistent). What matters to a rotation is whether the secret changed, so each kind says so.
 */
export type ResetFault =
  /**
   * Answer this status without resetting anything (the secret is unchanged); without `body`, an
   * RFC 6750 / RFC 6749 JSON error body fitting the status.
   */
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  /** Destroy the connection right after reading the request: no answer, and the secret is unchanged. */
  | { kind: 'close-before-reset' }
  /**
   * Handle the request normally — an authorized reset takes effect and its secret is recorded in
   * `issuedSecrets` — then destroy the connection without answering: the secret changed, and the caller
   * never saw the new one.
   */
  | { kind: 'close-after-reset' }
  /** Handle the request normally (an authorized reset takes effect at once), then wait `delayMs` before answering. */
  | { kind: 'slow-headers'; delayMs: number }
  /**
   * A slow answer that lands late: wait `delayMs`, and only then let an authorized reset take effect and
   * answer it (to nobody, if the caller gave up): the secret changes after the caller stopped waiting.
   */
  | { kind: 'lands-late'; delayMs: number }
  /**
   * Handle the request normally (an authorized reset takes effect), write the headers and part of the
   * body, then reset the connection: the caller sees a 201 but not the whole secret.
   */
  | { kind: 'reset-mid-body' };

/** The endpoints faults can target. */
export type FaultedEndpoint = 'token' | 'reset';

/** The fields of a `status` fault, which both endpoints take. */
export type StatusFault = Extract<Fault | ResetFault, { kind: 'status' }>;

/** Whether the fields of a fault (its `kind` already known) are well-formed for that kind. */
type FieldsCheck = (fault: Partial<Record<string, unknown>>) => boolean;

const noFields: FieldsCheck = () => true;

const delayField: FieldsCheck = (fault) =>
  typeof fault.delayMs === 'number' && Number.isFinite(fault.delayMs) && fault.delayMs >= 0;

const statusFields: FieldsCheck = (fault) =>
  Number.isInteger(fault.status) &&
  (fault.status as number) >= 200 &&
  (fault.status as number) <= 599 &&
  (fault.body === undefined || typeof fault.body === 'string') &&
  (fault.headers === undefined || isStringRecord(fault.headers));

function isStringRecord(value: unknown): boolean {
  return (
    typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string')
  );
}

/** The kinds of {@link Fault}, each with the check of its fields. */
const TOKEN_FAULT_KINDS: Record<Fault['kind'], FieldsCheck> = {
  status: statusFields,
  'slow-headers': delayField,
  'slow-body': delayField,
  'reset-mid-body': noFields,
  'empty-200': noFields,
  'non-json-200': noFields,
  'json-200': (fault) => 'body' in fault,
  'close-without-answer': noFields,
  'endless-200': (fault) => typeof fault.contentLength === 'boolean',
};

/** The kinds of {@link ResetFault}, each with the check of its fields. */
const RESET_FAULT_KINDS: Record<ResetFault['kind'], FieldsCheck> = {
  status: statusFields,
  'close-before-reset': noFields,
  'close-after-reset': noFields,
  'slow-headers': delayField,
  'lands-late': delayField,
  'reset-mid-body': noFields,
};

/** A check that a value is a fault of one of `kinds`, with its fields well-formed; throws a `TypeError` if not. */
function faultValidator<F extends { kind: string }>(
  name: string,
  kinds: Record<F['kind'], FieldsCheck>,
): (fault: unknown) => F {
  const checks: Record<string, FieldsCheck> = kinds;
  return (fault) => {
    const f = fault as Partial<Record<string, unknown>> | null;
    const check =
      typeof f === 'object' && f !== null && typeof f.kind === 'string' && Object.hasOwn(checks, f.kind)
        ? checks[f.kind]
        : undefined;
    if (check === undefined || !check(f as Partial<Record<string, unknown>>)) {
      throw new TypeError(`invalid ${name}: ${JSON.stringify(fault)}`);
    }
    return fault as F;
  };
}

/** `fault` as a token endpoint {@link Fault}; throws a `TypeError` if it is not one. */
export const validateFault = faultValidator<Fault>('fault', TOKEN_FAULT_KINDS);

/** `fault` as a secret-reset endpoint {@link ResetFault}; throws a `TypeError` if it is not one. */
export const validateResetFault = faultValidator<ResetFault>('reset fault', RESET_FAULT_KINDS);

/**
 * The faults of one endpoint: a queue, each queued fault taken by one request, and a persistent fault
 * for requests that find the queue empty. Every fault is validated as it is scheduled.
 */
export class FaultSchedule<F> {
  private readonly queue: F[] = [];
  private persistentFault: F | undefined;

  constructor(private readonly validate: (fault: unknown) => F) {}

  /** The persistent fault, if any. */
  get persistent(): F | undefined {
    return this.persistentFault;
  }

  /** Queues `faults` after the queued ones; throws, queuing none, if one is malformed. */
  inject(...faults: unknown[]): void {
    const valid = faults.map((fault) => this.validate(fault));
    this.queue.push(...valid);
  }

  /** Sets the persistent fault, or clears it with `undefined`; throws, changing nothing, if malformed. */
  setPersistent(fault: unknown): void {
    this.persistentFault = fault === undefined ? undefined : this.validate(fault);
  }

  /** The fault the next request takes: the first queued one (dequeued), else the persistent one. */
  next(): F | undefined {
    return this.queue.shift() ?? this.persistentFault;
  }
}

function defaultErrorCode(status: number, endpoint: FaultedEndpoint): string {
  switch (status) {
    case 400:
      return 'invalid_request';
    case 401:
      return endpoint === 'token' ? 'invalid_client' : 'invalid_token';
    case 403:
      return endpoint === 'token' ? 'access_denied' : 'insufficient_scope';
    case 429:
      return 'too_many_requests';
    case 503:
      return 'temporarily_unavailable';
    default:
      return 'server_error';
  }
}

/** The answer of a `status` fault: the given body as is, or a JSON error fitting the status and endpoint. */
export function statusFaultAnswer(fault: StatusFault, endpoint: FaultedEndpoint): Answer {
  const challenge = endpoint === 'token' ? `Basic realm="${REALM}"` : bearerChallenge('invalid_token');
  const headers = { ...NO_STORE, ...(fault.status === 401 ? { 'WWW-Authenticate': challenge } : {}) };
  if (fault.body === undefined) {
    const code = defaultErrorCode(fault.status, endpoint);
    return errorAnswer(fault.status, code, `simulated HTTP ${fault.status}`, {
      ...headers,
      ...fault.headers,
    });
  }
  const type = isJson(fault.body) ? JSON_TYPE : 'text/plain;charset=UTF-8';
  return {
    status: fault.status,
    headers: { 'Content-Type': type, ...headers, ...fault.headers },
    body: fault.body,
  };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
