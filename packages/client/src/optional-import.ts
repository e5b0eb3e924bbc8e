/**
 * Importing a package this one does not depend on, where it is installed: the AWS SDK's credential chain
 * (an optional peer), the service's own `tvs` commands (in the service's repository).
 */

/** Whether `error` says that the package `name` itself is not installed (not that something inside it failed). */
export function isMissingPackage(error: unknown, name: string): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(`'${name}'`);
}

/**
 * Import `specifier` of the package `name`, or undefined when that package is not installed. A package
 * that is present but fails to load is an error, not absence. The specifier is a variable on purpose:
 * bundlers and the compiler leave such an import alone instead of requiring the package.
 */
export async function importIfInstalled<T>(specifier: string, name: string): Promise<T | undefined> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    if (isMissingPackage(error, name)) return undefined;
    throw error;
  }
}
