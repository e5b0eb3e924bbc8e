/**
 * The service's tunables: their names in the environment, and the one check of them that both `cdk
 * synth` (the construct) and the cold start (the runtime) run, so a deployment that would break a rule
 * fails before it exists, and a function that was given one fails loudly at start.
 */
import { ConfigError } from '@tvs/client/contract';
import { type PolicySettings, policyWith } from './cache-policy.js';
import { type Timing, type TimingOverrides, timingFor } from './timing.js';

/** Tunables; every one has a default. Timing derives from the function timeout (see `timing.ts`). */
export interface VendingSettings extends TimingOverrides, Partial<PolicySettings> {
  /** The function's timeout, seconds. @default 10 */
  readonly functionTimeoutSeconds?: number;
}

/** The settings, checked: the timing with its invariants, the policy with its bounds. */
export interface CheckedSettings {
  readonly timing: Timing;
  readonly policy: PolicySettings;
}

/** The default function timeout, seconds (the construct's default too). */
export const DEFAULT_FUNCTION_TIMEOUT_SECONDS = 10;

/** The environment variable of each tunable a deployment sets. */
export const SETTINGS_ENVIRONMENT = {
  functionTimeoutSeconds: 'TVS_FUNCTION_TIMEOUT_SECONDS',
  refreshMarginSeconds: 'TVS_REFRESH_MARGIN_SECONDS',
  minMintIntervalSeconds: 'TVS_MIN_MINT_INTERVAL_SECONDS',
  mintsPerMinute: 'TVS_MINTS_PER_MINUTE',
  mintsPerCallerPerMinute: 'TVS_MINTS_PER_CALLER_PER_MINUTE',
  probeIntervalMs: 'TVS_PROBE_INTERVAL_MS',
} as const satisfies Partial<Record<keyof VendingSettings, string>>;

type DeployedSetting = keyof typeof SETTINGS_ENVIRONMENT;

/**
 * Check `settings`: the timing for the function timeout (with any overrides) and the policy. Throws
 * {@link ConfigError} listing every problem of both.
 */
export function checkSettings(settings: VendingSettings = {}): CheckedSettings {
  const {
    functionTimeoutSeconds = DEFAULT_FUNCTION_TIMEOUT_SECONDS,
    refreshMarginSeconds,
    minMintIntervalSeconds,
    mintsPerMinute,
    mintsPerCallerPerMinute,
    upkeepAllowancePerMinute,
    probeIntervalMs,
    ...timingOverrides
  } = settings;
  const problems: string[] = [];
  const attempt = <T>(check: () => T): T | undefined => {
    try {
      return check();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
      return undefined;
    }
  };
  const timing = attempt(() => timingFor(functionTimeoutSeconds, timingOverrides));
  const policy = attempt(() =>
    policyWith({
      refreshMarginSeconds,
      minMintIntervalSeconds,
      mintsPerMinute,
      mintsPerCallerPerMinute,
      upkeepAllowancePerMinute,
      probeIntervalMs,
    }),
  );
  if (timing === undefined || policy === undefined) throw new ConfigError(problems);
  return { timing, policy };
}

/** The tunables set in `env` (the Lambda's environment, or `tvs serve`'s); a malformed one fails. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): VendingSettings {
  const settings: Partial<Record<DeployedSetting, number>> = {};
  for (const [field, name] of Object.entries(SETTINGS_ENVIRONMENT) as [DeployedSetting, string][]) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (!/^\d+$/.test(value))
      throw new ConfigError([`${name} must be a whole number, not ${JSON.stringify(value)}`]);
    settings[field] = Number(value);
  }
  return settings;
}

/** The environment that sets `settings` (what the construct gives the function): only those given. */
export function settingsEnvironment(
  settings: Pick<VendingSettings, DeployedSetting>,
): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const [field, name] of Object.entries(SETTINGS_ENVIRONMENT) as [DeployedSetting, string][]) {
    const value = settings[field];
    if (value !== undefined) environment[name] = String(value);
  }
  return environment;
}
