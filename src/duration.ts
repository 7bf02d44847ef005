import { InvalidOptionError } from './errors.js';

/** A duration: milliseconds as a number, or a string such as `'250ms'`, `'30s'`, `'10m'`, `'4h'`, `'7d'`, `'1h30m'`. */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/gy;

/**
 * Parses a duration into milliseconds. `Infinity` is accepted only when `allowInfinite` is set.
 * @throws InvalidOptionError naming `option` when the value is negative, NaN, or unparsable.
 */
export function toMs(value: Duration, option: string, opts: { allowZero?: boolean; allowInfinite?: boolean } = {}): number {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    ms = parseDurationString(value, option);
  } else {
    throw new InvalidOptionError(option, `expected milliseconds or a string like '10m', got ${typeof value}`);
  }
  if (Number.isNaN(ms)) throw new InvalidOptionError(option, 'must not be NaN');
  if (ms === Number.POSITIVE_INFINITY) {
    if (opts.allowInfinite) return ms;
    throw new InvalidOptionError(option, 'must be finite');
  }
  if (ms < 0) throw new InvalidOptionError(option, `must not be negative (got ${String(value)})`);
  if (ms === 0 && !opts.allowZero) throw new InvalidOptionError(option, 'must be greater than zero');
  return ms;
}

function parseDurationString(text: string, option: string): number {
  const s = text.trim();
  if (s === '') throw new InvalidOptionError(option, 'empty duration string');
  if (/^-/.test(s)) throw new InvalidOptionError(option, `must not be negative (got '${text}')`);
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  for (;;) {
    const m = PART.exec(s);
    if (!m) break;
    total += Number(m[1]) * UNIT_MS[m[2] as string]!;
    consumed = PART.lastIndex;
    while (s[consumed] === ' ') consumed++;
    PART.lastIndex = consumed;
  }
  if (consumed !== s.length || consumed === 0) {
    throw new InvalidOptionError(option, `cannot parse duration '${text}' (use e.g. 500, '250ms', '30s', '10m', '4h', '7d')`);
  }
  return total;
}
