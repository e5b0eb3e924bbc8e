import type { VendingSettings } from '@tvs/core/policy/settings';
import { SETTINGS_ENVIRONMENT } from '@tvs/core/policy/settings';

/**
 * The bounds of upstream use, lifted, for functional tests: they mint a fresh key per test with one caller
 * and report tokens right after they were minted, which the production bounds (5 new keys per caller a
 * minute, 30 s between forced mints of a key) would refuse. The bounds themselves are tested with the
 * production defaults in `test/core/flow/vending-service.bounded-upstream.int.test.ts`.
 */
export const UNBOUNDED_MINTS = {
  minMintIntervalSeconds: 0,
  mintsPerMinute: 10_000,
  mintsPerCallerPerMinute: 10_000,
} as const satisfies VendingSettings;

/** {@link UNBOUNDED_MINTS} as the environment of a `tvs serve` process (the variables the Lambda reads). */
export const UNBOUNDED_MINTS_ENV: Record<string, string> = Object.fromEntries(
  Object.entries(UNBOUNDED_MINTS).map(([field, value]) => [
    SETTINGS_ENVIRONMENT[field as keyof typeof UNBOUNDED_MINTS],
    String(value),
  ]),
);
