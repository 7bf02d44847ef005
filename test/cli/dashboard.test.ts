/**
 * `trove dashboard`, driven in a real headless Chromium (Debian's `chromium`, through
 * playwright-core): the figures on the page are those of `fleetStats()` (rows, totals, the hit
 * ratio of every minute, top regions, errors, histogram buckets), the page refreshes itself when
 * new traffic is counted, and its screenshot is written to test-output/ (and to docs/ for the
 * README with TROVE_UPDATE_SCREENSHOT=1).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { rowCells } from '../../src/cli/commands/stats.js';
import type { FleetStats, StatsRow, Trove } from '../../src/index.js';
import { useRedisServer } from '../helpers/troves.js';
import { CLI_TEST_TIMEOUT, childEnv, cliPath, ROOT, useBuiltCli } from './support.js';
import { openTroves, record, recordHistory } from './traffic.js';

useBuiltCli();
const redis = useRedisServer();
const prefix = 'dashboard-cli';
/** Minutes of history before the current one. */
const HISTORY = 12;
/** The dashboard's window: the history and the current minute, with room to spare. */
const SINCE = '15m';
const CHROMIUM = '/usr/bin/chromium';

let troves: { a: Trove; b: Trove };
let dashboard: ChildProcess | undefined;
let url = '';
let browser: Browser | undefined;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does)`);
  troves = openTroves(redis.server.url, prefix);
  vi.useFakeTimers({ toFake: ['Date'] });
  try {
    await recordHistory(troves.a, redis.server.url, HISTORY, (ms) => vi.setSystemTime(ms));
  } finally {
    vi.useRealTimers();
  }
  await record(troves.a, troves.b, redis.server.url);
  await troves.a.fleetStats();
  await troves.b.fleetStats();

  dashboard = spawn(
    process.execPath,
    [cliPath(), '--redis', redis.server.url, '--prefix', prefix, '--version', 'v1', 'dashboard', '--port', '0', '--since', SINCE, '--refresh', '1s'],
    {
      cwd: ROOT,
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    dashboard!.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Dashboard on (http:\/\/\S+) /.exec(out);
      if (m) resolve(m[1]!);
    });
    dashboard!.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    dashboard!.once('exit', (code) => reject(new Error(`trove dashboard exited (${code}): ${out}`)));
  });

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Nothing but the dashboard's own server: the page is self-contained.
  const foreign: string[] = [];
  page.on('request', (req) => {
    if (!req.url().startsWith(url)) foreign.push(req.url());
  });
  await page.goto(url);
  await page.waitForSelector('[data-testid="row"]');
  expect(foreign).toEqual([]);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (dashboard && dashboard.exitCode === null) {
    const exited = new Promise<number | null>((resolve) => dashboard!.once('exit', (code) => resolve(code)));
    dashboard.kill('SIGINT');
    // Ctrl-C is how a user stops it: a clean exit.
    expect(await exited).toBe(0);
  }
  await Promise.all([troves?.a.close(), troves?.b.close()]);
}, 60_000);

/** The page's row of a region (its own calls) or of a cached function. */
function rowSelector(r: { region: string; function?: string }): string {
  return `tr[data-testid="row"][data-region="${r.region}"]${r.function === undefined ? ':not([data-function])' : `[data-function="${r.function}"]`}`;
}

/** Hits and calls per region (its own row and its functions'). */
function byRegion(rows: readonly StatsRow[]): Map<string, { calls: number; hits: number; misses: number; bytes: number }> {
  const out = new Map<string, { calls: number; hits: number; misses: number; bytes: number }>();
  for (const r of rows) {
    const t = out.get(r.region) ?? { calls: 0, hits: 0, misses: 0, bytes: 0 };
    t.calls += r.calls;
    t.hits += r.hits;
    t.misses += r.misses;
    t.bytes += r.size.totalBytes;
    out.set(r.region, t);
  }
  return out;
}

describe('trove dashboard', { timeout: CLI_TEST_TIMEOUT }, () => {
  let fleet: FleetStats;

  beforeAll(async () => {
    fleet = await troves.a.fleetStats({ since: SINCE, perMinute: true });
  });

  it('shows every row of fleetStats() with its figures', async () => {
    const shown = await page.$$eval('tr[data-testid="row"]', (trs) => trs.map((tr) => [tr.getAttribute('data-region'), tr.getAttribute('data-function')]));
    expect(shown).toEqual(fleet.regions.map((r) => [r.region, r.function ?? null]));
    for (const r of fleet.regions) {
      const cells = await page.$$eval(`${rowSelector(r)} td[data-field]`, (tds) =>
        tds.map((td) => ({ field: td.getAttribute('data-field'), value: td.getAttribute('data-value'), text: td.textContent })),
      );
      const numbers = [
        r.calls,
        r.hitRatio,
        r.nearShare,
        r.misses,
        r.stale,
        r.errors,
        r.compute.p50Ms,
        r.compute.p95Ms,
        r.compute.p99Ms,
        r.compute.meanMs,
        r.compute.stddevMs,
        r.size.p50Bytes,
        r.size.p99Bytes,
      ];
      expect(cells.map((c) => c.field)).toEqual([
        'region',
        'function',
        'calls',
        'hitRatio',
        'nearShare',
        'misses',
        'stale',
        'errors',
        'p50Ms',
        'p95Ms',
        'p99Ms',
        'meanMs',
        'stddevMs',
        'p50Bytes',
        'p99Bytes',
      ]);
      expect(cells.slice(2).map((c) => Number(c.value))).toEqual(numbers);
      // The text is the CLI table's, cell for cell.
      expect(cells.map((c) => c.text)).toEqual(rowCells(r));
    }
    // The history and the current minute both count: 12 minutes of users.get, then 30 calls now.
    const users = fleet.regions.find((r) => r.region === 'users' && r.function === undefined)!;
    let calls = 30;
    for (let m = 0; m < HISTORY; m++) calls += 20 + 5 * m + 30 - 2 * m;
    expect(users.calls).toBe(calls);
    expect(await page.textContent(`${rowSelector(users)} td[data-field="calls"]`)).toBe(calls.toLocaleString('en-US'));
  });

  it('shows the totals', async () => {
    const total = (f: (r: StatsRow) => number) => fleet.regions.reduce((a, r) => a + f(r), 0);
    const card = async (id: string) => Number(await page.getAttribute(`[data-testid="total-${id}"]`, 'data-value'));
    expect(await card('calls')).toBe(total((r) => r.calls));
    expect(await card('hit-ratio')).toBeCloseTo((100 * total((r) => r.hits)) / total((r) => r.calls), 10);
    expect(await card('misses')).toBe(total((r) => r.misses));
    expect(await card('computes')).toBe(total((r) => r.computes));
    expect(await card('errors')).toBe(total((r) => r.errors));
    expect(await card('bytes')).toBe(total((r) => r.size.totalBytes));
  });

  it('draws the hit ratio of every minute of every region', async () => {
    const expected = new Map<string, [number, number][]>();
    for (const m of fleet.minutes!) {
      for (const [region, t] of byRegion(m.regions)) {
        if (t.calls === 0) continue;
        expected.set(region, [...(expected.get(region) ?? []), [m.start, (100 * t.hits) / t.calls]]);
      }
    }
    const drawn = await page.$$eval('svg[data-testid="hit-ratio-chart"] g[data-series]', (gs) =>
      gs.map((g) => [
        g.getAttribute('data-series'),
        [...g.querySelectorAll('circle')].map((c) => [Number(c.getAttribute('data-minute')), Number(c.getAttribute('data-value'))]),
      ]),
    );
    expect(drawn).toEqual([...expected].sort(([a], [b]) => (a < b ? -1 : 1)));
    // Users: one point per minute of history, and the current minute.
    expect(expected.get('users')).toHaveLength(HISTORY + 1);
    expect(expected.get('catalog')).toHaveLength(HISTORY);
    expect(await page.$$eval('svg[data-testid="hit-ratio-chart"] polyline', (ls) => ls.length)).toBe(
      expected.size - [...expected.values()].filter((p) => p.length < 2).length,
    );
  });

  it('ranks the regions by misses and by bytes written', async () => {
    const totals = [...byRegion(fleet.regions)];
    const rank = (pick: (t: { misses: number; bytes: number }) => number) =>
      totals
        .filter(([, t]) => pick(t) > 0)
        .sort(([a, x], [b, y]) => pick(y) - pick(x) || (a < b ? -1 : 1))
        .slice(0, 8)
        .map(([region, t]) => [region, pick(t)]);
    const shown = (testId: string) =>
      page.$$eval(`[data-testid="${testId}"] li`, (lis) =>
        lis.map((li) => [li.getAttribute('data-region'), Number(li.querySelector('[data-value]')!.getAttribute('data-value'))]),
      );
    expect(await shown('top-misses')).toEqual(rank((t) => t.misses));
    expect(await shown('top-bytes')).toEqual(rank((t) => t.bytes));
    expect((await shown('top-misses')).length).toBeGreaterThanOrEqual(3);
  });

  it('lists the errors of each minute, newest first', async () => {
    const expected: [number, string, string, number][] = [];
    for (const m of [...fleet.minutes!].reverse()) {
      for (const r of m.regions) for (const [code, n] of Object.entries(r.errorsByCode)) expected.push([m.start, r.region, code, n]);
    }
    const shown = await page.$$eval('tr[data-testid="error"]', (trs) =>
      trs.map((tr) => [
        Number(tr.getAttribute('data-minute')),
        tr.getAttribute('data-region'),
        tr.getAttribute('data-code'),
        Number(tr.querySelector('[data-value]')!.getAttribute('data-value')),
      ]),
    );
    expect(shown).toEqual(expected);
    // Minutes 2, 7 of the history and the current one.
    expect(shown.map(([, region, code]) => `${region} ${code}`)).toEqual(['bad DECODE', 'bad DECODE', 'bad DECODE']);
  });

  it('draws the factory-time and size histograms of each row from its buckets', async () => {
    for (const r of fleet.regions) {
      const key = `${r.region}/${r.function ?? ''}`;
      for (const [kind, summary] of [
        ['compute', r.compute],
        ['size', r.size],
      ] as const) {
        const bars = await page.$$eval(`[data-testid="${kind}-hist:${key}"] rect`, (rects) =>
          rects.map((rect) => [Number(rect.getAttribute('data-bucket')), Number(rect.getAttribute('data-count'))]),
        );
        const nonEmpty = summary.counts.flatMap((n, i) => (n > 0 ? [[i, n]] : []));
        expect(bars.filter(([, n]) => n! > 0)).toEqual(nonEmpty);
        expect(bars.reduce((a, [, n]) => a + n!, 0)).toBe(summary.count);
      }
    }
  });

  it('refreshes itself with the traffic counted since, and is saved as a screenshot', async () => {
    const users = troves.b.region('users');
    for (let i = 0; i < 7; i++) await users.get(`late-${i}`);
    const after = await troves.b.fleetStats({ since: SINCE });
    const row = after.regions.find((r) => r.region === 'users' && r.function === undefined)!;
    expect(row.calls).toBe(fleet.regions.find((r) => r.region === 'users' && r.function === undefined)!.calls + 7);
    // No reload: the page's own refresh brings the new figure.
    const cell = JSON.stringify(`${rowSelector(row)} td[data-field="calls"]`);
    await page.waitForFunction(`document.querySelector(${cell})?.getAttribute('data-value') === '${row.calls}'`, undefined, { timeout: 30_000 });
    expect(await page.textContent(`${rowSelector(row)} td[data-field="misses"]`)).toBe(rowCells(row)[5]);

    const out = join(ROOT, 'test-output');
    mkdirSync(out, { recursive: true });
    const shot = join(out, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    // The README's picture is refreshed on request only: a test run must not change tracked files.
    if (process.env.TROVE_UPDATE_SCREENSHOT === '1') {
      mkdirSync(join(ROOT, 'docs'), { recursive: true });
      copyFileSync(shot, join(ROOT, 'docs', 'dashboard.png'));
    }
  });

  it('says on the page when Redis cannot be reached, keeps the last figures, and recovers', async () => {
    const callsCell = `${rowSelector({ region: 'users' })} td[data-field="calls"]`;
    const before = await page.getAttribute(callsCell, 'data-value');
    await redis.server.kill();
    await page.waitForSelector('[data-testid="status-error"]', { timeout: 30_000 });
    expect(await page.textContent('[data-testid="status-error"]')).toMatch(/^cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: /);
    expect(await page.getAttribute(callsCell, 'data-value')).toBe(before);
    // Back, empty: the server lost its data, and the page says so instead of the error.
    await redis.server.restart();
    await page.waitForSelector('[data-testid="no-rows"]', { timeout: 30_000 });
    expect(await page.$('[data-testid="status-error"]')).toBeNull();
    expect(await page.textContent('[data-testid="updated"]')).toMatch(/^updated \d\d:\d\d:\d\d, every 1 s$/);
  });
});
