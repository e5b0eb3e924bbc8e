import { createRotationHandler, createRotationRuntimeFromEnv } from '@tvs/core/entry/rotation-runtime';

/**
 * The rotation function: Secrets Manager invokes it with `{SecretId, ClientRequestToken, Step}` for each
 * step of a rotation of a configured client's secret (see `rotation.ts`). Its runtime is built once per
 * container at cold start; an invalid configuration fails the cold start.
 */
export const handler = createRotationHandler(createRotationRuntimeFromEnv());
