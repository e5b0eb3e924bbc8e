import { ConfigError } from '@tvs/client/contract';
import { createRuntimeFromEnv } from '@tvs/core/entry/vend-runtime';
import {
  checkSettings,
  SETTINGS_ENVIRONMENT,
  settingsEnvironment,
  settingsFromEnv,
} from '@tvs/core/policy/settings';
import {
  leaseEnd,
  MAX_CLOCK_SKEW_MS,
  MAX_FUNCTION_TIMEOUT_SECONDS,
  MIN_FUNCTION_TIMEOUT_SECONDS,
  timingFor,
} from '@tvs/core/policy/timing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../../support/config-problems';

describe('timingFor', () => {
  it('ends every request 2 s before the function timeout by default', () => {
    expect(timingFor(10)).toMatchObject({
      functionTimeoutMs: 10_000,
      requestDeadlineMs: 8_000,
      leaseSlackMs: 3_000,
    });
  });

  it('keeps every lease past the moment Lambda stops its holder, for every timeout and request', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: MIN_FUNCTION_TIMEOUT_SECONDS, max: MAX_FUNCTION_TIMEOUT_SECONDS }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (timeoutSeconds, requestStart) => {
          const timing = timingFor(timeoutSeconds);
          // A holder's request started at `requestStart` (its clock); Lambda stops it by start + timeout.
          const end = leaseEnd(timing, requestStart + timing.requestDeadlineMs);
          // Read by another container's clock, up to the skew bound behind or ahead.
          expect(end - MAX_CLOCK_SKEW_MS).toBeGreaterThanOrEqual(
            requestStart + timing.functionTimeoutMs + MAX_CLOCK_SKEW_MS,
          );
          expect(timing.requestDeadlineMs).toBeLessThanOrEqual(timing.functionTimeoutMs - 1_000);
          expect(timing.fetchReserveMs).toBeLessThan(timing.requestDeadlineMs);
        },
      ),
    );
  });

  it('refuses a lease slack that would let a lease end while its holder may still be fetching', () => {
    expect(problemsOf(() => timingFor(10, { leaseSlackMs: 2_999 }))).toEqual([
      'timing: leaseSlackMs 2999 must be at least 3000 (function timeout − request deadline + twice the 500 ms clock skew), or a lease could end while its holder is still fetching',
    ]);
    // A later deadline needs a longer slack, never a shorter one.
    expect(() => timingFor(10, { requestDeadlineMs: 5_000, leaseSlackMs: 3_000 })).toThrow(ConfigError);
    expect(timingFor(10, { requestDeadlineMs: 5_000 }).leaseSlackMs).toBe(6_000);
  });

  it('refuses a deadline the function could not answer by, and timeouts outside what it supports', () => {
    expect(problemsOf(() => timingFor(10, { requestDeadlineMs: 9_500 }))[0]).toMatch(
      /requestDeadlineMs 9500 must be at least 500 and at least 1000 below the function timeout/,
    );
    expect(problemsOf(() => timingFor(10, { fetchReserveMs: 8_000 }))[0]).toMatch(/fetchReserveMs 8000/);
    expect(problemsOf(() => timingFor(4))[0]).toMatch(/function timeout: 4 s is outside 5 to 900 s/);
    expect(() => timingFor(901)).toThrow(ConfigError);
  });
});

describe('checkSettings', () => {
  it('lists the problems of the timing and of the policy together', () => {
    expect(problemsOf(() => checkSettings({ functionTimeoutSeconds: 3, mintsPerMinute: 0 }))).toEqual([
      'function timeout: 3 s is outside 5 to 900 s; a request needs at least a 3 s deadline and 2 s to answer',
      'policy: mintsPerMinute must be a whole number from 1 to 10000, not 0',
      'policy: mintsPerCallerPerMinute must not be above mintsPerMinute',
    ]);
  });

  it('applies and checks every policy setting it is given, the upkeep allowance included', () => {
    expect(checkSettings({ upkeepAllowancePerMinute: 0, probeIntervalMs: 500 }).policy).toMatchObject({
      upkeepAllowancePerMinute: 0,
      probeIntervalMs: 500,
    });
    expect(problemsOf(() => checkSettings({ upkeepAllowancePerMinute: -1 }))).toEqual([
      'policy: upkeepAllowancePerMinute must be a whole number from 0 to 10000, not -1',
    ]);
  });
});

describe('settings in the environment', () => {
  it('reads what the construct writes, by the same names', () => {
    const settings = {
      functionTimeoutSeconds: 20,
      refreshMarginSeconds: 120,
      minMintIntervalSeconds: 60,
      mintsPerMinute: 100,
      mintsPerCallerPerMinute: 20,
      probeIntervalMs: 500,
    };
    const environment = settingsEnvironment(settings);
    expect(Object.keys(environment).sort()).toEqual(Object.values(SETTINGS_ENVIRONMENT).sort());
    expect(settingsFromEnv(environment)).toEqual(settings);
    expect(settingsEnvironment({ functionTimeoutSeconds: 10 })).toEqual({
      TVS_FUNCTION_TIMEOUT_SECONDS: '10',
    });
  });

  it('fails the cold start when the timing or the bounds break their rules', () => {
    const env = {
      TVS_CONFIG: JSON.stringify({
        clients: {
          'webhooks-us': {
            tokenEndpoint: 'https://v1.api.us.janrain.com/00000000-0000-0000-0000-000000000000/login/token',
            secretId: 'tvs/webhooks-us',
            allowedScopes: ['*:webhooks/**'],
          },
        },
        grants: [],
      }),
      TVS_TABLE_NAME: 'tokens',
      TVS_KMS_KEY_ID: 'alias/tokens',
    };
    expect(() => createRuntimeFromEnv(env)).not.toThrow();
    expect(problemsOf(() => createRuntimeFromEnv({ ...env, TVS_FUNCTION_TIMEOUT_SECONDS: '4' }))[0]).toMatch(
      /function timeout: 4 s is outside 5 to 900 s/,
    );
    expect(problemsOf(() => createRuntimeFromEnv({ ...env, TVS_MINTS_PER_CALLER_PER_MINUTE: '31' }))).toEqual(
      ['policy: mintsPerCallerPerMinute must not be above mintsPerMinute'],
    );
  });

  it('fails the cold start on a value that is not a whole number', () => {
    expect(problemsOf(() => settingsFromEnv({ TVS_MINTS_PER_MINUTE: '30/min' }))).toEqual([
      'TVS_MINTS_PER_MINUTE must be a whole number, not "30/min"',
    ]);
  });
});
