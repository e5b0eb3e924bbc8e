/**
 * The AWS SDK prints a ten-line warning on Node versions it will stop supporting. The commands that
 * print a banner (`npm start`, `tvs dev`) turn it off before the SDK loads and say it in one line of
 * their own, before the banner, instead of in the middle of it.
 */

/** The Node major version the AWS SDK will require (the project's `.nvmrc` names a newer one). */
const SDK_MINIMUM_NODE = 22;

/**
 * Silence the SDK's own warning in this process; answer the one line to print instead, or undefined on a
 * Node version the SDK keeps supporting.
 */
export function quietSdkNodeWarning(
  env: NodeJS.ProcessEnv = process.env,
  version = process.version,
): string | undefined {
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const major = Number(/^v(\d+)\./.exec(version)?.[1] ?? 0);
  if (major >= SDK_MINIMUM_NODE) return undefined;
  return `note: Node ${version}; the AWS SDK will require Node ${SDK_MINIMUM_NODE} or later from January 2027 (.nvmrc names the version to use)\n`;
}
