/**
 * What the shared web code reads of a request, whatever the framework: each integration builds one
 * from its own request object, so key building, vary and skip rules are written once.
 */
export interface RequestView {
  /** Upper-case HTTP method. */
  readonly method: string;
  /** The URL as received: path and query, percent-encoding untouched (an absolute URL is accepted too). */
  readonly url: string;
  /** The route pattern that matched (e.g. `'/users/:id'`), when the framework knows it. */
  readonly route: string | undefined;
  /** A request header by lower-case name; several values joined with `', '`. */
  header(name: string): string | undefined;
}

/** The path and the query string (without `?`) of a request URL, absolute or not. */
export function splitUrl(url: string): { path: string; query: string } {
  let start = 0;
  const scheme = url.indexOf('://');
  if (scheme !== -1 && scheme < url.indexOf('/')) {
    start = url.indexOf('/', scheme + 3);
    if (start === -1) return { path: '/', query: '' };
  }
  const q = url.indexOf('?', start);
  const end = q === -1 ? url.length : q;
  const hash = url.indexOf('#', start);
  const pathEnd = hash !== -1 && hash < end ? hash : end;
  const query = q === -1 ? '' : url.slice(q + 1, hash > q ? hash : url.length);
  return { path: url.slice(start, pathEnd) || '/', query };
}

/** Header values of Node's `IncomingHttpHeaders` (string, string[] or undefined) as one string. */
export function headerValue(value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  return value.join(', ');
}
