/**
 * The admin endpoints, for tests and tools in other processes: `GET /_sim/stats` →
 * `{"tokenRequests":N,"issued":N,"resetRequests":N,"secretResets":N}`, `POST /_sim/reset` (the counters),
 * and `POST /_sim/fault` with a JSON fault (or `{}` to clear) as an endpoint's persistent fault — the
 * token endpoint's, or with `"endpoint":"reset"` among its fields, the secret-reset endpoint's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { errorAnswer, jsonAnswer } from './answers.js';
import type { Fault, FaultedEndpoint, ResetFault } from './faults.js';
import { readBody, writeAnswer } from './http.js';
import type { SimulatorState } from './state.js';

const STATS_PATH = '/_sim/stats';
const RESET_PATH = '/_sim/reset';
const FAULT_PATH = '/_sim/fault';

/** The answer of `POST /_sim/fault`: which endpoint's persistent fault is now what. */
export interface AdminFaultAnswer {
  endpoint: FaultedEndpoint;
  fault: Fault | ResetFault | null;
}

/** Whether `path` is one of the admin endpoints. */
export function isAdminPath(path: string): boolean {
  return path === STATS_PATH || path === RESET_PATH || path === FAULT_PATH;
}

/**
 * Sets or clears an endpoint's persistent fault from a `/_sim/fault` body (`endpoint` defaults to
 * `token`; no other field clears); throws a `TypeError`, changing nothing, if the body is malformed.
 */
export function setFaultFromAdmin(state: SimulatorState, parsed: unknown): AdminFaultAnswer {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TypeError('not an object');
  }
  const { endpoint = 'token', ...fault } = parsed as Record<string, unknown>;
  if (endpoint !== 'token' && endpoint !== 'reset') {
    throw new TypeError('endpoint must be "token" or "reset"');
  }
  const schedule = state.faults[endpoint];
  schedule.setPersistent(Object.keys(fault).length === 0 ? undefined : fault);
  return { endpoint, fault: schedule.persistent ?? null };
}

/** Parses a `/_sim/fault` body and applies it: the answer, or `undefined` if the body is malformed. */
function applyFaultBody(state: SimulatorState, body: string | undefined): AdminFaultAnswer | undefined {
  try {
    return setFaultFromAdmin(state, JSON.parse(body ?? ''));
  } catch {
    return undefined;
  }
}

/** Serves one of the admin endpoints (`path` is one, see {@link isAdminPath}). */
export async function handleAdmin(
  state: SimulatorState,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  const expected = path === STATS_PATH ? 'GET' : 'POST';
  if (req.method !== expected) {
    writeAnswer(res, errorAnswer(405, 'invalid_request', `use ${expected}`, { Allow: expected }));
    return;
  }
  if (path === RESET_PATH) state.resetCounters();
  if (path !== FAULT_PATH) {
    writeAnswer(res, jsonAnswer(200, state.stats()));
    return;
  }
  const result = applyFaultBody(state, await readBody(req));
  writeAnswer(
    res,
    result === undefined
      ? errorAnswer(400, 'invalid_request', 'body must be a JSON fault or {}, with an optional endpoint')
      : jsonAnswer(200, result),
  );
}
