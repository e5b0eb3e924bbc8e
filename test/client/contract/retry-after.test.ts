import {
  clampRetryAfter,
  MAX_RETRY_AFTER_SECONDS,
  parseRetryAfter,
  retryAfterSeconds,
} from '@tvs/client/contract';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const NOW = Date.parse('2026-11-21T12:00:00Z');

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates, and ignores nonsense', () => {
    expect(parseRetryAfter('7', NOW)).toBe(7);
    expect(parseRetryAfter('Sat, 21 Nov 2026 12:00:30 GMT', NOW)).toBe(30);
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
  });
});

describe('clampRetryAfter and retryAfterSeconds', () => {
  it('passes on a whole number of seconds from 1 to 3600, whatever the peer sent', () => {
    expect(retryAfterSeconds('99999999999999999999999', NOW)).toBe(3_600);
    expect(retryAfterSeconds('0', NOW)).toBe(1);
    expect(retryAfterSeconds('42', NOW)).toBe(42);
    expect(retryAfterSeconds('Fri, 31 Dec 9999 23:59:59 GMT', NOW)).toBe(3_600);
    expect(retryAfterSeconds('Sat, 21 Nov 2026 11:00:00 GMT', NOW)).toBe(1);
    expect(retryAfterSeconds('-5', NOW)).toBeUndefined();
    expect(clampRetryAfter(2.2)).toBe(3);
    expect(clampRetryAfter(Number.NaN)).toBe(1);
    expect(clampRetryAfter(Number.POSITIVE_INFINITY)).toBe(3_600);
  });

  it('always yields an integer from 1 to 3600 for any header text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.bigInt({ min: 0n }).map(String),
          fc.date().map((d) => d.toUTCString()),
        ),
        (text) => {
          const seconds = retryAfterSeconds(text, NOW);
          if (seconds !== undefined) {
            expect(Number.isInteger(seconds)).toBe(true);
            expect(seconds).toBeGreaterThanOrEqual(1);
            expect(seconds).toBeLessThanOrEqual(MAX_RETRY_AFTER_SECONDS);
            expect(String(seconds)).toMatch(/^\d+$/);
          }
        },
      ),
    );
  });
});
