/**
 * Keys and tags of cached responses.
 *
 * Key: the canonical path (see paths.ts), then `?` and the kept query parameters sorted by name
 * (order of repeated names kept), then for each vary header `|name=value` (normalised, see
 * vary.ts), or `|value` for each value a vary function returned. A key longer than 200 characters
 * becomes `#` and the base64url SHA-256 of it, so a long URL cannot make a huge Redis key. HEAD
 * and GET share keys: a HEAD is answered from the GET's entry.
 *
 * Tags: `http.route:<pattern>` when the framework names the matched route, and
 * `http.path:<canonical path>`, plus the route's own `tags`.
 */
import { createHash } from 'node:crypto';
import type { ResolvedRouteOptions } from './options.js';
import { canonicalPath } from './paths.js';
import { type RequestView, splitUrl } from './request-view.js';
import { normaliseHeader } from './vary.js';

const MAX_KEY = 200;

export const ROUTE_TAG = 'http.route:';
export const PATH_TAG = 'http.path:';

export function routeTag(pattern: string): string {
  return ROUTE_TAG + pattern;
}

export function pathTag(path: string): string {
  return PATH_TAG + canonicalPath(splitUrl(path).path);
}

/** The query string with only the kept parameters, sorted by name. */
export function canonicalQuery(query: string, keep: true | false | ReadonlySet<string>): string {
  if (query === '' || keep === false) return '';
  const params = new URLSearchParams(query);
  const kept: [string, string][] = [];
  for (const [k, v] of params) if (keep === true || keep.has(k)) kept.push([k, v]);
  if (kept.length === 0) return '';
  // Stable: repeated names keep their order (`?a=1&a=2` is not `?a=2&a=1`).
  kept.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return new URLSearchParams(kept).toString();
}

export function routeKey<Req>(view: RequestView, req: Req, opts: ResolvedRouteOptions<Req>): string {
  let key: string;
  if (opts.key !== undefined) key = opts.key(req);
  else {
    const { path, query } = splitUrl(view.url);
    const q = canonicalQuery(query, opts.query);
    key = q === '' ? canonicalPath(path) : `${canonicalPath(path)}?${q}`;
  }
  for (const name of opts.varyHeaders) key += `|${name}=${normaliseHeader(name, view.header(name))}`;
  if (opts.varyFn !== undefined) {
    const v = opts.varyFn(req);
    if (typeof v === 'string') key += `|${v}`;
    else for (const part of v) key += `|${part}`;
  }
  return key.length > MAX_KEY ? `#${createHash('sha256').update(key).digest('base64url')}` : key;
}

export function routeTags<Req>(view: RequestView, req: Req, opts: ResolvedRouteOptions<Req>): string[] {
  const tags = [pathTag(view.url)];
  if (view.route !== undefined) tags.push(routeTag(view.route));
  if (opts.tags !== undefined) tags.push(...opts.tags(req));
  return tags;
}
