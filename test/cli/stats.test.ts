/**
 * `trove stats`: the figures of real troves, merged from Redis, as JSON and as a table; colours
 * only on a terminal without NO_COLOR.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes, formatMs } from '../../src/cli/output.js';
import type { FleetStats, StatsRow, Trove } from '../../src/index.js';
import { useRedisServer } from '../helpers/troves.js';
import { CLI_TEST_TIMEOUT, ESCAPE, lines, runCli, runCliOnTty, useBuiltCli } from './support.js';
import { EXPECTED, openTroves, record } from './traffic.js';

useBuiltCli();
const redis = useRedisServer();
const prefix = 'stats-cli';
let troves: { a: Trove; b: Trove };
/** What the troves' own fleetStats() answers once their counts are in Redis. */
let fleet: FleetStats;

beforeAll(async () => {
  troves = openTroves(redis.server.url, prefix);
  await record(troves.a, troves.b, redis.server.url);
  await troves.b.fleetStats();
  fleet = await troves.a.fleetStats({ since: '1h' });
});

afterAll(async () => {
  await Promise.all([troves?.a.close(), troves?.b.close()]);
});

const row = (region: string, fn?: string): StatsRow => {
  const found = fleet.regions.find((r) => r.region === region && r.function === fn);
  if (!found) throw new Error(`no row ${region}/${fn}`);
  return found;
};

const args = (...rest: string[]) => ['--redis', redis.server.url, '--prefix', prefix, '--version', 'v1', ...rest];

describe('trove stats', { timeout: CLI_TEST_TIMEOUT }, () => {
  it('the recorded traffic is in Redis, merged over both troves', () => {
    expect(fleet.regions.map((r) => [r.region, r.function])).toEqual([
      ['bad', undefined],
      ['fn', 'slow'],
      ['sessions', undefined],
      ['users', undefined],
    ]);
    expect(row('users')).toMatchObject(EXPECTED.users);
    expect(row('fn', 'slow')).toMatchObject(EXPECTED.slow);
    expect(row('sessions')).toMatchObject(EXPECTED.sessions);
    expect(row('bad')).toMatchObject(EXPECTED.bad);
  });

  it('--json prints every row with its counters and histogram summaries, equal to fleetStats()', async () => {
    const { code, stdout, stderr } = await runCli(args('stats', '--json'));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const expected = fleet.regions.map((r) => ({
      region: r.region,
      ...(r.function === undefined ? {} : { function: r.function }),
      hits: r.hits,
      misses: r.misses,
      computes: r.computes,
      stale: r.stale,
      errors: r.errors,
      compute: {
        count: r.compute.count,
        meanMs: r.compute.meanMs,
        stddevMs: r.compute.stddevMs,
        p50Ms: r.compute.p50Ms,
        p95Ms: r.compute.p95Ms,
        p99Ms: r.compute.p99Ms,
      },
      size: { count: r.size.count, p50Bytes: r.size.p50Bytes, p99Bytes: r.size.p99Bytes, totalBytes: r.size.totalBytes },
    }));
    const printed = JSON.parse(stdout) as { regions: Record<string, unknown>[] };
    expect(printed).toEqual({ regions: expected });
    // Exact keys: a region's own row has no `function` at all.
    expect(Object.keys(printed.regions.find((r) => r.region === 'users')!)).toEqual([
      'region',
      'hits',
      'misses',
      'computes',
      'stale',
      'errors',
      'compute',
      'size',
    ]);
    expect(printed.regions.find((r) => r.region === 'users')).toMatchObject({ hits: 20, misses: 10, computes: 10, stale: 0, errors: 0 });
    expect(printed.regions.find((r) => r.function === 'slow')).toMatchObject({ hits: 5, misses: 5, computes: 5, compute: { count: 5 }, size: { count: 5 } });
  });

  it('prints a table per region and function with the figures of fleetStats()', async () => {
    const { code, stdout, stderr } = await runCli(args('stats', '--since', '30m'));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).not.toContain(ESCAPE);
    const out = lines(stdout);
    expect(out[0]).toMatch(/^Every process over the last 30m \(prefix stats-cli, version v1\), from \d\d:\d\d to \d\d:\d\d:$/);
    expect(out[1]).toBe('');
    expect(out[2]).toMatch(/^\s+factory time \(ms\)\s+value size$/);
    expect(out[3]!.split(/\s+/)).toEqual([
      'region',
      'function',
      'calls',
      'hit',
      'near',
      'misses',
      'stale',
      'errors',
      'p50',
      'p95',
      'p99',
      'mean',
      'stddev',
      'p50',
      'p99',
    ]);
    const cells = (region: string) => {
      const line = out.find((l) => l.startsWith(`${region} `));
      if (!line) throw new Error(`no line for ${region}:\n${stdout}`);
      return line.split(/ {2,}/);
    };
    const users = row('users');
    expect(cells('users')).toEqual([
      'users',
      '-',
      '30',
      '66.7%',
      '25.0%',
      '10',
      '0',
      '0',
      formatMs(users.compute.p50Ms),
      formatMs(users.compute.p95Ms),
      formatMs(users.compute.p99Ms),
      formatMs(users.compute.meanMs),
      formatMs(users.compute.stddevMs),
      formatBytes(users.size.p50Bytes),
      formatBytes(users.size.p99Bytes),
    ]);
    const slow = row('fn', 'slow');
    expect(cells('fn')).toEqual([
      'fn',
      'slow',
      '10',
      '50.0%',
      '0.0%',
      '5',
      '0',
      '0',
      formatMs(slow.compute.p50Ms),
      formatMs(slow.compute.p95Ms),
      formatMs(slow.compute.p99Ms),
      formatMs(slow.compute.meanMs),
      formatMs(slow.compute.stddevMs),
      formatBytes(slow.size.p50Bytes),
      formatBytes(slow.size.p99Bytes),
    ]);
    // The factory slept 5 to 25 ms: the figures are real timings, not placeholders.
    expect(slow.compute.meanMs).toBeGreaterThanOrEqual(5);
    expect(slow.compute.p99Ms).toBeGreaterThanOrEqual(slow.compute.p50Ms);
    // No calls: no ratios and no factory time; the sizes of the 3 values written.
    const sessions = row('sessions');
    expect(cells('sessions')).toEqual([
      'sessions',
      '-',
      '0',
      '-',
      '-',
      '0',
      '0',
      '0',
      '-',
      '-',
      '-',
      '-',
      '-',
      formatBytes(sessions.size.p50Bytes),
      formatBytes(sessions.size.p99Bytes),
    ]);
    expect(cells('bad').slice(0, 8)).toEqual(['bad', '-', '1', '0.0%', '-', '1', '0', '1']);
  });

  it('says so when nothing was recorded', async () => {
    const { code, stdout } = await runCli(['--redis', redis.server.url, '--prefix', 'nothing-here', 'stats']);
    expect(code).toBe(0);
    expect(stdout).toBe('No statistics recorded over the last 1h (prefix nothing-here, version 0).\n');
  });

  it('colours the table on a terminal, and not with NO_COLOR or without a terminal', async () => {
    const tty = await runCliOnTty(args('stats')).done;
    expect(tty.code).toBe(0);
    expect(tty.output).toContain('users');
    expect(tty.output).toContain(ESCAPE);

    const noColor = await runCliOnTty(args('stats'), { env: { NO_COLOR: '1' } }).done;
    expect(noColor.code).toBe(0);
    expect(noColor.output).toContain('users');
    expect(noColor.output).not.toContain(ESCAPE);

    const piped = await runCli(args('stats'));
    expect(piped.stdout).toContain('users');
    expect(piped.stdout + piped.stderr).not.toContain(ESCAPE);
  });
});
