/**
 * trove-cache/otel against a real Redis: known traffic (hits from each tier, misses, stale
 * answers, failed factories, undecodable bytes, a cached function) gives exact figures in what
 * an OpenTelemetry SDK MeterProvider exports, and one span per factory run, in which the factory
 * runs (its own spans are the run's children).
 */
import { type Attributes, context, type HrTime, metrics, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it, onTestFinished } from 'vitest';
import { InvalidOptionError, type Trove } from '../../src/index.js';
import { DEFAULT_COMPUTE_BUCKETS, DEFAULT_SIZE_BUCKETS, instrumentTrove } from '../../src/integrations/otel/index.js';
import { sleep } from '../helpers/redis-server.js';
import { fakeDate, until, useRedisServer, useTroves } from '../helpers/troves.js';
import { cachedFunction, failures, garbage, reads, record } from './workloads.js';

const redis = useRedisServer();
let n = 0;
let prefix = '';
const troves = useTroves(() => ({ prefix }));

/** A process with a near cache (the one measured) and another without, sharing a fresh prefix. */
async function pair(): Promise<{ reader: Trove; writer: Trove }> {
  prefix = `otel${++n}`;
  const reader = troves.open({ redis: redis.server.url });
  await reader.ready();
  await until(() => reader.stats().near?.live === true);
  return { reader, writer: troves.open({ redis: redis.server.url, nearCache: false }) };
}

/** An SDK MeterProvider whose reader exports, cumulatively, to memory only when asked; shut down after the test. */
function sdk(): { provider: MeterProvider; collect(): Promise<Map<string, MetricData>> } {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // The interval is never reached: each collect() flushes explicitly.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  onTestFinished(() => provider.shutdown());
  return {
    provider,
    collect: async () => {
      exporter.reset();
      await reader.forceFlush();
      const out = new Map<string, MetricData>();
      for (const rm of exporter.getMetrics()) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) out.set(m.descriptor.name, m);
      return out;
    },
  };
}

const sortKey = (a: Attributes) => JSON.stringify(Object.entries(a).sort());

/** A counter's points as [attributes, value], sorted; none when it recorded nothing. */
function points(m: MetricData | undefined): [Attributes, number][] {
  if (m === undefined) return [];
  return (m.dataPoints as DataPoint<number>[])
    .map((p): [Attributes, number] => [p.attributes, p.value])
    .sort((a, b) => sortKey(a[0]).localeCompare(sortKey(b[0])));
}

/** A histogram's points as [attributes, count, sum, per-bucket counts], sorted. */
function histograms(m: MetricData | undefined): [Attributes, number, number, number[]][] {
  if (m === undefined) return [];
  return (m.dataPoints as DataPoint<Histogram>[])
    .map((p): [Attributes, number, number, number[]] => [p.attributes, p.value.count, p.value.sum ?? Number.NaN, p.value.buckets.counts])
    .sort((a, b) => sortKey(a[0]).localeCompare(sortKey(b[0])));
}

/** The per-bucket (not cumulative) counts of `values` under these boundaries, the overflow bucket last. */
function perBucket(bounds: readonly number[], values: readonly number[]): number[] {
  const counts = Array<number>(bounds.length + 1).fill(0);
  for (const v of values) {
    const i = bounds.findIndex((b) => v <= b);
    counts[i === -1 ? bounds.length : i]!++;
  }
  return counts;
}

const ms = (t: HrTime) => t[0] * 1000 + t[1] / 1e6;

describe('instrumentTrove', () => {
  it('counts hits by tier and misses, and records factory runs and value sizes, with their units and buckets', async () => {
    const { reader, writer } = await pair();
    const { provider, collect } = sdk();
    instrumentTrove(reader, { meter: provider.getMeter('test') });
    const seen = record(reader);
    await reads(reader, writer);
    const got = await collect();

    expect(points(got.get('trove.requests'))).toEqual([
      [{ 'trove.region': 'users', 'trove.result': 'hit', 'trove.tier': 'near' }, 2],
      [{ 'trove.region': 'users', 'trove.result': 'hit', 'trove.tier': 'store' }, 2],
      [{ 'trove.region': 'users', 'trove.result': 'miss' }, 2],
    ]);
    const runs = seen.computes.map((e) => e.durationMs / 1000);
    expect(runs).toHaveLength(1);
    expect(histograms(got.get('trove.compute.duration'))).toEqual([[{ 'trove.region': 'users' }, 1, runs[0], perBucket(DEFAULT_COMPUTE_BUCKETS, runs)]]);
    const stored = Number(await redis.server.command('STRLEN', reader.region('users').keyOf('3')));
    expect(seen.sets.map((e) => e.bytes)).toEqual([stored]);
    expect(histograms(got.get('trove.value.size'))).toEqual([[{ 'trove.region': 'users' }, 1, stored, perBucket(DEFAULT_SIZE_BUCKETS, [stored])]]);
    expect(points(got.get('trove.errors'))).toEqual([]);

    // Names, units and bucket boundaries as the conventions ask.
    expect(got.get('trove.requests')?.descriptor).toMatchObject({ unit: '{request}' });
    expect(got.get('trove.compute.duration')?.descriptor).toMatchObject({ unit: 's' });
    expect(got.get('trove.value.size')?.descriptor).toMatchObject({ unit: 'By' });
    const boundaries = (name: string) => (got.get(name)!.dataPoints[0] as DataPoint<Histogram>).value.buckets.boundaries;
    expect(boundaries('trove.compute.duration')).toEqual([...DEFAULT_COMPUTE_BUCKETS]);
    expect(boundaries('trove.value.size')).toEqual([...DEFAULT_SIZE_BUCKETS]);
  });

  it('counts stale answers, failed factory runs (error.type) and the errors fail-safe absorbed', async () => {
    troves.expectErrors();
    const { reader } = await pair();
    const { provider, collect } = sdk();
    instrumentTrove(reader, { meter: provider.getMeter('test') });
    const seen = record(reader);
    await failures(reader, fakeDate());
    const got = await collect();

    expect(points(got.get('trove.requests'))).toEqual([
      [{ 'trove.region': 'reports', 'trove.result': 'hit', 'trove.tier': 'store' }, 1],
      [{ 'trove.region': 'reports', 'trove.result': 'miss' }, 1],
      [{ 'trove.region': 'reports', 'trove.result': 'stale', 'trove.tier': 'store' }, 1],
    ]);
    const failed = seen.computes.filter((e) => e.failed).map((e) => e.durationMs / 1000);
    expect(failed).toHaveLength(2);
    const [compute] = histograms(got.get('trove.compute.duration'));
    expect(histograms(got.get('trove.compute.duration'))).toHaveLength(1);
    expect(compute![0]).toEqual({ 'trove.region': 'reports', 'error.type': '_OTHER' });
    expect(compute![1]).toBe(2);
    expect(compute![2]).toBeCloseTo(failed[0]! + failed[1]!, 9);
    expect(compute![3]).toEqual(perBucket(DEFAULT_COMPUTE_BUCKETS, failed));
    expect(points(got.get('trove.errors'))).toEqual([[{ 'trove.region': 'reports', 'error.type': 'FACTORY' }, 1]]);
    const bytes = seen.sets.map((e) => e.bytes);
    expect(bytes).toHaveLength(2);
    expect(histograms(got.get('trove.value.size'))).toEqual([
      [{ 'trove.region': 'reports' }, 2, bytes[0]! + bytes[1]!, perBucket(DEFAULT_SIZE_BUCKETS, bytes)],
    ]);
  });

  it('counts undecodable bytes as a miss and a DECODE error', async () => {
    troves.expectErrors();
    const { reader } = await pair();
    const { provider, collect } = sdk();
    instrumentTrove(reader, { meter: provider.getMeter('test') });
    await garbage(reader, redis.server);
    const got = await collect();
    expect(points(got.get('trove.requests'))).toEqual([[{ 'trove.region': 'g', 'trove.result': 'miss' }, 1]]);
    expect(points(got.get('trove.errors'))).toEqual([[{ 'trove.region': 'g', 'error.type': 'DECODE' }, 1]]);
  });

  it("gives a cached function's figures its name (trove.function)", async () => {
    const { reader } = await pair();
    const { provider, collect } = sdk();
    instrumentTrove(reader, { meter: provider.getMeter('test') });
    const seen = record(reader);
    await cachedFunction(reader);
    const got = await collect();
    const fn = { 'trove.region': 'books', 'trove.function': 'topBooks' };
    expect(points(got.get('trove.requests'))).toEqual([
      [{ ...fn, 'trove.result': 'hit', 'trove.tier': 'near' }, 1],
      [{ ...fn, 'trove.result': 'miss' }, 1],
    ]);
    expect(histograms(got.get('trove.compute.duration')).map(([a, count]) => [a, count])).toEqual([[fn, 1]]);
    expect(histograms(got.get('trove.value.size')).map(([a, count, sum]) => [a, count, sum])).toEqual([[fn, 1, seen.sets[0]!.bytes]]);
  });

  it('makes one span per factory run, with its outcome, lasting as long as the run', async () => {
    troves.expectErrors();
    const { reader, writer } = await pair();
    const spans = new InMemorySpanExporter();
    const tracing = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    onTestFinished(() => tracing.shutdown());
    const { provider } = sdk();
    instrumentTrove(reader, { meter: provider.getMeter('test'), tracer: tracing.getTracer('test') });
    const seen = record(reader);
    await reads(reader, writer);
    await failures(reader, fakeDate());
    await cachedFunction(reader);
    // A run long enough for its span's length to be told from zero.
    await reader.region('slow').getOrSet('s', () => sleep(30).then(() => 'done'));

    const finished = spans.getFinishedSpans();
    expect(finished.map((s) => [s.name, s.kind, s.attributes, s.status.code, s.events.map((e) => [e.name, e.attributes?.['exception.message']])])).toEqual([
      ['trove.compute', SpanKind.INTERNAL, { 'trove.region': 'users', 'trove.key': '3' }, SpanStatusCode.UNSET, []],
      [
        'trove.compute',
        SpanKind.INTERNAL,
        { 'trove.region': 'reports', 'trove.key': 'k', 'error.type': 'Error' },
        SpanStatusCode.ERROR,
        [['exception', 'source down']],
      ],
      [
        'trove.compute',
        SpanKind.INTERNAL,
        { 'trove.region': 'reports', 'trove.key': 'cold', 'error.type': 'Error' },
        SpanStatusCode.ERROR,
        [['exception', 'source down']],
      ],
      [
        'trove.compute',
        SpanKind.INTERNAL,
        { 'trove.region': 'books', 'trove.key': seen.computes[3]!.key, 'trove.function': 'topBooks' },
        SpanStatusCode.UNSET,
        [],
      ],
      ['trove.compute', SpanKind.INTERNAL, { 'trove.region': 'slow', 'trove.key': 's' }, SpanStatusCode.UNSET, []],
    ]);
    expect(seen.computes).toHaveLength(5);
    finished.forEach((span, i) => {
      // Inside the run as the compute event times it (which starts just before the factory is
      // called and ends just after it settles).
      expect(ms(span.duration)).toBeLessThanOrEqual(seen.computes[i]!.durationMs + 0.001);
    });
    expect(ms(finished[4]!.duration)).toBeGreaterThanOrEqual(29);
    // Not parented: no span was active where these runs started.
    expect(finished.map((s) => s.parentSpanContext)).toEqual(finished.map(() => undefined));
  });

  it("runs the factory inside its span: the factory's own spans are its children, and it is the caller's", async () => {
    const { reader } = await pair();
    const manager = new AsyncLocalStorageContextManager().enable();
    expect(context.setGlobalContextManager(manager)).toBe(true);
    onTestFinished(() => context.disable());
    const spans = new InMemorySpanExporter();
    const tracing = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    onTestFinished(() => tracing.shutdown());
    const tracer = tracing.getTracer('test');
    const instrumentation = instrumentTrove(reader, { tracer });
    const users = reader.region('users');
    const query = () =>
      // Across awaits: the context manager carries the factory's span.
      sleep(1).then(() =>
        tracer.startActiveSpan('db.query', async (q) => {
          await sleep(1);
          q.end();
          return { name: 'Ada' };
        }),
      );
    const topBooks = reader.cached(async (id: number) => (await query()).name + id, { name: 'topBooks', region: 'books' });
    await tracer.startActiveSpan('request', async (request) => {
      // Two callers of one key share one run: its span is the first caller's child.
      const [a, b] = await Promise.all([users.getOrSet('1', query), users.getOrSet('1', query)]);
      expect(a).toEqual(b);
      expect(await topBooks(7)).toBe('Ada7');
      request.end();
    });

    const finished = spans.getFinishedSpans();
    const byName = (name: string) => finished.filter((s) => s.name === name);
    expect(finished.map((s) => s.name).sort()).toEqual(['db.query', 'db.query', 'request', 'trove.compute', 'trove.compute']);
    const [request] = byName('request');
    const computes = byName('trove.compute');
    const queries = byName('db.query');
    expect(computes.map((c) => c.attributes)).toEqual([
      { 'trove.region': 'users', 'trove.key': '1' },
      { 'trove.region': 'books', 'trove.key': computes[1]!.attributes['trove.key'], 'trove.function': 'topBooks' },
    ]);
    for (const c of computes) {
      expect(c.spanContext().traceId).toBe(request!.spanContext().traceId);
      expect(c.parentSpanContext?.spanId).toBe(request!.spanContext().spanId);
    }
    expect(queries.map((q) => q.parentSpanContext?.spanId)).toEqual(computes.map((c) => c.spanContext().spanId));

    // Stopped: factories run unwrapped, their spans the caller's again.
    instrumentation.stop();
    spans.reset();
    await tracer.startActiveSpan('request', async (request) => {
      await users.getOrSet('2', query);
      request.end();
    });
    const after = spans.getFinishedSpans();
    expect(after.map((s) => s.name)).toEqual(['db.query', 'request']);
    expect(after[0]!.parentSpanContext?.spanId).toBe(after[1]!.spanContext().spanId);
  });

  it('stop() removes its listeners; what was recorded stays', async () => {
    const { reader } = await pair();
    const { provider, collect } = sdk();
    const before = reader.listenerCount('miss');
    const instrumentation = instrumentTrove(reader, { meter: provider.getMeter('test') });
    expect(reader.listenerCount('miss')).toBe(before + 1);
    await reader.region('users').get('x');
    instrumentation.stop();
    instrumentation.stop();
    for (const name of ['hit', 'miss', 'compute', 'set'] as const) expect(reader.listenerCount(name)).toBe(0);
    await reader.region('users').get('x');
    expect(points((await collect()).get('trove.requests'))).toEqual([[{ 'trove.region': 'users', 'trove.result': 'miss' }, 1]]);
  });

  it('troves instrumented with one meter add up; the default meter is the global provider’s', async () => {
    const { reader, writer } = await pair();
    const { provider, collect } = sdk();
    const meter = provider.getMeter('test');
    instrumentTrove(reader, { meter });
    instrumentTrove(writer, { meter });
    await reader.region('users').get('x');
    await writer.region('users').get('x');
    expect(points((await collect()).get('trove.requests'))).toEqual([[{ 'trove.region': 'users', 'trove.result': 'miss' }, 2]]);

    const global = sdk();
    expect(metrics.setGlobalMeterProvider(global.provider)).toBe(true);
    onTestFinished(() => metrics.disable());
    instrumentTrove(reader);
    await reader.region('users').get('y');
    const got = await global.collect();
    expect(points(got.get('trove.requests'))).toEqual([[{ 'trove.region': 'users', 'trove.result': 'miss' }, 1]]);
  });

  it('rejects invalid options with InvalidOptionError naming the option, and leaves the trove unobserved', async () => {
    const { reader } = await pair();
    const meter = sdk().provider.getMeter('test');
    const invalid = (f: () => unknown, option: string) => {
      let caught: unknown;
      try {
        f();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(InvalidOptionError);
      expect((caught as InvalidOptionError).option).toBe(option);
      return (caught as InvalidOptionError).message;
    };
    invalid(() => instrumentTrove(undefined as unknown as Trove, { meter }), 'trove');
    invalid(() => instrumentTrove(reader, 'meter' as never), 'options');
    invalid(() => instrumentTrove(reader, { meter: {} as never }), 'meter');
    invalid(() => instrumentTrove(reader, { meter, tracer: { startActiveSpan: () => {} } as never }), 'tracer');
    expect(invalid(() => instrumentTrove(reader, { meter, computeBuckets: [1, 0.5] }), 'computeBuckets')).toMatch(/strictly ascending/);
    invalid(() => instrumentTrove(reader, { meter, sizeBuckets: [] }), 'sizeBuckets');
    invalid(() => instrumentTrove(reader, { meter, sizeBuckets: [-1] }), 'sizeBuckets');
    for (const name of ['hit', 'miss', 'compute', 'set'] as const) expect(reader.listenerCount(name)).toBe(0);
  });
});
