import { FaultSchedule, statusFaultAnswer, validateFault, validateResetFault } from '@tvs/simulator/faults';
import { describe, expect, it } from 'vitest';

/** One well-formed fault of every kind each endpoint takes. */
const TOKEN_FAULTS = [
  { kind: 'status', status: 503 },
  { kind: 'status', status: 200, body: 'x', headers: { 'Retry-After': '1' } },
  { kind: 'slow-headers', delayMs: 0 },
  { kind: 'slow-body', delayMs: 10 },
  { kind: 'reset-mid-body' },
  { kind: 'empty-200' },
  { kind: 'non-json-200' },
  { kind: 'json-200', body: null },
  { kind: 'close-without-answer' },
  { kind: 'endless-200', contentLength: false },
];
const RESET_FAULTS = [
  { kind: 'status', status: 599, body: '{}' },
  { kind: 'close-before-reset' },
  { kind: 'close-after-reset' },
  { kind: 'slow-headers', delayMs: 5 },
  { kind: 'lands-late', delayMs: 0 },
  { kind: 'reset-mid-body' },
];

describe('the fault validators', () => {
  it.each(TOKEN_FAULTS)('take the token fault %j as it is', (fault) => {
    expect(validateFault(fault)).toBe(fault);
  });

  it.each(RESET_FAULTS)('take the reset fault %j as it is', (fault) => {
    expect(validateResetFault(fault)).toBe(fault);
  });

  it('keep the two sets apart: a kind only one endpoint has is refused by the other', () => {
    for (const kind of ['slow-body', 'empty-200', 'non-json-200', 'close-without-answer']) {
      expect(() => validateResetFault({ kind })).toThrow(TypeError);
    }
    expect(() => validateResetFault({ kind: 'json-200', body: 1 })).toThrow(TypeError);
    expect(() => validateResetFault({ kind: 'endless-200', contentLength: true })).toThrow(TypeError);
    for (const kind of ['close-before-reset', 'close-after-reset']) {
      expect(() => validateFault({ kind })).toThrow(TypeError);
    }
    expect(() => validateFault({ kind: 'lands-late', delayMs: 1 })).toThrow(TypeError);
  });

  it.each([
    null,
    'status',
    [],
    {},
    { kind: 'toString' },
    { kind: 'status', status: 199 },
    { kind: 'status', status: 600 },
    { kind: 'status', status: 500.5 },
    { kind: 'status', status: '500' },
    { kind: 'status', status: 500, body: {} },
    { kind: 'status', status: 500, headers: null },
    { kind: 'status', status: 500, headers: { 'Retry-After': 1 } },
    { kind: 'slow-headers' },
    { kind: 'slow-headers', delayMs: -1 },
    { kind: 'slow-headers', delayMs: Number.POSITIVE_INFINITY },
    { kind: 'slow-body', delayMs: '10' },
    { kind: 'json-200' },
    { kind: 'endless-200' },
    { kind: 'endless-200', contentLength: 1 },
  ])('refuse the malformed token fault %j, naming it', (fault) => {
    expect(() => validateFault(fault)).toThrow(new TypeError(`invalid fault: ${JSON.stringify(fault)}`));
  });

  it.each([
    null,
    { kind: 'status', status: 700 },
    { kind: 'status', status: 500, headers: { a: ['b'] } },
    { kind: 'lands-late' },
    { kind: 'lands-late', delayMs: Number.NaN },
    { kind: 'slow-headers', delayMs: -1 },
  ])('refuse the malformed reset fault %j, naming it', (fault) => {
    expect(() => validateResetFault(fault)).toThrow(
      new TypeError(`invalid reset fault: ${JSON.stringify(fault)}`),
    );
  });
});

describe('FaultSchedule', () => {
  it('hands out the queued faults in order, then the persistent one until it is cleared', () => {
    const schedule = new FaultSchedule(validateFault);
    schedule.setPersistent({ kind: 'empty-200' });
    schedule.inject({ kind: 'status', status: 500 }, { kind: 'reset-mid-body' });
    expect(schedule.next()).toEqual({ kind: 'status', status: 500 });
    expect(schedule.next()).toEqual({ kind: 'reset-mid-body' });
    expect(schedule.next()).toEqual({ kind: 'empty-200' });
    expect(schedule.next()).toEqual({ kind: 'empty-200' });
    schedule.setPersistent(undefined);
    expect(schedule.persistent).toBeUndefined();
    expect(schedule.next()).toBeUndefined();
  });

  it('queues none of the faults when one is malformed, and keeps the persistent one', () => {
    const schedule = new FaultSchedule(validateFault);
    schedule.setPersistent({ kind: 'empty-200' });
    expect(() => schedule.inject({ kind: 'empty-200' }, { kind: 'nope' })).toThrow(TypeError);
    expect(() => schedule.setPersistent({ kind: 'nope' })).toThrow(TypeError);
    expect(schedule.persistent).toEqual({ kind: 'empty-200' });
    expect(schedule.next()).toEqual({ kind: 'empty-200' });
    schedule.setPersistent(undefined);
    expect(schedule.next()).toBeUndefined();
  });
});

describe('statusFaultAnswer', () => {
  it.each([
    [400, 'token', 'invalid_request'],
    [401, 'token', 'invalid_client'],
    [401, 'reset', 'invalid_token'],
    [403, 'token', 'access_denied'],
    [403, 'reset', 'insufficient_scope'],
    [429, 'reset', 'too_many_requests'],
    [503, 'token', 'temporarily_unavailable'],
    [502, 'token', 'server_error'],
    [200, 'reset', 'server_error'],
  ] as const)('answers %i on the %s endpoint with a JSON %s error by default', (status, endpoint, error) => {
    const answer = statusFaultAnswer({ kind: 'status', status }, endpoint);
    expect(answer.status).toBe(status);
    expect(answer.headers['Content-Type']).toBe('application/json;charset=UTF-8');
    expect(answer.headers['Cache-Control']).toBe('no-store');
    expect(JSON.parse(answer.body)).toEqual({ error, error_description: `simulated HTTP ${status}` });
  });

  it('challenges a 401 the way the endpoint authenticates: Basic for tokens, Bearer for resets', () => {
    expect(statusFaultAnswer({ kind: 'status', status: 401 }, 'token').headers['WWW-Authenticate']).toBe(
      'Basic realm="identity-cloud-simulator"',
    );
    expect(statusFaultAnswer({ kind: 'status', status: 401 }, 'reset').headers['WWW-Authenticate']).toBe(
      'Bearer realm="identity-cloud-simulator", error="invalid_token"',
    );
    expect(statusFaultAnswer({ kind: 'status', status: 403 }, 'token').headers).not.toHaveProperty(
      'WWW-Authenticate',
    );
  });

  it('sends a given body as is, typed JSON or plain text by what it is, with the given headers last', () => {
    const json = statusFaultAnswer({ kind: 'status', status: 502, body: '{"a":1}' }, 'token');
    expect(json).toEqual({
      status: 502,
      headers: {
        'Content-Type': 'application/json;charset=UTF-8',
        'Cache-Control': 'no-store',
        Pragma: 'no-cache',
      },
      body: '{"a":1}',
    });
    const text = statusFaultAnswer(
      {
        kind: 'status',
        status: 401,
        body: 'nope',
        headers: { 'WWW-Authenticate': 'Other', 'Retry-After': '3' },
      },
      'reset',
    );
    expect(text).toEqual({
      status: 401,
      headers: {
        'Content-Type': 'text/plain;charset=UTF-8',
        'Cache-Control': 'no-store',
        Pragma: 'no-cache',
        'WWW-Authenticate': 'Other',
        'Retry-After': '3',
      },
      body: 'nope',
    });
  });
});
