/**
 * `trove-cache/prometheus`: a trove's reads, factory runs, value sizes and errors as prom-client
 * metrics, counted from its events (`trove.on`), labelled by region and cached function.
 *
 * | metric | type | labels |
 * | --- | --- | --- |
 * | `trove_requests_total` | counter | `region`, `function`, `result` (`hit`, `miss`, `stale`), `tier` (`near`, `store`; `''` on misses) |
 * | `trove_compute_seconds` | histogram | `region`, `function`, `result` (`success`, `failure`) |
 * | `trove_value_bytes` | histogram | `region`, `function` |
 * | `trove_errors_total` | counter | `region`, `function`, `code` (`TroveError.code`) |
 *
 * Every series carries every label, so a label missing from an event is the empty string (which
 * PromQL treats as no label): `function` on calls made on a region directly, `tier` on misses,
 * `region` on errors outside any region (a lost connection). Keys are never labels: their number
 * is unbounded.
 *
 * A read is counted once: a `hit` event is `result="hit"`, or `"stale"` when the value it found was
 * past its `freshFor`; a `miss` event is `"miss"`. Why stale values were answered (refreshing,
 * fail-safe, timeout) is in the `stale` events, not counted here. Failed factory runs are the
 * `result="failure"` series of `trove_compute_seconds`, so their count and duration sit beside the
 * successful ones.
 *
 * prom-client is an optional peer dependency: only this entry point imports it.
 */
import { Counter, Histogram, type Registry, register } from 'prom-client';
import { InvalidOptionError, type Trove } from 'trove-cache';
import { buckets, checkTrove, listen } from '../shared.js';

/**
 * Default upper bounds of `trove_compute_seconds`, in seconds: 1 ms (a factory answered from a
 * local map) to 60 s (a report or a slow upstream), about 2.5x apart.
 */
export const DEFAULT_COMPUTE_BUCKETS: readonly number[] = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);

/**
 * Default upper bounds of `trove_value_bytes`, in bytes: 64 B (a small JSON object in its envelope)
 * to 64 MiB (past the point where a value should be cached whole), 4x apart.
 */
export const DEFAULT_SIZE_BUCKETS: readonly number[] = Object.freeze([
  64, 256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864,
]);

/** Options of {@link registerTroveMetrics}; all optional. */
export interface TroveMetricsOptions {
  /**
   * The prom-client registry the four metrics are registered in. Several troves registered on one
   * registry share its metrics: their series add up per label set.
   * @defaultValue prom-client's global `register`
   */
  registry?: Registry;
  /**
   * Upper bounds of the buckets of `trove_compute_seconds`, in seconds, ascending. Fixed per
   * registry: the first registration on a registry chooses them.
   * @defaultValue {@link DEFAULT_COMPUTE_BUCKETS} (1 ms to 60 s)
   */
  computeBuckets?: readonly number[];
  /**
   * Upper bounds of the buckets of `trove_value_bytes`, in bytes, ascending. Fixed per registry,
   * like `computeBuckets`.
   * @defaultValue {@link DEFAULT_SIZE_BUCKETS} (64 B to 64 MiB)
   */
  sizeBuckets?: readonly number[];
}

/** What {@link registerTroveMetrics} returns. */
export interface TroveMetrics {
  /**
   * Stops counting this trove's events (removes its listeners). The metrics stay registered with
   * the values counted so far; registering a trove on the registry again resumes them. Calling it
   * again does nothing.
   */
  stop(): void;
}

interface Metrics {
  requests: Counter<'region' | 'function' | 'result' | 'tier'>;
  compute: Histogram<'region' | 'function' | 'result'>;
  bytes: Histogram<'region' | 'function'>;
  errors: Counter<'region' | 'function' | 'code'>;
  computeBuckets: readonly number[];
  sizeBuckets: readonly number[];
}

const NAMES = ['trove_requests_total', 'trove_compute_seconds', 'trove_value_bytes', 'trove_errors_total'] as const;

/** The metrics created on each registry, so a second trove (or a second call) reuses them instead of failing on a duplicate name. */
const created = new WeakMap<Registry, Metrics>();

/**
 * Counts a trove's events in prom-client metrics (see the module documentation for names and
 * labels). Adds no timer and no I/O: the figures are read whenever the registry is scraped.
 *
 * Throws `InvalidOptionError` for an invalid option, or when the registry already holds a metric
 * of one of these names that this function did not create.
 *
 * @example
 * ```ts
 * const metrics = registerTroveMetrics(trove, { registry });
 * app.get('/metrics', async (_req, res) => res.type(registry.contentType).send(await registry.metrics()));
 * ```
 */
export function registerTroveMetrics(trove: Trove, options: TroveMetricsOptions = {}): TroveMetrics {
  checkTrove(trove);
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'expected an object');
  const registry = options.registry ?? register;
  if (typeof registry !== 'object' || registry === null || typeof registry.registerMetric !== 'function' || typeof registry.getSingleMetric !== 'function') {
    throw new InvalidOptionError('registry', 'expected a prom-client Registry');
  }
  const computeBuckets = buckets(options.computeBuckets, DEFAULT_COMPUTE_BUCKETS, 'computeBuckets');
  const sizeBuckets = buckets(options.sizeBuckets, DEFAULT_SIZE_BUCKETS, 'sizeBuckets');
  const m = metricsOf(registry, computeBuckets, sizeBuckets);

  const stop = listen(trove, {
    hit: (e) => m.requests.inc({ region: e.region, function: e.function ?? '', result: e.stale ? 'stale' : 'hit', tier: e.tier }),
    miss: (e) => m.requests.inc({ region: e.region, function: e.function ?? '', result: 'miss', tier: '' }),
    compute: (e) => m.compute.observe({ region: e.region, function: e.function ?? '', result: e.failed ? 'failure' : 'success' }, e.durationMs / 1000),
    set: (e) => m.bytes.observe({ region: e.region, function: e.function ?? '' }, e.bytes),
    error: (e) => m.errors.inc({ region: e.region ?? '', function: e.function ?? '', code: e.error.code }),
  });
  return { stop };
}

/** The registry's trove metrics: those created earlier when they are still registered, else new ones. */
function metricsOf(registry: Registry, computeBuckets: readonly number[], sizeBuckets: readonly number[]): Metrics {
  const known = created.get(registry);
  if (known !== undefined && registered(registry, known)) {
    if (!sameNumbers(known.computeBuckets, computeBuckets)) {
      throw new InvalidOptionError('computeBuckets', `the registry already has trove_compute_seconds with buckets [${known.computeBuckets.join(', ')}]`);
    }
    if (!sameNumbers(known.sizeBuckets, sizeBuckets)) {
      throw new InvalidOptionError('sizeBuckets', `the registry already has trove_value_bytes with buckets [${known.sizeBuckets.join(', ')}]`);
    }
    return known;
  }
  for (const name of NAMES) {
    // Checked before creating any, so a conflict leaves the registry as it was.
    if (registry.getSingleMetric(name) !== undefined) {
      throw new InvalidOptionError('registry', `it already has a metric named ${name}, not created by registerTroveMetrics`);
    }
  }
  const registers = [registry];
  const m: Metrics = {
    requests: new Counter({
      name: 'trove_requests_total',
      help: 'Cache reads, by result (hit, miss, stale) and by the tier that answered (near, store)',
      labelNames: ['region', 'function', 'result', 'tier'],
      registers,
    }),
    compute: new Histogram({
      name: 'trove_compute_seconds',
      help: 'Duration of factory runs (getOrSet, cached functions), by result (success, failure)',
      labelNames: ['region', 'function', 'result'],
      buckets: [...computeBuckets],
      registers,
    }),
    bytes: new Histogram({
      name: 'trove_value_bytes',
      help: 'Encoded size of the values written, envelope included',
      labelNames: ['region', 'function'],
      buckets: [...sizeBuckets],
      registers,
    }),
    errors: new Counter({
      name: 'trove_errors_total',
      help: 'Failures the cache handled (error events), by TroveError code',
      labelNames: ['region', 'function', 'code'],
      registers,
    }),
    computeBuckets,
    sizeBuckets,
  };
  created.set(registry, m);
  return m;
}

/** Whether all four metrics are still in the registry (a `registry.clear()` removes them). */
function registered(registry: Registry, m: Metrics): boolean {
  const ours = [m.requests, m.compute, m.bytes, m.errors];
  return NAMES.every((name, i) => registry.getSingleMetric(name) === ours[i]);
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
