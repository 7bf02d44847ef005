/**
 * `trove-cache/otel`: a trove's reads, factory runs, value sizes and errors as OpenTelemetry
 * metrics, recorded from its events (`trove.on`), and optionally one span per factory run.
 *
 * | instrument | kind | unit | attributes |
 * | --- | --- | --- | --- |
 * | `trove.requests` | counter | `{request}` | `trove.region`, `trove.function`, `trove.result` (`hit`, `miss`, `stale`), `trove.tier` (`near`, `store`) |
 * | `trove.compute.duration` | histogram | `s` | `trove.region`, `trove.function`, `error.type` (failed runs only) |
 * | `trove.value.size` | histogram | `By` | `trove.region`, `trove.function` |
 * | `trove.errors` | counter | `{error}` | `trove.region`, `trove.function`, `error.type` (`TroveError.code`) |
 *
 * An attribute the event does not carry is left out, as OpenTelemetry's conventions ask:
 * `trove.function` on calls made on a region directly, `trove.tier` on misses, `trove.region` on
 * errors outside any region. A failed factory run has `error.type` `'_OTHER'` (the conventions'
 * value for an error of unknown type: the `compute` event says that the run failed, not how).
 * Keys are never metric attributes: their number is unbounded.
 *
 * A read is counted once: a `hit` event is `trove.result` `hit`, or `stale` when the value it found
 * was past its `freshFor`; a `miss` event is `miss`. Why stale values were answered (refreshing,
 * fail-safe, timeout) is in the `stale` events, not counted here.
 *
 * `@opentelemetry/api` is an optional peer dependency: only this entry point imports it.
 */
import { type Attributes, context, type Meter, metrics, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import { type FactoryRunInfo, InvalidOptionError, type Trove } from 'trove-cache';
import { buckets, checkTrove, listen } from '../shared.js';

/** The instrumentation scope of the default meter. */
const SCOPE = 'trove-cache';

/** `error.type` of a failed factory run: the conventions' value when the error's type is not known. */
const UNKNOWN_ERROR = '_OTHER';

/**
 * Default bucket boundaries of `trove.compute.duration`, in seconds: 1 ms (a factory answered from
 * a local map) to 60 s (a report or a slow upstream), about 2.5x apart. OpenTelemetry's own
 * default (0 to 10,000) is meant for milliseconds and would put every run in its first buckets.
 */
export const DEFAULT_COMPUTE_BUCKETS: readonly number[] = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);

/**
 * Default bucket boundaries of `trove.value.size`, in bytes: 64 B (a small JSON object in its
 * envelope) to 64 MiB (past the point where a value should be cached whole), 4x apart.
 */
export const DEFAULT_SIZE_BUCKETS: readonly number[] = Object.freeze([
  64, 256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864,
]);

/** Options of {@link instrumentTrove}; all optional. */
export interface TroveInstrumentationOptions {
  /**
   * The meter that creates the instruments. Several troves instrumented with one meter share its
   * instruments: their figures add up per attribute set.
   * @defaultValue `metrics.getMeter('trove-cache')`: the global MeterProvider's (a no-op until one is registered)
   */
  meter?: Meter;
  /**
   * When given, each factory run (a getOrSet miss or refresh, a cached function's computation)
   * becomes a span named `trove.compute`, of kind internal, with `trove.region`, `trove.key` and
   * `trove.function` (when the call came through `trove.cached()`).
   *
   * The span starts as the factory is called and ends when it settles. Its parent is the span
   * active where the run started (the call that missed, or the one whose read found the value
   * stale), and the factory runs in its context (`Trove.wrapFactories`): with a context manager
   * (AsyncLocalStorage, as the Node SDK registers), the spans the factory starts (a database
   * query, an HTTP call) are its children. A factory that throws gives it status error, the
   * exception as an event (`recordException`) and `error.type` the error's `name` (`'_OTHER'`
   * for a thrown value that is not an Error).
   * @defaultValue none: no spans
   */
  tracer?: Tracer;
  /**
   * Bucket boundaries of `trove.compute.duration`, in seconds, ascending. Given to the meter as
   * advice: a View registered on the MeterProvider overrides them.
   * @defaultValue {@link DEFAULT_COMPUTE_BUCKETS} (1 ms to 60 s)
   */
  computeBuckets?: readonly number[];
  /**
   * Bucket boundaries of `trove.value.size`, in bytes, ascending; advice, like `computeBuckets`.
   * @defaultValue {@link DEFAULT_SIZE_BUCKETS} (64 B to 64 MiB)
   */
  sizeBuckets?: readonly number[];
}

/** What {@link instrumentTrove} returns. */
export interface TroveInstrumentation {
  /**
   * Stops recording this trove's events (removes its listeners). What was recorded stays with the
   * meter's reader. Calling it again does nothing.
   */
  stop(): void;
}

/**
 * Records a trove's events with OpenTelemetry instruments, and spans when a `tracer` is given
 * (see the module documentation for names, units and attributes). Adds no timer and no I/O: the
 * MeterProvider's reader collects and exports.
 *
 * Throws `InvalidOptionError` for an invalid option.
 *
 * @example
 * ```ts
 * const instrumentation = instrumentTrove(trove, { meter: metrics.getMeter('my-service') });
 * ```
 */
export function instrumentTrove(trove: Trove, options: TroveInstrumentationOptions = {}): TroveInstrumentation {
  checkTrove(trove);
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'expected an object');
  const meter = options.meter ?? metrics.getMeter(SCOPE);
  if (typeof meter !== 'object' || meter === null || typeof meter.createCounter !== 'function' || typeof meter.createHistogram !== 'function') {
    throw new InvalidOptionError('meter', 'expected an OpenTelemetry Meter');
  }
  const tracer = options.tracer;
  if (tracer !== undefined && (typeof tracer !== 'object' || tracer === null || typeof tracer.startSpan !== 'function')) {
    throw new InvalidOptionError('tracer', 'expected an OpenTelemetry Tracer');
  }
  const computeBuckets = buckets(options.computeBuckets, DEFAULT_COMPUTE_BUCKETS, 'computeBuckets');
  const sizeBuckets = buckets(options.sizeBuckets, DEFAULT_SIZE_BUCKETS, 'sizeBuckets');

  const requests = meter.createCounter('trove.requests', {
    description: 'Cache reads, by result (hit, miss, stale) and by the tier that answered (near, store)',
    unit: '{request}',
  });
  const compute = meter.createHistogram('trove.compute.duration', {
    description: 'Duration of factory runs (getOrSet, cached functions)',
    unit: 's',
    advice: { explicitBucketBoundaries: [...computeBuckets] },
  });
  const size = meter.createHistogram('trove.value.size', {
    description: 'Encoded size of the values written, envelope included',
    unit: 'By',
    advice: { explicitBucketBoundaries: [...sizeBuckets] },
  });
  const errors = meter.createCounter('trove.errors', {
    description: 'Failures the cache handled (error events), by TroveError code',
    unit: '{error}',
  });

  const stop = listen(trove, {
    hit: (e) => {
      requests.add(1, withFunction({ 'trove.region': e.region, 'trove.result': e.stale ? 'stale' : 'hit', 'trove.tier': e.tier }, e.function));
    },
    miss: (e) => {
      requests.add(1, withFunction({ 'trove.region': e.region, 'trove.result': 'miss' }, e.function));
    },
    compute: (e) => {
      const attributes = withFunction({ 'trove.region': e.region }, e.function);
      if (e.failed) attributes['error.type'] = UNKNOWN_ERROR;
      compute.record(e.durationMs / 1000, attributes);
    },
    set: (e) => {
      size.record(e.bytes, withFunction({ 'trove.region': e.region }, e.function));
    },
    error: (e) => {
      const attributes: Attributes = { 'error.type': e.error.code };
      if (e.region !== undefined) attributes['trove.region'] = e.region;
      errors.add(1, withFunction(attributes, e.function));
    },
  });
  const unwrap = tracer === undefined ? undefined : trove.wrapFactories((info, run) => computeSpan(tracer, info, run));
  return {
    stop: () => {
      stop();
      unwrap?.();
    },
  };
}

/**
 * Runs a factory inside a `trove.compute` span: started now, as a child of the active span, made
 * active while the factory runs, ended when it settles.
 */
function computeSpan(tracer: Tracer, info: FactoryRunInfo, run: () => unknown): unknown {
  const span = tracer.startSpan('trove.compute', {
    kind: SpanKind.INTERNAL,
    attributes: withFunction({ 'trove.region': info.region, 'trove.key': info.key }, info.function),
  });
  let result: unknown;
  try {
    result = context.with(trace.setSpan(context.active(), span), run);
  } catch (err) {
    endFailed(span, err);
    throw err;
  }
  if (typeof (result as PromiseLike<unknown> | null)?.then !== 'function') {
    span.end();
    return result;
  }
  return Promise.resolve(result).then(
    (value) => {
      span.end();
      return value;
    },
    (err: unknown) => {
      endFailed(span, err);
      throw err;
    },
  );
}

function endFailed(span: Span, err: unknown): void {
  span.setAttribute('error.type', err instanceof Error && err.name !== '' ? err.name : UNKNOWN_ERROR);
  if (err instanceof Error) span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: 'the factory threw' });
  span.end();
}

function withFunction(attributes: Attributes, fn: string | undefined): Attributes {
  if (fn !== undefined) attributes['trove.function'] = fn;
  return attributes;
}
