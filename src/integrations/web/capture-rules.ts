/**
 * Which responses a cached route stores. Stored: a GET response whose status is in `statuses`,
 * that sets no cookie (one user's session must never reach another), that its handler did not
 * mark `Cache-Control: no-store` or `private`, and whose body fits `maxBodyBytes`. A status of 500
 * or more is a failure: with a stale response at hand, fail-safe answers that one instead.
 */

/**
 * Response headers stored and replayed by default: those that describe the body, and the
 * caching headers the handler chose for browsers and CDNs.
 */
export const DEFAULT_CACHED_HEADERS: readonly string[] = Object.freeze([
  'content-type',
  'content-language',
  'content-disposition',
  'cache-control',
  'etag',
  'last-modified',
  'link',
  'vary',
]);

/** `'store'`, `'skip'` (answered, not stored, not shared) or `'failure'` (the handler failed). */
export type Verdict = 'store' | 'skip' | 'failure';

/** A response's headers, as Node keeps them (lower-case names). */
export type HeaderBag = Readonly<Record<string, string | number | readonly string[] | undefined>>;

export function verdict(
  status: number,
  headers: HeaderBag,
  bodyBytes: number | undefined,
  rules: { statuses: ReadonlySet<number>; maxBodyBytes: number },
): Verdict {
  if (status >= 500) return 'failure';
  if (!rules.statuses.has(status)) return 'skip';
  if (headers['set-cookie'] !== undefined) return 'skip';
  const cc = headers['cache-control'];
  if (cc !== undefined && /(?:^|[\s,])(?:no-store|private)(?:$|[\s,=])/i.test(String(cc))) return 'skip';
  // A body that cannot be read whole (a stream Fastify pipes) is answered, not stored.
  if (bodyBytes === undefined || bodyBytes > rules.maxBodyBytes) return 'skip';
  return 'store';
}

/** The allowed headers of a response, values as strings (several values kept as a list). */
export function pickHeaders(headers: HeaderBag, allowed: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of allowed) {
    const v = headers[name];
    if (v === undefined) continue;
    out[name] = Array.isArray(v) ? v.map(String) : String(v);
  }
  return out;
}
