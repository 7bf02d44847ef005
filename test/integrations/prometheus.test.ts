/**
 * trove-cache/prometheus against a real Redis: known traffic (hits from each tier, misses, stale
 * answers, failed factories, undecodable bytes, a cached function) gives exact figures in
 * `registry.getMetricsAsJSON()` and in the text `registry.metrics()` serves.
 */
import { Counter, register, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, type Trove } from '../../src/index.js';
import { DEFAULT_COMPUTE_BUCKETS, DEFAULT_SIZE_BUCKETS, registerTroveMetrics } from '../../src/integrations/prometheus/index.js';
import { fakeDate, until, useRedisServer, useTroves } from '../helpers/troves.js';
import { cachedFunction, failures, garbage, type Recorded, reads, record } from './workloads.js';

const redis = useRedisServer();
let n = 0;
let prefix = '';
const troves = useTroves(() => ({ prefix }));

/** A process with a near cache (the one measured) and another without, sharing a fresh prefix. */
async function pair(): Promise<{ reader: Trove; writer: Trove }> {
  prefix = `prom${++n}`;
  const reader = troves.open({ redis: redis.server.url });
  await reader.ready();
  await until(() => reader.stats().near?.live === true);
  return { reader, writer: troves.open({ redis: redis.server.url, nearCache: false }) };
}

type Labels = Record<string, string | number>;

/** The samples of one metric (of `sample`, e.g. `trove_value_bytes_count`, for a histogram), sorted. */
async function samples(registry: Registry, metric: string, sample = metric): Promise<[Labels, number][]> {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === metric);
  if (found === undefined) throw new Error(`no metric ${metric}`);
  const values = found.values as { labels: Labels; value: number; metricName?: string }[];
  return values
    .filter((v) => (v.metricName ?? metric) === sample)
    .map((v): [Labels, number] => [v.labels, v.value])
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

interface Observed {
  count: number;
  sum: number;
  /** Cumulative counts by upper bound, `+Inf` included. */
  buckets: Record<string, number>;
}

/** A histogram's series for one label set. */
async function histogram(registry: Registry, metric: string, labels: Labels): Promise<Observed> {
  const same = (l: Labels) =>
    Object.entries(labels).every(([k, v]) => l[k] === v) && Object.keys(l).filter((k) => k !== 'le').length === Object.keys(labels).length;
  const one = async (sample: string) => (await samples(registry, metric, sample)).filter(([l]) => same(l));
  const [count] = await one(`${metric}_count`);
  const [sum] = await one(`${metric}_sum`);
  if (count === undefined || sum === undefined) throw new Error(`no ${metric} series ${JSON.stringify(labels)}`);
  const buckets: Record<string, number> = {};
  for (const [l, v] of await one(`${metric}_bucket`)) buckets[String(l.le)] = v;
  return { count: count[1], sum: sum[1], buckets };
}

/** The cumulative buckets a histogram with these bounds must show after recording `values`. */
function cumulative(bounds: readonly number[], values: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of bounds) out[String(b)] = values.filter((v) => v <= b).length;
  out['+Inf'] = values.length;
  return out;
}

const seconds = (r: Recorded, fn: (e: Recorded['computes'][number]) => boolean) => r.computes.filter(fn).map((e) => e.durationMs / 1000);

describe('registerTroveMetrics', () => {
  it('counts hits by tier and misses, and records factory runs and value sizes', async () => {
    const { reader, writer } = await pair();
    const registry = new Registry();
    registerTroveMetrics(reader, { registry });
    const seen = record(reader);
    await reads(reader, writer);

    expect(await samples(registry, 'trove_requests_total')).toEqual([
      [{ region: 'users', function: '', result: 'hit', tier: 'near' }, 2],
      [{ region: 'users', function: '', result: 'hit', tier: 'store' }, 2],
      [{ region: 'users', function: '', result: 'miss', tier: '' }, 2],
    ]);
    // One successful run, in the bucket its duration falls in.
    expect(seen.computes).toHaveLength(1);
    const runs = seconds(seen, (e) => !e.failed);
    expect(await samples(registry, 'trove_compute_seconds', 'trove_compute_seconds_count')).toEqual([
      [{ region: 'users', function: '', result: 'success' }, 1],
    ]);
    const compute = await histogram(registry, 'trove_compute_seconds', { region: 'users', function: '', result: 'success' });
    expect(compute.sum).toBeCloseTo(runs[0]!, 9);
    expect(compute.buckets).toEqual(cumulative(DEFAULT_COMPUTE_BUCKETS, runs));
    // The one value written, as many bytes as Redis holds for it.
    const stored = Number(await redis.server.command('STRLEN', reader.region('users').keyOf('3')));
    expect(seen.sets.map((e) => e.bytes)).toEqual([stored]);
    expect(await histogram(registry, 'trove_value_bytes', { region: 'users', function: '' })).toEqual({
      count: 1,
      sum: stored,
      buckets: cumulative(DEFAULT_SIZE_BUCKETS, [stored]),
    });
    expect(await samples(registry, 'trove_errors_total')).toEqual([]);

    // The text a scrape gets.
    const text = await registry.metrics();
    expect(text).toContain('# TYPE trove_requests_total counter');
    expect(text).toContain('trove_requests_total{region="users",function="",result="hit",tier="near"} 2\n');
    expect(text).toContain('trove_requests_total{region="users",function="",result="miss",tier=""} 2\n');
    expect(text).toContain('# TYPE trove_compute_seconds histogram');
    expect(text).toContain('trove_compute_seconds_count{region="users",function="",result="success"} 1\n');
    expect(text).toContain(`trove_value_bytes_sum{region="users",function=""} ${stored}\n`);
    expect(text).toContain('trove_value_bytes_bucket{le="67108864",region="users",function=""} 1\n');
  });

  it('counts stale answers, failed factory runs and the errors fail-safe absorbed', async () => {
    troves.expectErrors();
    const { reader } = await pair();
    const registry = new Registry();
    registerTroveMetrics(reader, { registry });
    const seen = record(reader);
    await failures(reader, fakeDate());

    expect(await samples(registry, 'trove_requests_total')).toEqual([
      [{ region: 'reports', function: '', result: 'hit', tier: 'store' }, 1],
      [{ region: 'reports', function: '', result: 'miss', tier: '' }, 1],
      [{ region: 'reports', function: '', result: 'stale', tier: 'store' }, 1],
    ]);
    // Both runs threw: the fail-safe one and the one whose caller got the error.
    expect(await samples(registry, 'trove_compute_seconds', 'trove_compute_seconds_count')).toEqual([
      [{ region: 'reports', function: '', result: 'failure' }, 2],
    ]);
    const failed = seconds(seen, (e) => e.failed);
    expect(failed).toHaveLength(2);
    const compute = await histogram(registry, 'trove_compute_seconds', { region: 'reports', function: '', result: 'failure' });
    expect(compute.sum).toBeCloseTo(failed[0]! + failed[1]!, 9);
    expect(compute.buckets).toEqual(cumulative(DEFAULT_COMPUTE_BUCKETS, failed));
    expect(await samples(registry, 'trove_errors_total')).toEqual([[{ region: 'reports', function: '', code: 'FACTORY' }, 1]]);
    // The value set, then fail-safe storing it again as fresh for the backoff.
    const bytes = seen.sets.map((e) => e.bytes);
    expect(bytes).toHaveLength(2);
    expect(await histogram(registry, 'trove_value_bytes', { region: 'reports', function: '' })).toEqual({
      count: 2,
      sum: bytes[0]! + bytes[1]!,
      buckets: cumulative(DEFAULT_SIZE_BUCKETS, bytes),
    });
  });

  it('counts undecodable bytes as a miss and a DECODE error', async () => {
    troves.expectErrors();
    const { reader } = await pair();
    const registry = new Registry();
    registerTroveMetrics(reader, { registry });
    await garbage(reader, redis.server);
    expect(await samples(registry, 'trove_requests_total')).toEqual([[{ region: 'g', function: '', result: 'miss', tier: '' }, 1]]);
    expect(await samples(registry, 'trove_errors_total')).toEqual([[{ region: 'g', function: '', code: 'DECODE' }, 1]]);
    expect(await registry.metrics()).toContain('trove_errors_total{region="g",function="",code="DECODE"} 1\n');
  });

  it("labels a cached function's figures with its name", async () => {
    const { reader } = await pair();
    const registry = new Registry();
    registerTroveMetrics(reader, { registry });
    const seen = record(reader);
    await cachedFunction(reader);
    expect(await samples(registry, 'trove_requests_total')).toEqual([
      [{ region: 'books', function: 'topBooks', result: 'hit', tier: 'near' }, 1],
      [{ region: 'books', function: 'topBooks', result: 'miss', tier: '' }, 1],
    ]);
    expect(await samples(registry, 'trove_compute_seconds', 'trove_compute_seconds_count')).toEqual([
      [{ region: 'books', function: 'topBooks', result: 'success' }, 1],
    ]);
    expect(await samples(registry, 'trove_value_bytes', 'trove_value_bytes_count')).toEqual([[{ region: 'books', function: 'topBooks' }, 1]]);
    expect(await samples(registry, 'trove_value_bytes', 'trove_value_bytes_sum')).toEqual([[{ region: 'books', function: 'topBooks' }, seen.sets[0]!.bytes]]);
  });

  it('stop() removes its listeners; the metrics keep their values and resume on a new registration', async () => {
    const { reader } = await pair();
    const registry = new Registry();
    const before = reader.listenerCount('hit');
    const metrics = registerTroveMetrics(reader, { registry });
    expect(reader.listenerCount('hit')).toBe(before + 1);
    const users = reader.region('users');
    await users.get('1');
    metrics.stop();
    metrics.stop();
    for (const name of ['hit', 'miss', 'compute', 'set', 'error'] as const) expect(reader.listenerCount(name)).toBe(name === 'error' ? 1 : 0);
    await users.get('1');
    const miss = { region: 'users', function: '', result: 'miss', tier: '' };
    expect(await samples(registry, 'trove_requests_total')).toEqual([[miss, 1]]);
    registerTroveMetrics(reader, { registry });
    await users.get('1');
    expect(await samples(registry, 'trove_requests_total')).toEqual([[miss, 2]]);
  });

  it('troves registered on one registry add up in the same series', async () => {
    const { reader, writer } = await pair();
    const registry = new Registry();
    registerTroveMetrics(reader, { registry });
    registerTroveMetrics(writer, { registry, computeBuckets: DEFAULT_COMPUTE_BUCKETS });
    await reader.region('users').get('x');
    await writer.region('users').get('x');
    expect(await samples(registry, 'trove_requests_total')).toEqual([[{ region: 'users', function: '', result: 'miss', tier: '' }, 2]]);
    // Buckets are fixed by the first registration.
    expect(() => registerTroveMetrics(writer, { registry, computeBuckets: [1, 2] })).toThrow(InvalidOptionError);
    // After registry.clear() the metrics are created again.
    registry.clear();
    registerTroveMetrics(reader, { registry, sizeBuckets: [100, 1000] });
    await reader.region('users').set('y', 1);
    expect(Object.keys((await histogram(registry, 'trove_value_bytes', { region: 'users', function: '' })).buckets)).toEqual(['100', '1000', '+Inf']);
  });

  it("uses prom-client's global registry by default", async () => {
    const { reader } = await pair();
    const metrics = registerTroveMetrics(reader);
    try {
      await reader.region('users').get('x');
      expect(await samples(register, 'trove_requests_total')).toEqual([[{ region: 'users', function: '', result: 'miss', tier: '' }, 1]]);
    } finally {
      metrics.stop();
      for (const name of ['trove_requests_total', 'trove_compute_seconds', 'trove_value_bytes', 'trove_errors_total']) register.removeSingleMetric(name);
    }
  });

  it('rejects invalid options with InvalidOptionError naming the option, and leaves the trove unobserved', async () => {
    const { reader } = await pair();
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
    const registry = new Registry();
    invalid(() => registerTroveMetrics({} as Trove, { registry }), 'trove');
    invalid(() => registerTroveMetrics(reader, null as never), 'options');
    invalid(() => registerTroveMetrics(reader, { registry: {} as Registry }), 'registry');
    invalid(() => registerTroveMetrics(reader, { registry, computeBuckets: [] }), 'computeBuckets');
    expect(invalid(() => registerTroveMetrics(reader, { registry, computeBuckets: [0.1, 0.1] }), 'computeBuckets')).toMatch(/strictly ascending/);
    invalid(() => registerTroveMetrics(reader, { registry, sizeBuckets: [0, 10] }), 'sizeBuckets');
    invalid(() => registerTroveMetrics(reader, { registry, sizeBuckets: [10, Number.POSITIVE_INFINITY] }), 'sizeBuckets');
    invalid(() => registerTroveMetrics(reader, { registry, sizeBuckets: ['64'] as never }), 'sizeBuckets');
    // A metric of the same name that is not ours: refused, and nothing of ours is registered.
    new Counter({ name: 'trove_errors_total', help: 'someone else', registers: [registry] });
    expect(invalid(() => registerTroveMetrics(reader, { registry }), 'registry')).toMatch(/trove_errors_total/);
    expect(registry.getSingleMetric('trove_requests_total')).toBeUndefined();
    for (const name of ['hit', 'miss', 'compute', 'set'] as const) expect(reader.listenerCount(name)).toBe(0);
  });
});
