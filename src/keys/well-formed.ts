import { InvalidOptionError } from '../errors.js';

type WellFormedCheck = { isWellFormed(): boolean };

/**
 * Index of the first lone (unpaired) UTF-16 surrogate in `s`, or -1 when `s` is well-formed.
 * Redis receives keys as UTF-8, which cannot encode a lone surrogate: it becomes U+FFFD, so
 * '\uD800' and '\uDC00' would address the same Redis key.
 */
export function loneSurrogateAt(s: string): number {
  // String.prototype.isWellFormed exists on Node 20 but not in the ES2023 type library; it is the
  // fast path, a plain scan only runs to locate the culprit.
  if ((s as unknown as WellFormedCheck).isWellFormed()) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
    }
    return i;
  }
  return -1;
}

/**
 * Returns `value` when it is well-formed UTF-16; otherwise throws an {@link InvalidOptionError} for
 * `option` that names the lone surrogate and its index. `noun` says what the value is, e.g. `tag`.
 */
export function checkWellFormed(value: string, option: string, noun: string): string {
  const at = loneSurrogateAt(value);
  if (at === -1) return value;
  const unit = value.charCodeAt(at).toString(16).toUpperCase();
  // JSON.stringify writes a lone surrogate as an escape, so the message itself stays well-formed.
  const shown = JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  throw new InvalidOptionError(
    option,
    `${noun} ${shown} has a lone surrogate at index ${at} (U+${unit}): Redis stores keys as UTF-8, which would turn it into U+FFFD and merge it with other keys`,
  );
}
