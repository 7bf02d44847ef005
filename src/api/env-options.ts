/**
 * Trove's options from environment variables, so a deploy can point a service at its Redis and
 * tune the cache without a code change.
 *
 * Grammar of the values (surrounding whitespace is ignored; an empty value counts as unset, as
 * `TROVE_TTL=` in a compose file means "not given"):
 *
 * - duration: what `Duration` strings accept (`500`, `'250ms'`, `'30s'`, `'10m'`, `'1h30m'`), and
 *   `infinity` (any case) where the option takes `Infinity`;
 * - boolean: `true`/`false`, `on`/`off`, `yes`/`no`, `1`/`0` (any case);
 * - bytes: a whole number of bytes, or one followed by `KiB`, `MiB` or `GiB` (any case). Decimal
 *   units (`KB`, `MB`) are refused rather than guessed: they mean 1000 to some and 1024 to others;
 * - list: comma-separated, blanks around commas ignored, empty items refused.
 *
 * Decisions:
 * - Every value is checked here, with the checks `createTrove` applies, so `troveOptionsFromEnv`
 *   fails at start-up on the variable, not later on an option name the operator never wrote. An
 *   error is an `InvalidOptionError` whose `option` is the variable's name.
 * - A `TROVE_*` variable that is not one of {@link TROVE_ENV_VARIABLES} is refused, naming the
 *   nearest known one: a typo (`TROVE_TTLL`) would otherwise leave the default in force unnoticed.
 * - Only what a deploy decides is read: where Redis is, key prefix and version, deadlines, sizes,
 *   freshness. What the code decides (per-region options, codecs of custom types, the logger, the
 *   embedded store's bounds) stays in code, in `overrides` or `trove.region(name, options)`.
 * - Three topologies are exclusive: `TROVE_REDIS_URL`, `TROVE_REDIS_CLUSTER` and
 *   `TROVE_REDIS_SENTINELS`; more than one is refused rather than one silently winning.
 */
import { type Duration, toMs } from '../duration.js';
import { InvalidOptionError } from '../errors.js';
import { keyToken } from '../keys/index.js';
import { checkNearCacheOptions, type NearCacheOptions } from '../near/index.js';
import { checkRegionOptions, type CompressionOption, type RegionOptions, resolveRegionOptions } from '../region/index.js';
import { checkStoreOptions } from '../store/index.js';
import type { BuiltinCodecName } from '../codec/index.js';
import { createTrove, type StatsOptions, type TroveOptions } from './trove.js';
import type { Trove } from './public.js';

/** Environment variables as `process.env` holds them. */
export type TroveEnv = Readonly<Record<string, string | undefined>>;

/** What the parse of one variable sets on the options being built. */
type Apply = (opts: MutableOptions, raw: string, name: string) => void;

/** The options being built: the stats and Sentinel parts are assembled from several variables. */
interface MutableOptions extends TroveOptions {
  sentinelName?: string;
  sentinels?: { host: string; port: number }[];
  statsOn?: boolean;
  statsParts?: StatsOptions;
}

/** The variables read, in the order of the README's table, with the option each sets. */
const VARIABLES: Readonly<Record<string, { option: string; apply: Apply }>> = {
  TROVE_REDIS_URL: { option: 'redis', apply: (o, raw) => (o.redis = raw) },
  TROVE_REDIS_CLUSTER: { option: 'redis.cluster', apply: (o, raw, name) => (o.redis = { cluster: list(raw, name) }) },
  TROVE_REDIS_SENTINELS: { option: 'redis.sentinels', apply: (o, raw, name) => (o.sentinels = list(raw, name).map((s) => hostPort(s, name))) },
  TROVE_REDIS_SENTINEL_NAME: { option: 'redis.name', apply: (o, raw) => (o.sentinelName = raw) },
  TROVE_REPLICAS: { option: 'replicas', apply: (o, raw, name) => (o.replicas = list(raw, name)) },
  TROVE_READ_FROM: { option: 'readFrom', apply: (o, raw, name) => (o.readFrom = oneOf(raw, name, ['primary', 'replica'] as const)) },
  TROVE_PREFIX: { option: 'prefix', apply: (o, raw) => (o.prefix = raw) },
  TROVE_VERSION: { option: 'version', apply: (o, raw) => (o.version = raw) },
  TROVE_COMMAND_TIMEOUT: { option: 'commandTimeout', apply: (o, raw, name) => (o.commandTimeout = duration(raw, name)) },
  TROVE_LOCK_IN: { option: 'lockIn', apply: (o, raw, name) => (o.lockIn = oneOf(raw, name, ['value', 'key'] as const)) },
  TROVE_SYNC_INTERVAL: { option: 'syncInterval', apply: (o, raw, name) => (o.syncInterval = duration(raw, name, { infinite: true })) },
  TROVE_NEAR_CACHE: { option: 'nearCache', apply: (o, raw, name) => (o.nearCache = nearCache(raw, name)) },
  TROVE_STATS: { option: 'stats', apply: (o, raw, name) => (o.statsOn = bool(raw, name)) },
  TROVE_STATS_FLUSH_INTERVAL: {
    option: 'stats.flushInterval',
    apply: (o, raw, name) => (o.statsParts = { ...o.statsParts, flushInterval: duration(raw, name) }),
  },
  TROVE_STATS_RETENTION: { option: 'stats.retention', apply: (o, raw, name) => (o.statsParts = { ...o.statsParts, retention: duration(raw, name) }) },
  TROVE_TTL: { option: 'ttl', apply: (o, raw, name) => (o.ttl = duration(raw, name, { infinite: true })) },
  TROVE_FRESH_FOR: { option: 'freshFor', apply: (o, raw, name) => (o.freshFor = duration(raw, name, { zero: true, infinite: true })) },
  TROVE_JITTER: { option: 'jitter', apply: (o, raw, name) => (o.jitter = fraction(raw, name)) },
  TROVE_CODEC: { option: 'codec', apply: (o, raw, name) => (o.codec = oneOf<BuiltinCodecName>(raw, name, ['json', 'msgpack', 'v8'])) },
  TROVE_COMPRESSION: { option: 'compression', apply: (o, raw, name) => (o.compression = compression(raw, name)) },
  TROVE_COMPRESS_THRESHOLD: { option: 'compressThreshold', apply: (o, raw, name) => (o.compressThreshold = bytes(raw, name)) },
  TROVE_MAX_VALUE_BYTES: { option: 'maxValueBytes', apply: (o, raw, name) => (o.maxValueBytes = bytes(raw, name)) },
  TROVE_ON_COLD: { option: 'onCold', apply: (o, raw, name) => (o.onCold = oneOf(raw, name, ['wait', 'fail'] as const)) },
  TROVE_WAIT_TIMEOUT: { option: 'waitTimeout', apply: (o, raw, name) => (o.waitTimeout = duration(raw, name)) },
  TROVE_LOCK_LEASE: { option: 'lockLease', apply: (o, raw, name) => (o.lockLease = duration(raw, name)) },
  TROVE_SOFT_TIMEOUT: { option: 'softTimeout', apply: (o, raw, name) => (o.softTimeout = duration(raw, name)) },
  TROVE_HARD_TIMEOUT: { option: 'hardTimeout', apply: (o, raw, name) => (o.hardTimeout = duration(raw, name)) },
  TROVE_FAIL_SAFE: { option: 'failSafe', apply: (o, raw, name) => (o.failSafe = bool(raw, name)) },
  TROVE_FAIL_SAFE_BACKOFF: { option: 'failSafeBackoff', apply: (o, raw, name) => (o.failSafeBackoff = duration(raw, name)) },
};

/** The names of the environment variables Trove reads, each mapped to the option it sets (`'redis.cluster'`: `redis: { cluster }`). */
export const TROVE_ENV_VARIABLES: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(Object.entries(VARIABLES).map(([name, v]) => [name, v.option])),
);

/**
 * Reads Trove's options from environment variables (by default `process.env`): `TROVE_REDIS_URL`,
 * `TROVE_PREFIX`, `TROVE_VERSION`, `TROVE_TTL`, … (see {@link TROVE_ENV_VARIABLES} and the
 * README's table). Pure: opens nothing, so the result can be logged, inspected or merged.
 * Variables not set are left out, so createTrove's defaults apply.
 * @throws InvalidOptionError naming the variable (`err.option`, e.g. `'TROVE_TTL'`) when a value is
 * invalid, when two variables conflict, or when a `TROVE_*` variable is not one Trove reads.
 */
export function troveOptionsFromEnv(env: TroveEnv = process.env): TroveOptions {
  if (typeof env !== 'object' || env === null) throw new InvalidOptionError('env', 'expected an object of environment variables');
  const given = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('TROVE_')) continue;
    if (!(name in VARIABLES)) throw unknownVariable(name);
    const raw = value?.trim();
    if (raw) given.set(name, raw);
  }
  const opts: MutableOptions = {};
  for (const [name, raw] of given) VARIABLES[name]!.apply(opts, raw, name);
  return assemble(opts, given);
}

/**
 * Creates a trove from environment variables (see {@link troveOptionsFromEnv}), with `overrides`
 * applied over them: an option given in both is the override's, except `nearCache` and `stats`,
 * whose fields are merged when both are objects (an override of `{ maxBytes }` keeps the
 * environment's `maxEntries`).
 * @param env - the variables; default `process.env`
 * @param overrides - options that win over the environment's, e.g. a `logger` or `regions`
 * @throws InvalidOptionError naming the variable, or the option of `overrides`, that is invalid
 */
export function createTroveFromEnv(env: TroveEnv = process.env, overrides: TroveOptions = {}): Trove {
  const fromEnv = troveOptionsFromEnv(env);
  if (typeof overrides !== 'object' || overrides === null) throw new InvalidOptionError('overrides', 'expected an options object');
  const merged: TroveOptions = { ...fromEnv, ...overrides };
  for (const key of ['nearCache', 'stats'] as const) {
    const a = fromEnv[key];
    const b = overrides[key];
    if (isObject(a) && isObject(b)) (merged as Record<string, unknown>)[key] = { ...a, ...b };
  }
  return createTrove(merged);
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

/** Puts the parts given by several variables together, then checks the whole as createTrove would. */
function assemble(opts: MutableOptions, given: ReadonlyMap<string, string>): TroveOptions {
  const { sentinels, sentinelName, statsOn, statsParts, ...out } = opts;
  const topologies = ['TROVE_REDIS_URL', 'TROVE_REDIS_CLUSTER', 'TROVE_REDIS_SENTINELS'].filter((n) => given.has(n));
  if (topologies.length > 1)
    throw new InvalidOptionError(topologies.join(', '), 'set only one of them: Redis is one server, a cluster, or found through Sentinel');
  if (sentinels !== undefined) {
    if (sentinelName === undefined)
      throw new InvalidOptionError('TROVE_REDIS_SENTINEL_NAME', 'required with TROVE_REDIS_SENTINELS: the name of the primary Sentinel watches');
    out.redis = { sentinels, name: sentinelName };
  } else if (sentinelName !== undefined) {
    throw new InvalidOptionError('TROVE_REDIS_SENTINEL_NAME', 'given without TROVE_REDIS_SENTINELS');
  }
  if (statsOn === false && statsParts !== undefined) {
    const parts = ['TROVE_STATS_FLUSH_INTERVAL', 'TROVE_STATS_RETENTION'].filter((n) => given.has(n));
    throw new InvalidOptionError(['TROVE_STATS', ...parts].join(', '), 'statistics are off, so their settings would do nothing; drop one or the other');
  }
  if (statsOn === false) out.stats = false;
  else if (statsParts !== undefined) out.stats = statsParts;
  else if (statsOn === true) out.stats = {};
  // What only the whole can tell (a URL's form, freshFor above ttl, replicas without readFrom),
  // checked by Trove's own rules and reported on the variables behind the option.
  renamed(given, () => {
    checkStoreOptions({ redis: out.redis, replicas: out.replicas, readFrom: out.readFrom });
    if (out.prefix !== undefined) keyToken(out.prefix, 'prefix');
    if (out.version !== undefined) keyToken(out.version, 'version');
    const region: RegionOptions = {};
    for (const [k, v] of Object.entries(out)) if (!TOP_LEVEL.has(k)) (region as Record<string, unknown>)[k] = v;
    checkRegionOptions(region, '');
    resolveRegionOptions([region], '');
  });
  return out;
}

/** Options of TroveOptions that are not region defaults. */
const TOP_LEVEL = new Set(['redis', 'replicas', 'readFrom', 'prefix', 'version', 'commandTimeout', 'lockIn', 'syncInterval', 'nearCache', 'stats']);

/** Runs `check`; an InvalidOptionError it throws is thrown again naming the variables behind its option. */
function renamed(given: ReadonlyMap<string, string>, check: () => void): void {
  try {
    check();
  } catch (err) {
    if (!(err instanceof InvalidOptionError)) throw err;
    const option = err.option.split('.')[0]!;
    const behind = (n: string): boolean => VARIABLES[n]!.option.split('.')[0] === option;
    const names = [...given.keys()].filter(behind);
    // An option no variable set (readFrom, when TROVE_REPLICAS needs it) is named by its variable.
    if (names.length === 0) names.push(...Object.keys(VARIABLES).filter(behind).slice(0, 1));
    if (names.length === 0) throw err;
    const raw = given.get(names[0]!);
    throw new InvalidOptionError(names.join(', '), names.length === 1 && raw !== undefined ? `${JSON.stringify(raw)}: ${detail(err)}` : detail(err));
  }
}

/** The message of an InvalidOptionError without its `Invalid option "…": ` head. */
function detail(err: InvalidOptionError): string {
  return err.message.slice(`Invalid option "${err.option}": `.length);
}

function unknownVariable(name: string): InvalidOptionError {
  const known = Object.keys(VARIABLES);
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  const hint = best === undefined ? '' : ` Did you mean ${best}?`;
  return new InvalidOptionError(name, `not a variable Trove reads.${hint} Known: ${known.join(', ')}`);
}

/** Levenshtein distance; the names are short (under 30 characters), so the table is small. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

function duration(raw: string, name: string, allow: { zero?: boolean; infinite?: boolean } = {}): Duration {
  if (/^infinity$/i.test(raw)) {
    if (allow.infinite) return Number.POSITIVE_INFINITY;
    throw new InvalidOptionError(name, `${JSON.stringify(raw)}: must be finite`);
  }
  try {
    toMs(raw, name, { allowZero: allow.zero ?? false });
  } catch {
    const why = /^-/.test(raw) ? 'must not be negative' : /^0+(\.0*)?(ms|s|m|h|d|w)?$/.test(raw) ? 'must be greater than zero' : 'is not a duration';
    throw new InvalidOptionError(name, `${JSON.stringify(raw)} ${why} (use e.g. 500, 250ms, 30s, 10m, 4h, 7d${allow.infinite ? ', infinity' : ''})`);
  }
  return raw;
}

const TRUE = new Set(['true', 'on', 'yes', '1']);
const FALSE = new Set(['false', 'off', 'no', '0']);

function bool(raw: string, name: string): boolean {
  const v = raw.toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new InvalidOptionError(name, `${JSON.stringify(raw)} is not a boolean (use true or false)`);
}

function oneOf<T extends string>(raw: string, name: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  throw new InvalidOptionError(name, `${JSON.stringify(raw)} is not one of ${allowed.join(', ')}`);
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

function bytes(raw: string, name: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(raw);
  const unit = BYTE_UNITS[m?.[2]?.toLowerCase() ?? 'none'];
  const n = m && unit !== undefined ? Number(m[1]) * unit : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidOptionError(name, `${JSON.stringify(raw)} is not a number of bytes (use e.g. 1024, 512KiB, 8MiB)`);
  return n;
}

/** A fraction from 0 up to, not including, 1 (`0.1`), as the `jitter` option takes it. */
function fraction(raw: string, name: string): number {
  const n = /^(0|0?\.\d+)$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 0 && n < 1)) throw new InvalidOptionError(name, `${JSON.stringify(raw)} is not a fraction from 0 up to (not including) 1 (use e.g. 0.1)`);
  return n;
}

function compression(raw: string, name: string): CompressionOption {
  if (FALSE.has(raw.toLowerCase())) return false;
  return oneOf(raw, name, ['deflate', 'gzip', 'brotli'] as const);
}

function list(raw: string, name: string): string[] {
  const items = raw.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new InvalidOptionError(name, `${JSON.stringify(raw)} has an empty item (expected a comma-separated list)`);
  return items;
}

function hostPort(item: string, name: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(item);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65_535) throw new InvalidOptionError(name, `${JSON.stringify(item)} is not host:port`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/** `false`/`off` turns it off, `true`/`on` keeps the defaults, a number is `maxEntries`, a JSON object is the options. */
function nearCache(raw: string, name: string): NearCacheOptions | false {
  const lower = raw.toLowerCase();
  if (FALSE.has(lower) && lower !== '0') return false;
  if (TRUE.has(lower) && lower !== '1') return {};
  if (/^\d+$/.test(raw)) {
    const maxEntries = Number(raw);
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1)
      throw new InvalidOptionError(name, `${JSON.stringify(raw)}: the number of entries must be at least 1 (use off to turn the near cache off)`);
    return { maxEntries };
  }
  if (raw.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      throw new InvalidOptionError(name, `${JSON.stringify(raw)} is not valid JSON (${(err as Error).message})`);
    }
    try {
      return checkNearCacheOptions(parsed);
    } catch (err) {
      if (err instanceof InvalidOptionError) throw new InvalidOptionError(name, `${JSON.stringify(raw)}: ${err.option}: ${detail(err)}`);
      throw err;
    }
  }
  throw new InvalidOptionError(name, `${JSON.stringify(raw)} is not off, on, a number of entries or a JSON object of near cache options`);
}
