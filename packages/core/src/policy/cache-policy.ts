/**
 * The cache policy: pure functions of a token (or a budget record), what one request needs, and an
 * injected `nowMs`. They decide what may be served, what must be refreshed, and whether a mint may
 * happen now (docs/contract.md "Bounded upstream use"). No I/O, no clock of their own.
 */
import { ConfigError, MinTtlUnattainableError, refreshMarginSeconds } from '@tvs/client/contract';
import type { CachedToken, Mint } from '../record/cache-record.js';

/** What one request needs of a token. */
export interface Need {
  /** The canonical scope; a token is served only for exactly its own scope. */
  readonly scope: string;
  /** The token must stay valid at least this long, seconds. */
  readonly minTtl: number;
  /** Fingerprint of a token the caller saw rejected: never serve that one. */
  readonly reject?: string;
  /** Count a token as due this many seconds before its refresh margin (the scheduled pre-warm looks ahead). */
  readonly lookAhead: number;
}

/** The tunables of the policy. */
export interface PolicySettings {
  /** A fixed refresh margin, seconds. Default: the smaller of 300 s and a quarter of the token's lifetime. */
  readonly refreshMarginSeconds?: number;
  /** Two mints of one key forced by `reject` or `min_ttl` are at least this far apart, seconds. */
  readonly minMintIntervalSeconds: number;
  /** Upstream mints per client per minute, across every key and container. */
  readonly mintsPerMinute: number;
  /**
   * Of those, mints one spender — a caller, or every caller of one wildcard grant together — may cause
   * per minute: its new keys, its forced refreshes, and the upkeep of its keys beyond the allowance.
   */
  readonly mintsPerCallerPerMinute: number;
  /**
   * Refreshes of a spender's keys still in use (upkeep) that are free of its share, per minute: the
   * small allowance of kept keys (five refreshes a minute keep about six keys of 60 s tokens alive, or
   * any number of hour-long ones). So a spender causes at most `mintsPerCallerPerMinute` plus this many
   * mints a minute, however many keys it keeps alive.
   *
   * @default 5
   */
  readonly upkeepAllowancePerMinute?: number;
  /** While a client's upstream circuit is open, at most one probe reaches Identity Cloud this often, ms. */
  readonly probeIntervalMs: number;
}

export const DEFAULT_POLICY: PolicySettings = {
  minMintIntervalSeconds: 30,
  mintsPerMinute: 30,
  mintsPerCallerPerMinute: 5,
  upkeepAllowancePerMinute: 5,
  probeIntervalMs: 2_000,
};

/** The window the mint budget counts over, ms. */
export const BUDGET_WINDOW_MS = 60_000;

function seconds(nowMs: number): number {
  return Math.floor(nowMs / 1000);
}

/** A token's lifetime as Identity Cloud granted it, seconds. */
export function lifetimeOf(token: CachedToken): number {
  return token.expiresAt - token.issuedAt;
}

/** The refresh margin of tokens of `lifetime` seconds: refreshed this long before they expire. */
export function refreshMargin(lifetime: number, settings: PolicySettings): number {
  return refreshMarginSeconds(lifetime, settings.refreshMarginSeconds);
}

/**
 * May `token` be handed out for `need` at all: its exact scope, not the rejected one, unexpired, and
 * valid for at least `min_ttl`. An expired token is never servable, whatever else fails.
 */
export function servable(token: CachedToken | undefined, need: Need, nowMs: number): token is CachedToken {
  if (token === undefined || token.scope !== need.scope || token.fingerprint === need.reject) return false;
  const left = token.expiresAt - seconds(nowMs);
  return left > 0 && left >= need.minTtl;
}

/** Servable, and outside its refresh margin (plus `lookAhead`): served without anyone refreshing it. */
export function fresh(
  token: CachedToken | undefined,
  need: Need,
  nowMs: number,
  settings: PolicySettings,
): token is CachedToken {
  if (!servable(token, need, nowMs)) return false;
  const left = token.expiresAt - seconds(nowMs);
  return left > refreshMargin(lifetimeOf(token), settings) + need.lookAhead;
}

/**
 * Why `need` can never be met by tokens of `lifetime` seconds, or undefined: a `min_ttl` above
 * `lifetime − refresh margin` would force a mint on almost every request (400 `invalid_request`,
 * `TVS_ERR_MIN_TTL_UNATTAINABLE`).
 */
export function minTtlRefusal(
  lifetime: number,
  need: Need,
  settings: PolicySettings,
): MinTtlUnattainableError | undefined {
  const longest = Math.floor(lifetime - refreshMargin(lifetime, settings));
  if (need.minTtl <= longest) return undefined;
  return new MinTtlUnattainableError(
    `min_ttl ${need.minTtl} is above the ${longest} s a token of this client can promise (its lifetime ${lifetime} s minus the ${Math.ceil(refreshMargin(lifetime, settings))} s refresh margin)`,
  );
}

/**
 * A refresh the request forces on a token nobody else would refresh yet: the token is fresh for an
 * ordinary request, but this one rejects it or needs more `min_ttl` than it has left.
 */
export function isForcedRefresh(
  token: CachedToken | undefined,
  need: Need,
  nowMs: number,
  settings: PolicySettings,
): token is CachedToken {
  const ordinary: Need = { scope: need.scope, minTtl: 0, lookAhead: 0 };
  return fresh(token, ordinary, nowMs, settings) && !fresh(token, need, nowMs, settings);
}

/**
 * Seconds until this request may mint its key (0: now). Only a forced refresh waits: at least
 * `minMintIntervalSeconds` after the current token was minted. A missing, expired or due token may
 * always be replaced (a token lives at least a minute, so ordinary refresh never meets the interval).
 */
export function secondsUntilKeyMayMint(
  token: CachedToken | undefined,
  need: Need,
  nowMs: number,
  settings: PolicySettings,
): number {
  if (!isForcedRefresh(token, need, nowMs, settings)) return 0;
  return Math.max(0, token.issuedAt + settings.minMintIntervalSeconds - seconds(nowMs));
}

/** Who one mint is charged to. */
export interface Charge {
  /**
   * The spender: the caller's principal, or the principal pattern of the wildcard grant that admitted it
   * (all the roles one wildcard grant matches share one share).
   */
  readonly spender: string;
  /** The refresh of a key still in use that `spender` made (not a new key, not a forced refresh). */
  readonly upkeep: boolean;
}

/** The outcome of asking a client's budget for one more mint. */
export type BudgetDecision =
  | { readonly allowed: true; readonly mints: readonly Mint[] }
  | {
      readonly allowed: false;
      readonly reason: 'client_budget' | 'caller_budget';
      readonly retryAfterSeconds: number;
      /** Whoever spent what was refused: the charged spender, or the client budget's biggest spender. */
      readonly spender?: string;
    };

/** The spender with the most mints among `mints` (the service's own upkeep, `by` empty, excluded). */
function biggestSpender(mints: readonly Mint[]): string | undefined {
  const counts = new Map<string, number>();
  for (const mint of mints) if (mint.by !== '') counts.set(mint.by, (counts.get(mint.by) ?? 0) + 1);
  let biggest: string | undefined;
  for (const [spender, count] of counts)
    if (biggest === undefined || count > (counts.get(biggest) ?? 0)) biggest = spender;
  return biggest;
}

/**
 * May one more mint be counted in a client's budget, whose recent mints are `mints`: fewer than
 * `mintsPerMinute` in the last minute; and, when the mint is charged (`charge`), either upkeep within the
 * spender's free allowance (`upkeepAllowancePerMinute`), or fewer than `mintsPerCallerPerMinute` counted
 * mints of that spender. Uncharged mints (the scheduled pre-warm) meet the client budget only. Allowed:
 * the mints to store (the window's, plus this one). Refused: the seconds until the oldest mint that
 * blocks it leaves the window (at least 1), and the spender to name.
 */
export function decideBudget(
  mints: readonly Mint[],
  charge: Charge | undefined,
  nowMs: number,
  settings: PolicySettings,
): BudgetDecision {
  const recent = mints
    .filter((mint) => mint.at > nowMs - BUDGET_WINDOW_MS)
    .sort((left, right) => left.at - right.at);
  const wait = (blocking: readonly Mint[], limit: number) => {
    const oldest = blocking[blocking.length - limit];
    return Math.max(1, Math.ceil(((oldest?.at ?? nowMs) + BUDGET_WINDOW_MS - nowMs) / 1000));
  };
  const allow = (mint: Mint): BudgetDecision => ({ allowed: true, mints: [...recent, mint] });
  if (recent.length >= settings.mintsPerMinute) {
    const spender = biggestSpender(recent);
    return {
      allowed: false,
      reason: 'client_budget',
      retryAfterSeconds: wait(recent, settings.mintsPerMinute),
      ...(spender === undefined ? {} : { spender }),
    };
  }
  if (charge === undefined) return allow({ at: nowMs, by: '' });
  const own = recent.filter((mint) => mint.by === charge.spender);
  const allowance = settings.upkeepAllowancePerMinute ?? DEFAULT_POLICY.upkeepAllowancePerMinute ?? 0;
  if (charge.upkeep && own.filter((mint) => mint.upkeep).length < allowance) {
    return allow({ at: nowMs, by: charge.spender, upkeep: true });
  }
  const counted = own.filter((mint) => !mint.upkeep);
  if (counted.length >= settings.mintsPerCallerPerMinute) {
    return {
      allowed: false,
      reason: 'caller_budget',
      retryAfterSeconds: wait(counted, settings.mintsPerCallerPerMinute),
      spender: charge.spender,
    };
  }
  return allow({ at: nowMs, by: charge.spender });
}

/**
 * The policy with `overrides` applied, checked: every count a whole number of at least 1, the caller's
 * share no larger than the client's budget, a fixed refresh margin a whole number of seconds. Throws
 * {@link ConfigError} listing each problem (cold start and synth both call this).
 */
export function policyWith(overrides: Partial<PolicySettings> = {}): PolicySettings {
  const policy: PolicySettings = {
    minMintIntervalSeconds: overrides.minMintIntervalSeconds ?? DEFAULT_POLICY.minMintIntervalSeconds,
    mintsPerMinute: overrides.mintsPerMinute ?? DEFAULT_POLICY.mintsPerMinute,
    mintsPerCallerPerMinute: overrides.mintsPerCallerPerMinute ?? DEFAULT_POLICY.mintsPerCallerPerMinute,
    upkeepAllowancePerMinute: overrides.upkeepAllowancePerMinute ?? DEFAULT_POLICY.upkeepAllowancePerMinute,
    probeIntervalMs: overrides.probeIntervalMs ?? DEFAULT_POLICY.probeIntervalMs,
    ...(overrides.refreshMarginSeconds === undefined
      ? {}
      : { refreshMarginSeconds: overrides.refreshMarginSeconds }),
  };
  const problems: string[] = [];
  const whole = (name: keyof PolicySettings, min: number, max: number) => {
    const value = policy[name];
    if (value !== undefined && !(Number.isInteger(value) && value >= min && value <= max)) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, not ${value}`);
    }
  };
  whole('minMintIntervalSeconds', 0, 3_600);
  whole('mintsPerMinute', 1, 10_000);
  whole('mintsPerCallerPerMinute', 1, 10_000);
  whole('upkeepAllowancePerMinute', 0, 10_000);
  whole('refreshMarginSeconds', 1, 3_599);
  whole('probeIntervalMs', 100, 60_000);
  if (policy.mintsPerCallerPerMinute > policy.mintsPerMinute) {
    problems.push('mintsPerCallerPerMinute must not be above mintsPerMinute');
  }
  if (problems.length > 0) throw new ConfigError(problems.map((problem) => `policy: ${problem}`));
  return Object.freeze(policy);
}
