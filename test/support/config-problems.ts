import { ConfigError } from '@tvs/client/contract';

/** The problems of the `ConfigError` that `build` throws; fails when it throws nothing or another error. */
export function problemsOf(build: () => unknown): readonly string[] {
  try {
    build();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError, but nothing was thrown');
}
