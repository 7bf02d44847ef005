/**
 * One spelling per path, so keys and tags match however a client escaped it: each segment is
 * percent-decoded and encoded again with `encodeURIComponent` (`/caf%C3%A9`, `/caf%c3%a9` and
 * `/café` are one path; an escaped slash `%2F` stays escaped, inside its segment). A segment that
 * cannot be decoded (a lone `%`) is kept as received.
 */

/** Characters `encodeURIComponent` leaves alone: a segment made only of these is already canonical. */
const PLAIN = /^[A-Za-z0-9\-_.!~*'()]*$/;

export function canonicalPath(path: string): string {
  if (PLAIN.test(path.replaceAll('/', ''))) return path;
  return path
    .split('/')
    .map((segment) => {
      if (PLAIN.test(segment)) return segment;
      try {
        return encodeURIComponent(decodeURIComponent(segment));
      } catch {
        return segment;
      }
    })
    .join('/');
}

/** A route parameter's value, as given to the invalidation helpers. */
export type RouteParamValue = string | number;

/**
 * The path a route pattern gives for these parameters: `/users/:id` with `{ id: 42 }` is
 * `/users/42`. Understands the patterns of Express 5 (`:name`, `*name`, optional groups `{…}`),
 * Fastify (`:name`, `*` as param `'*'`) and Hono (`:name`, `:name?`, `:name{regex}`, `*`).
 * Values are percent-encoded (a wildcard's value segment by segment). Throws a `TypeError` naming
 * a parameter the pattern needs and `params` lacks.
 */
export function fillRoute(pattern: string, params: Readonly<Record<string, RouteParamValue>>): string {
  // Express 5 optional groups: kept when every parameter inside is given, dropped otherwise.
  const withoutGroups = pattern.replace(/\{([^{}]*)\}/g, (group, inner: string, offset: number) => {
    // A Hono regex constraint (`:id{[0-9]+}`) follows a parameter name: not a group.
    if (/:[A-Za-z0-9_$]+$/.test(pattern.slice(0, offset))) return group;
    const names = [...inner.matchAll(/[:*]([A-Za-z0-9_$]+)/g)].map((m) => m[1]!);
    return names.every((n) => params[n] !== undefined) ? inner : '';
  });
  const filled = withoutGroups.replace(/([:*])([A-Za-z0-9_$]*)(\{[^}]*\})?(\?)?/g, (_m, kind: string, name: string, _re, optional: string | undefined) => {
    const key = name === '' ? '*' : name;
    const value = params[key];
    if (value === undefined) {
      if (optional !== undefined) return '';
      throw new TypeError(`the route ${pattern} needs the parameter '${key}'`);
    }
    const text = String(value);
    return kind === '*' ? text.split('/').map(encodeURIComponent).join('/') : encodeURIComponent(text);
  });
  // An optional parameter left out can leave `//` or a trailing `/`.
  const tidy = filled.replace(/\/{2,}/g, '/');
  return tidy.length > 1 && tidy.endsWith('/') && !pattern.endsWith('/') ? tidy.slice(0, -1) : tidy;
}
