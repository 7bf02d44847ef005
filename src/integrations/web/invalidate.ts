/**
 * Clearing cached responses. Every stored response carries its route's tag and its path's tag
 * (see route-key.ts), so clearing is a tag invalidation: atomic, in every process, O(1) whatever
 * the number of query strings and vary values stored for the route.
 */
import { InvalidOptionError, type Trove } from 'trove-cache';
import { fillRoute, type RouteParamValue } from './paths.js';
import { pathTag, routeTag } from './route-key.js';

/**
 * Invalidates cached responses of a route: every response of the route pattern (as registered,
 * e.g. `'/users/:id'`) without `params`, or the responses of the one path the pattern gives with
 * `params` (`{ id: 42 }`: `/users/42`, all its query strings and vary values).
 *
 * A response is tagged with its route only when the framework tells which route matched: a
 * `cacheRoute` given on the route itself (Express `req.route`, Fastify `routeOptions.url`, Hono's
 * `routePath`). Throws `InvalidOptionError` when a parameter of the pattern is missing, `StoreError`
 * when the store cannot be reached.
 */
export function invalidateRoute(trove: Trove, route: string, params?: Readonly<Record<string, RouteParamValue>>): Promise<void> {
  if (typeof route !== 'string' || !route.startsWith('/'))
    return Promise.reject(new InvalidOptionError('route', 'expected a route pattern such as /users/:id'));
  if (params === undefined) return trove.invalidateTags([routeTag(route)]);
  let path: string;
  try {
    path = fillRoute(route, params);
  } catch (err) {
    return Promise.reject(new InvalidOptionError('params', err instanceof Error ? err.message : String(err)));
  }
  return trove.invalidateTags([pathTag(path)]);
}

/**
 * Invalidates the cached responses of one path (`'/users/42'`; a query string is ignored): all
 * its query strings and vary values, whatever route served it. Throws `StoreError` when the store
 * cannot be reached.
 */
export function invalidatePath(trove: Trove, path: string): Promise<void> {
  if (typeof path !== 'string' || !path.startsWith('/')) return Promise.reject(new InvalidOptionError('path', 'expected a path such as /users/42'));
  return trove.invalidateTags([pathTag(path)]);
}
