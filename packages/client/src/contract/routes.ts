/** The service's HTTP routes and the one method each accepts (docs/contract.md "HTTP API, version 1"). */
export const ROUTES: Readonly<Record<string, 'GET' | 'POST'>> = Object.freeze({
  '/v1/token': 'POST',
  '/v1/clients': 'GET',
});

/** The method `path` accepts, or undefined when it is not a route of the service. */
export function routeMethod(path: string): 'GET' | 'POST' | undefined {
  return Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined;
}
