/**
 * A stored response: status, allowed headers and body. The body is kept as text when the content
 * type is textual and the bytes are valid UTF-8 (compact, and readable in Redis), else as base64, so
 * the entry is plain data that every codec stores faithfully (the plain `json` codec of raw mode
 * has no binary type).
 */

export interface CachedResponse {
  /** Status. */
  readonly s: number;
  /** Allowed headers, lower-case names. */
  readonly h: Readonly<Record<string, string | readonly string[]>>;
  /** Body: text, or base64 when `b64`. */
  readonly b: string;
  /** Whether `b` is base64. */
  readonly b64?: true;
}

/** A handler's response that is answered but not stored: its requests are not shared either. */
export const NOT_STORED: unique symbol = Symbol('trove-cache: response not stored');

const TEXTUAL = /^(?:text\/|application\/(?:[a-z0-9.+-]*\+)?(?:json|xml|javascript|ecmascript|x-www-form-urlencoded)\b|image\/svg\+xml)/i;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function isTextual(contentType: unknown): boolean {
  return typeof contentType === 'string' && TEXTUAL.test(contentType);
}

/** An entry from a body given as text or bytes. */
export function toCached(status: number, headers: Record<string, string | string[]>, body: string | Uint8Array): CachedResponse {
  if (typeof body === 'string') return { s: status, h: headers, b: body };
  if (isTextual(headers['content-type'])) {
    try {
      return { s: status, h: headers, b: utf8.decode(body) };
    } catch {
      // Not UTF-8 after all: kept as bytes.
    }
  }
  return { s: status, h: headers, b: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64'), b64: true };
}

/** The body to send: text as stored, or the decoded bytes. */
export function bodyOf(entry: CachedResponse): string | Buffer {
  return entry.b64 === true ? Buffer.from(entry.b, 'base64') : entry.b;
}

/** Whether a value read from the region has the shape of an entry (a region shared with other data must not crash a request). */
export function isCachedResponse(value: unknown): value is CachedResponse {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<CachedResponse>;
  return typeof v.s === 'number' && typeof v.b === 'string' && typeof v.h === 'object' && v.h !== null;
}
