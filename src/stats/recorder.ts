import type { CounterStore } from '../store/index.js';
import { FLOAT_SLOTS, SERIES_LENGTH, Series, SLOT_FIELDS, bucketField } from './series.js';
import { type RawRow, summarize } from './summary.js';
import type { FleetStats, StatsRow } from './types.js';

/** Length of a statistics window: every process adds its counts into the window of the minute it flushes in. */
export const WINDOW_MS = 60_000;

export interface StatsRecorderOptions {
  /** Where the windows live: `<keyPrefix><epoch minute>`, e.g. `app:v1:__stats:29433600`. */
  keyPrefix: string;
  /** How often pending counts are added to Redis, in ms. */
  flushIntervalMs: number;
  /** How long a window is kept after it ends, in ms. */
  retentionMs: number;
  /** A flush failed (its counts are kept for the next one). */
  onError(err: unknown): void;
}

/**
 * Statistics of every region and cached function: recorded in-process (a few array increments per
 * call, see `Series`), and added every `flushIntervalMs` into per-minute hashes in Redis, one atomic
 * batch of HINCRBY per flush, so that every process, and every restart, adds up. A flush sends
 * only what changed since the last successful one; a failed flush leaves its counts for the next.
 *
 * Fields are `<figure>|<region>|<function>` (region and function URI-encoded, so the separator never
 * appears in them).
 */
export class StatsRecorder {
  private readonly series = new Map<string, Series>();
  /** Per series, the values and error counts already added to Redis. */
  private readonly flushed = new Map<Series, { values: Float64Array; errors: Map<string, number> }>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly store: CounterStore,
    private readonly opts: StatsRecorderOptions,
  ) {
    this.timer = setInterval(() => {
      this.flush().catch(opts.onError);
    }, opts.flushIntervalMs);
    this.timer.unref();
  }

  /** The series of a region's own calls (`fn` undefined) or of a cached function's. */
  seriesOf(region: string, fn: string | undefined): Series {
    const id = fn === undefined ? region : `${region}\u0000${fn}`;
    let s = this.series.get(id);
    if (s === undefined) {
      s = new Series(region, fn);
      this.series.set(id, s);
    }
    return s;
  }

  /** This process's figures since it started, one row per region and function that recorded anything. */
  rows(): StatsRow[] {
    return sortRows([...this.series.values()].filter(recorded).map((s) => summarize({ region: s.region, fn: s.fn, values: s.values, errors: s.errors })));
  }

  /** Adds what changed since the last flush to the current window; concurrent calls share one flush. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.catch(() => {}).then(() => this.flush());
    const done = this.flushNow().finally(() => {
      this.flushing = undefined;
    });
    this.flushing = done;
    return done;
  }

  private async flushNow(): Promise<void> {
    const counts: [string, number][] = [];
    const fractions: [string, number][] = [];
    const taken: [Series, Float64Array, Map<string, number>][] = [];
    for (const s of this.series.values()) {
      const values = s.values.slice();
      const errors = new Map(s.errors);
      const before = this.flushed.get(s);
      const tail = `|${encodeURIComponent(s.region)}|${s.fn === undefined ? '' : encodeURIComponent(s.fn)}`;
      let changed = false;
      for (let i = 0; i < SERIES_LENGTH; i++) {
        const delta = values[i]! - (before?.values[i] ?? 0);
        if (delta === 0) continue;
        changed = true;
        const field = (i < SLOT_FIELDS.length ? SLOT_FIELDS[i]! : bucketField(i)) + tail;
        (FLOAT_SLOTS.has(i) ? fractions : counts).push([field, delta]);
      }
      for (const [code, n] of errors) {
        const delta = n - (before?.errors.get(code) ?? 0);
        if (delta === 0) continue;
        changed = true;
        counts.push([`e.${code}${tail}`, delta]);
      }
      if (changed) taken.push([s, values, errors]);
    }
    if (taken.length === 0) return;
    const now = Date.now();
    const window = Math.floor(now / WINDOW_MS);
    const ttlMs = (window + 1) * WINDOW_MS - now + this.opts.retentionMs;
    await this.store.hashIncrement(this.opts.keyPrefix + window, counts, fractions, ttlMs);
    for (const [s, values, errors] of taken) this.flushed.set(s, { values, errors });
  }

  /**
   * Every process's figures over the windows that overlap the last `sinceMs`, merged (this
   * process's pending counts are flushed first). With `perMinute`, also each window's own rows.
   */
  async fleet(sinceMs: number, perMinute = false): Promise<FleetStats> {
    await this.flush();
    const to = Date.now();
    const first = Math.floor((to - sinceMs) / WINDOW_MS);
    const last = Math.floor(to / WINDOW_MS);
    const windows: number[] = [];
    for (let w = first; w <= last; w++) windows.push(w);
    const hashes = await this.store.hashReadMany(windows.map((w) => this.opts.keyPrefix + w));
    const total = new Map<string, RawRow>();
    const minutes: { start: number; regions: StatsRow[] }[] = [];
    hashes.forEach((hash, i) => {
      const own = new Map<string, RawRow>();
      for (const [field, text] of Object.entries(hash)) {
        const value = Number(text);
        if (!Number.isFinite(value)) continue;
        addField(total, field, value);
        if (perMinute) addField(own, field, value);
      }
      if (perMinute) minutes.push({ start: windows[i]! * WINDOW_MS, regions: sortRows([...own.values()].map(summarize)) });
    });
    const out: FleetStats = { from: first * WINDOW_MS, to, regions: sortRows([...total.values()].map(summarize)) };
    if (perMinute) out.minutes = minutes;
    return out;
  }

  /** Stops the timer and adds what is pending. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

const FIELD_INDEX = new Map<string, number>();
for (let i = 0; i < SERIES_LENGTH; i++) FIELD_INDEX.set(i < SLOT_FIELDS.length ? SLOT_FIELDS[i]! : bucketField(i), i);

/** Adds one Redis field to the row it names; fields this version does not know are left out. */
function addField(rows: Map<string, RawRow>, field: string, value: number): void {
  const parts = field.split('|');
  if (parts.length !== 3) return;
  const [figure, regionPart, fnPart] = parts as [string, string, string];
  let region: string;
  let fn: string | undefined;
  try {
    region = decodeURIComponent(regionPart);
    fn = fnPart === '' ? undefined : decodeURIComponent(fnPart);
  } catch {
    return;
  }
  const id = fn === undefined ? region : `${region}\u0000${fn}`;
  let row = rows.get(id);
  if (row === undefined) {
    row = { region, fn, values: new Float64Array(SERIES_LENGTH), errors: new Map() };
    rows.set(id, row);
  }
  if (figure.startsWith('e.')) {
    const code = figure.slice(2);
    row.errors.set(code, (row.errors.get(code) ?? 0) + value);
    return;
  }
  const at = FIELD_INDEX.get(figure);
  if (at !== undefined) row.values[at]! += value;
}

function recorded(s: Series): boolean {
  return s.errors.size > 0 || s.values.some((v) => v !== 0);
}

function sortRows(rows: StatsRow[]): StatsRow[] {
  const order = (r: StatsRow) => `${r.region}\u0000${r.function ?? ''}`;
  return rows.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
}
