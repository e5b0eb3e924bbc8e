/**
 * What one authorization decision costs (`ServiceConfig.authorize`), computed and remembered: the
 * figures that decided that remembering decisions pays. `npx tsx --conditions=tvs-source bench/authorize.ts`
 * prints them as JSON; `bench/bench.ts` may call {@link measureAuthorization}.
 *
 * The configuration is a realistic one: four clients and twenty grants, most with role patterns, so the
 * caller is matched against every grant of a client; the requests hold one to three scopes with globs,
 * granted and refused. Figures are medians (p50) of per-call times, each sample timing a batch of calls
 * (one call is too short for the clock), all in one run.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseScopes, type Scope } from '@tvs/client/contract';
import { parseServiceConfig, type ServiceConfig } from '@tvs/core/config/service-config';
import { callerPrincipal } from '@tvs/core/policy/principals';

/** The medians, in microseconds per call, and what they were measured over. */
export interface AuthorizationFigures {
  /** `config.authorize` over the mixed requests, every decision computed (no decisions remembered). */
  readonly authorize_p50_us: number;
  /** The same requests answered by the service's configuration, its decisions remembered (warm). */
  readonly authorize_cached_p50_us: number;
  /** `config.authorize`, computed, for the one-scope requests only. */
  readonly authorize_1_scope_p50_us: number;
  /** `config.authorize`, computed, for the three-scope requests only. */
  readonly authorize_3_scopes_p50_us: number;
  /** `config.authorize`, computed, for requests it refuses. */
  readonly authorize_refused_p50_us: number;
  /** `callerPrincipal` alone: the per-call work on the caller's ARN. */
  readonly caller_principal_p50_us: number;
  /** `parseScopes` of the request's scope string, which a request pays with or without a cache. */
  readonly parse_request_scopes_p50_us: number;
  /** Grants in the configuration. */
  readonly grants: number;
  /** Calls timed for each figure. */
  readonly calls: number;
}

const ACCOUNT = '123456789012';
const CALLER_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/orders-api-prod/i-0abc1234def`;
const ENDPOINT = 'https://v1.api.us.janrain.com/12345678-1234-1234-1234-123456789012/login/token';
const SAMPLES = 300;
const CALLS_PER_SAMPLE = 40;

/** Four clients and twenty grants: exact roles, role patterns, users, several matching the caller. */
function benchDocument(): unknown {
  const role = (name: string): string => `arn:aws:iam::${ACCOUNT}:role/${name}`;
  const grant = (principal: string, client: string, scopes: string[]) => ({ principal, client, scopes });
  return {
    clients: {
      'webhooks-us': {
        tokenEndpoint: ENDPOINT,
        secretId: 'tvs/webhooks-us',
        allowedScopes: ['*:webhooks/**'],
      },
      'webhooks-eu': {
        tokenEndpoint: ENDPOINT,
        secretId: 'tvs/webhooks-eu',
        allowedScopes: ['*:webhooks/**'],
      },
      'config-us': { tokenEndpoint: ENDPOINT, secretId: 'tvs/config-us', allowedScopes: ['*:config/**'] },
      'config-eu': {
        tokenEndpoint: ENDPOINT,
        secretId: 'tvs/config-eu',
        allowedScopes: ['*:config/**', '.:webhooks/**'],
      },
    },
    grants: [
      grant(role('payments-*'), 'webhooks-us', ['.:webhooks/**']),
      grant(role('*-batch'), 'webhooks-us', ['*:webhooks/subscriptions/*']),
      grant(role('AWSReservedSSO_Admin_*'), 'webhooks-us', ['*:webhooks/**']),
      grant(role('orders-*-staging'), 'webhooks-us', ['*:webhooks/**']),
      grant(role('orders-*'), 'webhooks-us', ['.:webhooks/subscriptions/**']),
      grant(role('*-prod'), 'webhooks-us', ['*:webhooks/subscriptions/*/events']),
      grant(role('orders-api-prod'), 'webhooks-us', ['*:webhooks/subscriptions/orders-*']),
      grant(role('search-*'), 'webhooks-eu', ['.:webhooks/**']),
      grant(role('orders-*'), 'webhooks-eu', ['.:webhooks/subscriptions/**']),
      grant(`arn:aws:iam::${ACCOUNT}:user/ops/rotation-bot`, 'webhooks-eu', ['*:webhooks/**']),
      grant(role('credential-rotation-*'), 'config-us', ['*:config/clients/*/secret']),
      grant(role('orders-*'), 'config-us', ['.:config/loginPolicies**', '.:config/tokenPolicies**']),
      grant(role('*-prod'), 'config-us', ['.:config/clients/*']),
      grant(role('orders-api-*'), 'config-us', ['*:config/flows/orders/**']),
      grant(role('identity-admin'), 'config-us', ['*:config/**']),
      grant(role('credential-rotation-*'), 'config-eu', ['*:config/clients/*/secret']),
      grant(role('orders-*'), 'config-eu', ['.:config/**']),
      grant(role('*-api-*'), 'config-eu', ['.:webhooks/subscriptions/**']),
      grant(`arn:aws:iam::${ACCOUNT}:user/ops/audit`, 'config-eu', ['.:config/**']),
      grant(role('AWSReservedSSO_Admin_*'), 'config-eu', ['*:config/**']),
    ],
  };
}

interface BenchRequest {
  readonly client: string;
  readonly scope: string;
  readonly scopes: readonly Scope[];
}

function benchRequests(config: ServiceConfig): { granted: BenchRequest[]; refused: BenchRequest[] } {
  const request = (client: string, scope: string): BenchRequest => ({
    client,
    scope,
    scopes: parseScopes(scope),
  });
  const granted = [
    request('webhooks-us', '.:webhooks/subscriptions/abc'),
    request('config-us', '.:config/loginPolicies/1ab23c45 .:config/tokenPolicies/*'),
    request('config-us', '*:config/flows/orders/** .:config/clients/x .:config/tokenPolicies**'),
    request('webhooks-eu', '.:webhooks/subscriptions/*/events'),
  ];
  const refused = [
    request('webhooks-us', '*:webhooks/**'),
    request('config-eu', '*:config/clients/x/secret .:config/** .:webhooks/subscriptions/a'),
  ];
  for (const { client, scopes } of granted) {
    if (!config.authorize(CALLER_ARN, client, scopes)) throw new Error(`bench request refused: ${client}`);
  }
  for (const { client, scopes } of refused) {
    if (config.authorize(CALLER_ARN, client, scopes)) throw new Error(`bench request granted: ${client}`);
  }
  return { granted, refused };
}

/** Median microseconds per call of `call`, cycling over `inputs`. */
function medianMicroseconds<T>(inputs: readonly T[], call: (input: T) => unknown): number {
  let sink = 0;
  const perCall: number[] = [];
  for (let sample = -SAMPLES / 4; sample < SAMPLES; sample += 1) {
    const started = process.hrtime.bigint();
    for (let index = 0; index < CALLS_PER_SAMPLE; index += 1) {
      if (call(inputs[index % inputs.length] as T)) sink += 1;
    }
    const elapsed = Number(process.hrtime.bigint() - started) / 1000 / CALLS_PER_SAMPLE;
    // The first quarter warms the JIT up and is not counted.
    if (sample >= 0) perCall.push(elapsed);
  }
  if (sink < 0) throw new Error('unreachable: keeps the calls from being optimised away');
  perCall.sort((left, right) => left - right);
  return Math.round((perCall[Math.floor(perCall.length / 2)] ?? 0) * 1000) / 1000;
}

/** Measure {@link ServiceConfig.authorize}, computed and remembered (see the module comment). */
export async function measureAuthorization(): Promise<AuthorizationFigures> {
  // Decisions computed every time, as without the memo, and remembered, as the service runs.
  const computing = parseServiceConfig(benchDocument(), { maxRememberedDecisions: 0 });
  const remembering = parseServiceConfig(benchDocument());
  const { granted, refused } = benchRequests(computing);
  const mixed = [...granted, ...refused];
  const authorize = ({ client, scopes }: BenchRequest): boolean =>
    computing.authorize(CALLER_ARN, client, scopes);

  return {
    authorize_p50_us: medianMicroseconds(mixed, authorize),
    authorize_cached_p50_us: medianMicroseconds(mixed, ({ client, scopes }) =>
      remembering.authorize(CALLER_ARN, client, scopes),
    ),
    authorize_1_scope_p50_us: medianMicroseconds(
      mixed.filter(({ scopes }) => scopes.length === 1),
      authorize,
    ),
    authorize_3_scopes_p50_us: medianMicroseconds(
      mixed.filter(({ scopes }) => scopes.length === 3),
      authorize,
    ),
    authorize_refused_p50_us: medianMicroseconds(refused, authorize),
    caller_principal_p50_us: medianMicroseconds([CALLER_ARN], callerPrincipal),
    parse_request_scopes_p50_us: medianMicroseconds(mixed, ({ scope }) => parseScopes(scope)),
    grants: computing.document.grants.length,
    calls: SAMPLES * CALLS_PER_SAMPLE,
  };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await measureAuthorization(), null, 2));
}
