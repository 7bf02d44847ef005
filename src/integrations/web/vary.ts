/**
 * Request headers a cached route varies on, reduced to few values so the key space stays small:
 * a key per distinct raw `Accept-Language` would store one copy per browser configuration.
 *
 * - `accept-language` (and `content-language`): the primary tag of the preferred language, lower
 *   case (`'fr-CH, fr;q=0.9, en;q=0.8'` is `fr`); `*`, empty or malformed is `''`.
 * - Country headers (`cf-ipcountry`, `cloudfront-viewer-country`, `x-vercel-ip-country`,
 *   `x-appengine-country`, `x-country-code`, `x-country`): two letters or digits, upper case
 *   (`'ch'` is `CH`); anything else is `''`.
 * - Any other header: trimmed, lower case, inner whitespace collapsed, at most 64 characters.
 */

const COUNTRY_HEADERS = new Set(['cf-ipcountry', 'cloudfront-viewer-country', 'x-vercel-ip-country', 'x-appengine-country', 'x-country-code', 'x-country']);

/** Longest value kept of a header without a normaliser of its own: longer ones are cut, not hashed, so keys stay readable. */
const MAX_VALUE = 64;

/** The primary language subtag of the preferred entry of an `Accept-Language` header. */
export function primaryLanguage(value: string | undefined): string {
  if (value === undefined) return '';
  let best = '';
  let bestQ = 0;
  for (const part of value.split(',')) {
    const [range, ...params] = part.trim().split(';');
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m) q = Number(m[1]);
    }
    // Strictly greater: among equal weights the first listed wins, as RFC 9110 orders them.
    if (!(q > bestQ)) continue;
    const primary = /^([A-Za-z]{1,8})(?:-|$)/.exec(range!.trim())?.[1];
    if (primary === undefined) continue;
    best = primary.toLowerCase();
    bestQ = q;
  }
  return best;
}

/** An ISO 3166 country code as CDNs send it, upper case; `''` when it is not two letters or digits. */
export function countryCode(value: string | undefined): string {
  const v = value?.trim().toUpperCase() ?? '';
  return /^[A-Z0-9]{2}$/.test(v) ? v : '';
}

/** The normalised value of header `name` (lower case) for the cache key. */
export function normaliseHeader(name: string, value: string | undefined): string {
  if (name === 'accept-language' || name === 'content-language') return primaryLanguage(value);
  if (COUNTRY_HEADERS.has(name)) return countryCode(value);
  if (value === undefined) return '';
  return value.trim().toLowerCase().replace(/\s+/g, ' ').slice(0, MAX_VALUE);
}

/** Header names as given in `vary`, checked and lower-cased. */
export function varyNames(names: readonly string[]): readonly string[] {
  return names.map((n) => n.toLowerCase());
}
