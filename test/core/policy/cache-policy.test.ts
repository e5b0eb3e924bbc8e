import { ConfigError, MinTtlUnattainableError } from '@tvs/client/contract';
import {
  BUDGET_WINDOW_MS,
  type Charge,
  DEFAULT_POLICY,
  decideBudget,
  fresh,
  isForcedRefresh,
  minTtlRefusal,
  type Need,
  policyWith,
  refreshMargin,
  secondsUntilKeyMayMint,
  servable,
} from '@tvs/core/policy/cache-policy';
import type { CachedToken, Mint } from '@tvs/core/record/cache-record';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const NOW = 1_800_000_000_000;
const nowSeconds = NOW / 1000;
const NEED: Need = { scope: '.:webhooks/**', minTtl: 0, lookAhead: 0 };

function token(issuedAgo: number, lifetime = 3_600, fingerprint = 'f1'): CachedToken {
  const issuedAt = nowSeconds - issuedAgo;
  return { accessToken: 'a', scope: NEED.scope, issuedAt, expiresAt: issuedAt + lifetime, fingerprint };
}

describe('refreshMargin', () => {
  it('uses a quarter of the lifetime as margin for short-lived tokens, at most 300 s, unless fixed', () => {
    expect(refreshMargin(60, DEFAULT_POLICY)).toBe(15);
    expect(refreshMargin(1_200, DEFAULT_POLICY)).toBe(300);
    expect(refreshMargin(3_600, DEFAULT_POLICY)).toBe(300);
    expect(refreshMargin(60, { ...DEFAULT_POLICY, refreshMarginSeconds: 42 })).toBe(42);
  });
});

describe('servable and fresh', () => {
  it('never serves an expired token, a token of another scope, a rejected one, or one shorter than min_ttl', () => {
    expect(servable(token(3_600), NEED, NOW)).toBe(false); // expires now
    expect(servable(token(3_599), NEED, NOW)).toBe(true);
    expect(servable({ ...token(0), scope: '.:webhooks/a' }, NEED, NOW)).toBe(false);
    expect(servable(token(0), { ...NEED, reject: 'f1' }, NOW)).toBe(false);
    expect(servable(token(0), { ...NEED, minTtl: 3_601 }, NOW)).toBe(false);
    expect(servable(undefined, NEED, NOW)).toBe(false);
  });

  it('counts a token as fresh only outside its refresh margin plus the look-ahead', () => {
    expect(fresh(token(3_299), NEED, NOW, DEFAULT_POLICY)).toBe(true); // 301 s left
    expect(fresh(token(3_300), NEED, NOW, DEFAULT_POLICY)).toBe(false); // 300 s left: due
    expect(fresh(token(2_000), { ...NEED, lookAhead: 1_400 }, NOW, DEFAULT_POLICY)).toBe(false);
  });

  it('holds for every token and time: fresh implies servable, and nothing expired is servable', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -7_200, max: 7_200 }),
        fc.integer({ min: 1, max: 86_400 }),
        fc.integer({ min: 0, max: 3_000 }),
        fc.integer({ min: 0, max: 3_600 }),
        (issuedAgo, lifetime, minTtl, lookAhead) => {
          const candidate = token(issuedAgo, lifetime);
          const need = { ...NEED, minTtl, lookAhead };
          if (fresh(candidate, need, NOW, DEFAULT_POLICY)) expect(servable(candidate, need, NOW)).toBe(true);
          if (candidate.expiresAt <= nowSeconds) expect(servable(candidate, need, NOW)).toBe(false);
        },
      ),
    );
  });
});

describe('minTtlRefusal', () => {
  it('refuses a min_ttl above lifetime minus the refresh margin, and names the bound', () => {
    expect(minTtlRefusal(3_600, { ...NEED, minTtl: 3_300 }, DEFAULT_POLICY)).toBeUndefined();
    const refusal = minTtlRefusal(3_600, { ...NEED, minTtl: 3_301 }, DEFAULT_POLICY);
    expect(refusal).toBeInstanceOf(MinTtlUnattainableError);
    expect(refusal).toMatchObject({
      status: 400,
      error: 'invalid_request',
      code: 'TVS_ERR_MIN_TTL_UNATTAINABLE',
    });
    expect(refusal?.message).toMatch(/3300 s/);
    expect(minTtlRefusal(1_200, { ...NEED, minTtl: 1_500 }, DEFAULT_POLICY)?.message).toMatch(
      /lifetime 1200 s/,
    );
    expect(minTtlRefusal(60, { ...NEED, minTtl: 45 }, DEFAULT_POLICY)).toBeUndefined();
    expect(minTtlRefusal(60, { ...NEED, minTtl: 46 }, DEFAULT_POLICY)).toBeDefined();
  });
});

describe('the minimum mint interval of a key', () => {
  it('makes a refresh forced by reject or min_ttl wait until 30 s after the current token was minted', () => {
    const current = token(10);
    expect(isForcedRefresh(current, { ...NEED, reject: 'f1' }, NOW, DEFAULT_POLICY)).toBe(true);
    expect(secondsUntilKeyMayMint(current, { ...NEED, reject: 'f1' }, NOW, DEFAULT_POLICY)).toBe(20);
    expect(secondsUntilKeyMayMint(token(3_000), { ...NEED, minTtl: 3_000 }, NOW, DEFAULT_POLICY)).toBe(0);
    expect(secondsUntilKeyMayMint(token(10), { ...NEED, minTtl: 3_595 }, NOW, DEFAULT_POLICY)).toBe(20);
  });

  it('never delays replacing a missing, expired or due token: ordinary refresh-ahead never meets it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 60, max: 3_600 }),
        fc.integer({ min: 0, max: 7_200 }),
        (lifetime, age) => {
          const current = token(age, lifetime);
          // An ordinary request (no reject, no min_ttl) that needs a new token may always mint at once.
          if (!fresh(current, NEED, NOW, DEFAULT_POLICY)) {
            expect(secondsUntilKeyMayMint(current, NEED, NOW, DEFAULT_POLICY)).toBe(0);
          }
        },
      ),
    );
    expect(secondsUntilKeyMayMint(undefined, { ...NEED, reject: 'f1' }, NOW, DEFAULT_POLICY)).toBe(0);
  });
});

describe('decideBudget', () => {
  const minted = (agoMs: number[], by = 'caller-a'): Mint[] => agoMs.map((ago) => ({ at: NOW - ago, by }));

  it('allows up to mintsPerMinute per client in any 60 s, then answers when the oldest leaves the window', () => {
    const full = minted(
      Array.from({ length: 30 }, (_, i) => 59_000 - i * 1_000),
      '',
    );
    const refused = decideBudget(full, undefined, NOW, DEFAULT_POLICY);
    expect(refused).toEqual({ allowed: false, reason: 'client_budget', retryAfterSeconds: 1 });
    const allowed = decideBudget(full.slice(1), undefined, NOW, DEFAULT_POLICY);
    expect(allowed.allowed).toBe(true);
    // Mints older than the window are dropped from the record.
    const pruned = decideBudget(minted([BUDGET_WINDOW_MS, 10]), undefined, NOW, DEFAULT_POLICY);
    expect(pruned).toEqual({
      allowed: true,
      mints: [
        { at: NOW - 10, by: 'caller-a' },
        { at: NOW, by: '' },
      ],
    });
  });

  const made = (spender: string): Charge => ({ spender, upkeep: false });
  const kept = (spender: string): Charge => ({ spender, upkeep: true });

  it('keeps one spender to its share, and does not charge the pre-warm to anyone', () => {
    const five = minted([50_000, 40_000, 30_000, 20_000, 10_000]);
    expect(decideBudget(five, made('caller-a'), NOW, DEFAULT_POLICY)).toEqual({
      allowed: false,
      reason: 'caller_budget',
      retryAfterSeconds: 10,
      spender: 'caller-a',
    });
    expect(decideBudget(five, made('caller-b'), NOW, DEFAULT_POLICY).allowed).toBe(true);
    expect(decideBudget(five, undefined, NOW, DEFAULT_POLICY).allowed).toBe(true);
  });

  it("charges the upkeep of a spender's keys beyond its free allowance to its share", () => {
    // Its share spent on new keys: the allowance of upkeep is still free, the sixth refresh is not.
    let mints: readonly Mint[] = minted([50_000, 40_000, 30_000, 20_000, 10_000]);
    for (let i = 0; i < 5; i++) {
      const decision = decideBudget(mints, kept('caller-a'), NOW + i, DEFAULT_POLICY);
      if (!decision.allowed) throw new Error(`refresh ${i} refused`);
      mints = decision.mints;
    }
    expect(decideBudget(mints, kept('caller-a'), NOW + 5, DEFAULT_POLICY)).toMatchObject({
      allowed: false,
      reason: 'caller_budget',
      spender: 'caller-a',
    });
    expect(decideBudget(mints, kept('caller-b'), NOW + 5, DEFAULT_POLICY).allowed).toBe(true);
  });

  it('names the biggest spender when the client budget is spent', () => {
    const full = [
      ...minted(
        Array.from({ length: 20 }, (_, i) => i * 100),
        'hog',
      ),
      ...minted([1, 2, 3], 'b'),
    ];
    const decision = decideBudget(full, made('c'), NOW, { ...DEFAULT_POLICY, mintsPerMinute: 23 });
    expect(decision).toMatchObject({ allowed: false, reason: 'client_budget', spender: 'hog' });
  });

  it('never lets any 60 s window hold more than the budget, whatever the order of charges', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 5_000 }),
            by: fc.constantFrom('a', 'b', 'c'),
            upkeep: fc.boolean(),
          }),
          { maxLength: 200 },
        ),
        (charges) => {
          let mints: readonly Mint[] = [];
          const granted: Mint[] = [];
          let at = NOW;
          for (const charge of charges) {
            at += charge.gap;
            const decision = decideBudget(
              mints,
              { spender: charge.by, upkeep: charge.upkeep },
              at,
              DEFAULT_POLICY,
            );
            if (decision.allowed) {
              mints = decision.mints;
              granted.push({ at, by: charge.by });
            }
          }
          for (const mint of granted) {
            const inWindow = granted.filter(
              (other) => other.at > mint.at - BUDGET_WINDOW_MS && other.at <= mint.at,
            );
            expect(inWindow.length).toBeLessThanOrEqual(DEFAULT_POLICY.mintsPerMinute);
            // A spender's mints: its share, plus at most the free allowance of upkeep.
            expect(inWindow.filter((other) => other.by === mint.by).length).toBeLessThanOrEqual(
              DEFAULT_POLICY.mintsPerCallerPerMinute + (DEFAULT_POLICY.upkeepAllowancePerMinute ?? 0),
            );
          }
        },
      ),
    );
  });
});

describe('policyWith', () => {
  it('applies overrides and refuses values that break the rules, listing each', () => {
    expect(policyWith({ mintsPerMinute: 60 })).toMatchObject({
      mintsPerMinute: 60,
      mintsPerCallerPerMinute: 5,
    });
    expect(() => policyWith({ mintsPerMinute: 0, mintsPerCallerPerMinute: 2.5 })).toThrow(ConfigError);
    const thrown = (() => {
      try {
        policyWith({ mintsPerMinute: 4, refreshMarginSeconds: 0 });
      } catch (error) {
        return error;
      }
    })();
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).problems).toEqual([
      'policy: refreshMarginSeconds must be a whole number from 1 to 3599, not 0',
      'policy: mintsPerCallerPerMinute must not be above mintsPerMinute',
    ]);
  });
});
