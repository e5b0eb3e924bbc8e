/**
 * `tokenTimes`: the times a client rules a token by, from the service's answer and the moment the request
 * was sent, by this process's clock.
 */

import { type TokenAnswer, tokenTimes } from '@tvs/client';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const DEFAULTS = { safetyMarginSeconds: 5 };

function answer(fields: { issuedAt: number; expiresAt: number; expiresIn: number }): TokenAnswer {
  return {
    access_token: 't',
    token_type: 'Bearer',
    expires_in: fields.expiresIn,
    expires_at: new Date(fields.expiresAt).toISOString(),
    issued_at: new Date(fields.issuedAt).toISOString(),
    scope: '.:a/**',
    client: 'c',
  };
}

describe('tokenTimes', () => {
  it('counts the refresh margin from the whole lifetime, not from what is left', () => {
    // A 1200 s token handed out with 100 s left: its margin is 300 s, so it is due at once.
    const expiresAt = Date.UTC(2030, 0, 1);
    const times = tokenTimes(
      answer({ issuedAt: expiresAt - 1_200_000, expiresAt, expiresIn: 100 }),
      expiresAt - 100_000,
      DEFAULTS,
    );

    expect(times.refreshAt).toBe(times.expiresAt - 300_000);
    expect(times.unusableAt).toBe(times.expiresAt - 5_000);
    expect(times.refreshAt).toBeLessThan(expiresAt - 100_000);
  });

  it('keeps the safety margin to at most half the refresh margin', () => {
    const expiresAt = Date.UTC(2030, 0, 1);
    const times = tokenTimes(
      answer({ issuedAt: expiresAt - 20_000, expiresAt, expiresIn: 20 }),
      expiresAt - 20_000,
      DEFAULTS,
    );

    expect(times.expiresAt - times.refreshAt).toBe(5_000);
    expect(times.expiresAt - times.unusableAt).toBe(2_500);
  });

  it('never puts expiry later than the true one, whatever the skew between the clocks', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 60, max: 3_600 }),
        fc.integer({ min: -600_000, max: 600_000 }),
        fc.integer({ min: 0, max: 5_000 }),
        fc.integer({ min: 0, max: 999 }),
        (lifetime, skewMs, tripMs, issuedFraction) => {
          // The service's clock: it issues at a whole second, answers `tripMs` after the request left,
          // and counts expires_in in whole seconds from its floor of that instant.
          const issuedAt = Date.UTC(2030, 0, 1) + 1_000 * 7;
          const trueExpiry = issuedAt + lifetime * 1000;
          const serviceSentAt = issuedAt + issuedFraction;
          const answeredAt = serviceSentAt + tripMs;
          const expiresIn = Math.max(0, Math.floor(trueExpiry / 1000) - Math.floor(answeredAt / 1000));
          // This process's clock reads `skewMs` off the service's.
          const sentAt = serviceSentAt + skewMs;
          const times = tokenTimes(answer({ issuedAt, expiresAt: trueExpiry, expiresIn }), sentAt, DEFAULTS);

          expect(times.expiresAt - skewMs).toBeLessThanOrEqual(trueExpiry);
        },
      ),
    );
  });
});
