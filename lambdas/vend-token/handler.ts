import { createHandler } from '@tvs/core/entry/vend-handler';
import { createRuntimeFromEnv } from '@tvs/core/entry/vend-runtime';

/**
 * Lambda entry point: `POST /v1/token`, `GET /v1/clients` (from the API Gateway REST proxy or a function
 * URL, whichever the deployment uses) and the scheduled pre-warm. The runtime (configuration, SDK clients,
 * caches) is built once per container at cold start; an invalid configuration fails the cold start with a
 * message naming each problem.
 */
export const handler = createHandler(createRuntimeFromEnv());
