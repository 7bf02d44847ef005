/**
 * The load of the fault suite and its checks. `FaultLoad` drives troves (each standing for one
 * process: its own connections, lock tokens and near cache) with a mixed load until stopped:
 * getOrSet with a counting factory, get and set over a key set, plus optional cold keys read only
 * through getOrSet (so their factory runs can be counted exactly). Every call is classified as it
 * settles: a value of the key asked for, a miss, a write, a documented error, or anything else
 * (which must never happen); unhandled rejections are counted process-wide. `checkFreshness`
 * then proves that, once the fault is over, every trove answers what another trove wrote.
 *
 * Nothing here waits for wall-clock time: waits are for conditions (`until`). The only timer is
 * the pacing of each caller (see PACE_MS).
 */
import { expect, onTestFinished } from 'vitest';
import { ColdCacheError, type Region, type RegionOptions, StoreError, TimeoutError, type Trove, type TroveOptions } from '../../src/index.js';
import { prng } from '../helpers/prng.js';
import { sleep } from '../helpers/redis-server.js';
import { TEST_COMMAND_TIMEOUT, type Troves, until } from '../helpers/troves.js';

export type Op = 'getOrSet' | 'get' | 'set';
/** Calls are counted by the phase they began in; tests move the phase when the fault starts and ends. */
export type Phase = 'before' | 'fault' | 'after';

/** What the load stores and expects back: the key it belongs to and where it came from. */
export interface Entry {
  k: string;
  v: string;
  pad?: string;
}

export interface FaultLoadOptions {
  troves: readonly Trove[];
  /** The region every trove uses, configured with `regionOptions` in each. */
  region: string;
  regionOptions?: RegionOptions;
  /** Keys under the mixed load. */
  keys: readonly string[];
  /** Keys only ever read through getOrSet (never set): their factory runs are exact figures. */
  coldKeys?: readonly string[];
  /** Concurrent callers per trove. @defaultValue 4 */
  callersPerTrove?: number;
  /** Relative weights of the operations. @defaultValue getOrSet 5, get 4, set 1 */
  mix?: Partial<Record<Op, number>>;
  /** Bytes of padding in each value `set` writes (to fill a `maxmemory`). @defaultValue 0 */
  padBytes?: number;
  /**
   * Whether a `set` may reject with a `StoreError`: README's Topologies table lets every call
   * during a Sentinel or Cluster switch answer one, while on one server a store failure during
   * `set` is an `error` event, never an exception (Writes). @defaultValue false
   */
  setMayReject?: boolean;
}

export interface Figures {
  calls: number;
  /** Of which getOrSet calls. */
  getOrSets: number;
  /** get or getOrSet answered a value of the key it asked for. */
  values: number;
  /** get answered undefined. */
  misses: number;
  /** set resolved. */
  writes: number;
  /** Rejected with an error README documents for that call (see `isDocumented`). */
  documentedErrors: number;
  /** Anything else: another key's value, a getOrSet answering undefined, an undocumented error. Must be 0. */
  other: number;
  /** getOrSet factory runs of this load. */
  factoryRuns: number;
}

export interface LoadFigures extends Figures {
  /** Unhandled rejections in this process while the load existed. */
  unhandled: number;
  /** The same figures for the calls that began in each phase (factory runs by the phase they ran in). */
  phases: Record<Phase, Figures>;
  /** Calls begun during the fault and answered before it ended. */
  answeredInFault: number;
  /** `error` events of the troves, by `operation CODE`. */
  errorEvents: Record<string, number>;
  /** Documented errors by `op CODE`. */
  documentedByCode: Record<string, number>;
  /** The first few `other` outcomes, for failure messages. */
  otherExamples: string[];
  /** Per trove: how often its near cache was emptied (tracking lost, FLUSHALL) since the load started; 0 without one. */
  nearResets: number[];
}

/**
 * Pause of each caller between two calls. A near-cache hit, or a call failed at once while Redis
 * is down, settles without I/O: unpaced, 12 callers would each spin a core and starve the
 * redis-server processes the test is restarting. At most about 1,000 calls per second per caller.
 */
const PACE_MS = 1;
/** Cold-key calls in flight per trove, at most. */
const MAX_COLD_IN_FLIGHT = 200;
/** How long stop() waits for the calls in flight to settle before failing the test. */
const SETTLE_MS = 30_000;
/** How many of its latest error events a failure message shows per trove. */
const LAST_ERRORS = 6;

const emptyFigures = (): Figures => ({ calls: 0, getOrSets: 0, values: 0, misses: 0, writes: 0, documentedErrors: 0, other: 0, factoryRuns: 0 });

export class FaultLoad {
  phase: Phase = 'before';
  private running = true;
  private inFlight = 0;
  private unhandled = 0;
  private answeredInFault = 0;
  private sets = 0;
  private readonly total = emptyFigures();
  private readonly phases: Record<Phase, Figures> = { before: emptyFigures(), fault: emptyFigures(), after: emptyFigures() };
  private readonly runsByKey = new Map<string, number>();
  /** Per trove: the values it answered for each cold key, with how often. */
  private readonly coldAnswers: Map<string, Map<string, number>>[];
  /** Per trove: values answered by calls that began in phase 'after'. */
  private readonly valuesAfter: number[];
  /** Per trove: cold-key calls in flight. */
  private readonly coldInFlight: number[];
  private readonly errorEvents: Record<string, number> = {};
  /** Per trove, its latest error events (for a failure message). */
  private readonly lastErrors: string[][];
  private readonly documentedByCode: Record<string, number> = {};
  private readonly otherExamples: string[] = [];
  private readonly resetsAtStart: number[];
  private readonly regions: Region<Entry>[];
  private readonly loops: Promise<void>[];
  private readonly weights: [Op, number][];
  private readonly pad: string | undefined;
  private readonly onUnhandled = (): void => {
    this.unhandled++;
  };

  constructor(private readonly o: FaultLoadOptions) {
    process.on('unhandledRejection', this.onUnhandled);
    onTestFinished(() => {
      this.running = false;
      process.off('unhandledRejection', this.onUnhandled);
    });
    const mix = { getOrSet: 5, get: 4, set: 1, ...o.mix };
    this.weights = (Object.entries(mix) as [Op, number][]).filter(([, w]) => w > 0);
    this.pad = o.padBytes ? 'x'.repeat(o.padBytes) : undefined;
    this.regions = o.troves.map((t) => t.region<Entry>(o.region, o.regionOptions));
    this.coldAnswers = o.troves.map(() => new Map());
    this.valuesAfter = o.troves.map(() => 0);
    this.coldInFlight = o.troves.map(() => 0);
    this.resetsAtStart = o.troves.map((t) => t.stats().near?.resets ?? 0);
    this.lastErrors = o.troves.map(() => []);
    for (const [i, t] of o.troves.entries()) {
      t.on('error', (e) => {
        const name = `${e.operation} ${e.error.code}`;
        if (t.isClosed) return;
        this.errorEvents[name] = (this.errorEvents[name] ?? 0) + 1;
        const last = this.lastErrors[i]!;
        last.push(`${name}: ${e.error.message}`);
        if (last.length > LAST_ERRORS) last.shift();
      });
    }
    const callers = o.callersPerTrove ?? 4;
    this.loops = o.troves.flatMap((_, t) => Array.from({ length: callers }, (_, c) => this.caller(t, 1 + t * 100 + c)));
  }

  /** Factory runs for `key` so far. */
  runsOf(key: string): number {
    return this.runsByKey.get(key) ?? 0;
  }

  /** How often trove `t` answered the value `v` for cold key `key`. */
  answered(t: number, key: string, v: string): number {
    return this.coldAnswers[t]?.get(key)?.get(v) ?? 0;
  }

  /** The distinct values trove `t` answered for cold key `key`. */
  answersOf(t: number, key: string): string[] {
    return [...(this.coldAnswers[t]?.get(key)?.keys() ?? [])];
  }

  /** Calls in flight right now. */
  get pending(): number {
    return this.inFlight;
  }

  /**
   * Whether the troves are back after the fault: every trove answered a value to a call begun in
   * phase 'after', and every near cache is in use again (tracking confirmed).
   */
  recovered(): boolean {
    return this.o.troves.every((t, i) => this.valuesAfter[i]! > 0 && t.stats().near?.live !== false);
  }

  /** Per trove: values answered since the fault, and whether its near cache is live, with its latest errors when not (for a failure message). */
  recoveryState(): string {
    return this.o.troves
      .map((t, i) => {
        const near = t.stats().near?.live === false ? `not live (latest errors: ${this.lastErrors[i]!.join(' | ') || 'none'})` : 'live';
        return `trove ${i}: ${this.valuesAfter[i]} values, near ${near}, Redis ${t.health().redis}`;
      })
      .join('; ');
  }

  figures(): LoadFigures {
    const copy = (f: Figures): Figures => ({ ...f });
    return {
      ...copy(this.total),
      unhandled: this.unhandled,
      phases: { before: copy(this.phases.before), fault: copy(this.phases.fault), after: copy(this.phases.after) },
      answeredInFault: this.answeredInFault,
      errorEvents: { ...this.errorEvents },
      documentedByCode: { ...this.documentedByCode },
      otherExamples: [...this.otherExamples],
      nearResets: this.o.troves.map((t, i) => (t.stats().near?.resets ?? 0) - this.resetsAtStart[i]!),
    };
  }

  /** Stops the callers and waits until every call in flight has settled; fails the test if one never does. */
  async stop(): Promise<LoadFigures> {
    this.running = false;
    await until(() => this.inFlight === 0, SETTLE_MS, `every call of the load to settle (${this.inFlight} in flight when it stopped)`);
    await Promise.all(this.loops);
    return this.figures();
  }

  private async caller(t: number, seed: number): Promise<void> {
    const random = prng(seed);
    const weightSum = this.weights.reduce((s, [, w]) => s + w, 0);
    const cold = this.o.coldKeys ?? [];
    while (this.running) {
      let pick = random() * weightSum;
      let op: Op = this.weights[0]![0];
      for (const [name, w] of this.weights) {
        if (pick < w) {
          op = name;
          break;
        }
        pick -= w;
      }
      // One getOrSet in four goes to a cold key, when there are some. A cold key may wait for
      // another process's computation for as long as the fault lasts: that call goes on without
      // holding up its caller, and at most MAX_COLD_IN_FLIGHT such calls are in flight per trove.
      if (op === 'getOrSet' && cold.length > 0 && random() < 0.25) {
        const key = cold[Math.floor(random() * cold.length)]!;
        if (this.coldInFlight[t]! < MAX_COLD_IN_FLIGHT) {
          this.coldInFlight[t]!++;
          void this.call(t, op, key, true).finally(() => this.coldInFlight[t]!--);
        }
      } else await this.call(t, op, this.o.keys[Math.floor(random() * this.o.keys.length)]!, false);
      await sleep(PACE_MS);
    }
  }

  private async call(t: number, op: Op, key: string, cold: boolean): Promise<void> {
    const began = this.phase;
    const count = (field: keyof Figures): void => {
      this.total[field]++;
      this.phases[began][field]++;
    };
    count('calls');
    if (op === 'getOrSet') count('getOrSets');
    this.inFlight++;
    const region = this.regions[t]!;
    try {
      if (op === 'set') {
        // Unique, so a copy that missed a later write can never look like it.
        await region.set(key, { k: key, v: `s${t}.${++this.sets}`, ...(this.pad === undefined ? {} : { pad: this.pad }) });
        count('writes');
        return;
      }
      const value = op === 'get' ? await region.get(key) : await region.getOrSet(key, this.factory(t, key, began));
      if (value === undefined && op === 'get') count('misses');
      else if (isEntryOf(key, value)) {
        count('values');
        if (began === 'after') this.valuesAfter[t]!++;
        if (cold) {
          const byValue = this.coldAnswers[t]!.get(key) ?? new Map<string, number>();
          byValue.set(value.v, (byValue.get(value.v) ?? 0) + 1);
          this.coldAnswers[t]!.set(key, byValue);
        }
      } else {
        count('other');
        this.example(`${op} ${key} answered ${JSON.stringify(value)?.slice(0, 80)}`);
      }
    } catch (err) {
      if (isDocumented(op, err, this.o)) {
        count('documentedErrors');
        const code = `${op} ${(err as StoreError).code}`;
        this.documentedByCode[code] = (this.documentedByCode[code] ?? 0) + 1;
      } else {
        count('other');
        this.example(`${op} ${key} rejected: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
      }
    } finally {
      this.inFlight--;
      if (began === 'fault' && this.phase === 'fault') this.answeredInFault++;
    }
  }

  /** `began`: the phase of the call the factory belongs to, whose counts its runs join (a call begun before a fault may compute during it). */
  private factory(t: number, key: string, began: Phase): () => Promise<Entry> {
    return async () => {
      this.total.factoryRuns++;
      this.phases[began].factoryRuns++;
      this.runsByKey.set(key, this.runsOf(key) + 1);
      return { k: key, v: `f${t}.${this.total.factoryRuns}` };
    };
  }

  private example(text: string): void {
    if (this.otherExamples.length < 5) this.otherExamples.push(text);
  }
}

function isEntryOf(key: string, value: unknown): value is Entry {
  return typeof value === 'object' && value !== null && (value as Entry).k === key && typeof (value as Entry).v === 'string';
}

/**
 * The errors README documents for a call under a fault: a `StoreError` (or `StoreTimeoutError`)
 * from a read, which Topologies lists beside a value and a miss for calls during a failover, and
 * which a read rejects with while the region's generations cannot be read (Errors), and from a
 * `set` where `setMayReject`; `ColdCacheError` from a getOrSet with `onCold: 'fail'`;
 * `TimeoutError` from a getOrSet past its `hardTimeout`.
 */
function isDocumented(op: Op, err: unknown, o: FaultLoadOptions): boolean {
  if (err instanceof StoreError) return op !== 'set' || o.setMayReject === true;
  if (op !== 'getOrSet') return false;
  if (err instanceof ColdCacheError) return o.regionOptions?.onCold === 'fail';
  if (err instanceof TimeoutError) return o.regionOptions?.hardTimeout !== undefined;
  return false;
}

/**
 * Every call was answered (the figures add up) with a value, a miss or a documented error, and
 * no rejection went unhandled.
 */
export function expectSound(f: LoadFigures): void {
  expect(f.calls).toBeGreaterThan(0);
  expect(f.other, `calls answered with neither a value, a miss nor a documented error: ${f.otherExamples.join('; ')}`).toBe(0);
  expect(f.unhandled, 'unhandled rejections').toBe(0);
  expect(f.values + f.misses + f.writes + f.documentedErrors + f.other).toBe(f.calls);
}

/**
 * How long after a write elsewhere README lets a near cache whose tracking is live answer the
 * older value: the propagation window ("milliseconds"; the soak saw none after 50 ms), and for a
 * generation change missed as a broadcast (a restarted or flushed server's new epoch),
 * `syncInterval`, 1 s by default. The larger one bounds every fault once it is over.
 */
export const FRESHNESS_BOUND_MS = 1_000;

export interface Freshness {
  /** From the first write's acknowledgement until every trove answered it. */
  firstRoundMs: number;
  /** From the second write's acknowledgement (near copies of the first held everywhere) until every trove answered it. */
  propagationMs: number;
  /** Reads answering an older value after a write was acknowledged. */
  staleReads: number;
  /** How long after a write's acknowledgement the latest of those reads began (0: none). */
  lastStaleMs: number;
}

/**
 * Once the fault is over: `writer` (another trove, no near cache) writes new values of `keys`,
 * and every trove must answer them. Two rounds: the first reaches troves whose near caches were
 * emptied by the fault; then every trove holds the values in its near cache (checked: a read of
 * each key is a near hit), and the second round proves invalidations reach those copies.
 * Waits with `until`; records every read that answered an older value after the write, and when it began.
 */
export async function checkFreshness(troves: readonly Trove[], region: string, keys: readonly string[], writer: Region<Entry>): Promise<Freshness> {
  await until(() => troves.every((t) => t.stats().near?.live !== false), 30_000, 'tracking to be live in every trove');
  const stale = { reads: 0, lastMs: 0 };
  const round = async (v: string): Promise<number> => {
    await writer.setMany(keys.map((k) => [k, { k, v }] as const));
    const ackAt = performance.now();
    await until(
      async () => {
        const began = performance.now();
        const answers = await Promise.all(
          troves.map((t) =>
            Promise.all(
              keys.map((k) =>
                t
                  .region<Entry>(region)
                  .get(k)
                  .catch(() => undefined),
              ),
            ),
          ),
        );
        let all = true;
        for (const list of answers) {
          for (const a of list) {
            if (a?.v === v) continue;
            all = false;
            if (a !== undefined) {
              stale.reads++;
              stale.lastMs = Math.max(stale.lastMs, began - ackAt);
            }
          }
        }
        return all;
      },
      30_000,
      `every trove to answer ${v}`,
    );
    return performance.now() - ackAt;
  };
  const firstRoundMs = await round('outside-1');
  const near = troves.filter((t) => t.stats().near !== undefined);
  // Each key read alone, so that a failure names the keys that were not near hits.
  let notHeld: string[] = [];
  await until(
    async () => {
      notHeld = [];
      for (const [i, t] of near.entries()) {
        for (const k of keys) {
          const before = t.stats().near!.hits;
          await t.region<Entry>(region).get(k);
          if (t.stats().near!.hits - before !== 1) notHeld.push(`trove ${i}: ${k}`);
        }
      }
      return notHeld.length === 0;
    },
    30_000,
    () =>
      `every near cache to hold the written values (not near hits: ${notHeld.join(', ')}; near stats: ${near.map((t) => JSON.stringify(t.stats().near)).join(' ')})`,
  );
  const propagationMs = await round('outside-2');
  return { firstRoundMs, propagationMs, staleReads: stale.reads, lastStaleMs: stale.lastMs };
}

/** One line of figures per fault, for quoting. */
export function printFigures(fault: string, f: LoadFigures, extra: Record<string, number | string>): void {
  const round = (x: number | string) => (typeof x === 'number' && !Number.isInteger(x) ? x.toFixed(1) : String(x));
  const fields: Record<string, number | string> = {
    calls: f.calls,
    values: f.values,
    misses: f.misses,
    writes: f.writes,
    documentedErrors: f.documentedErrors,
    other: f.other,
    unhandled: f.unhandled,
    factoryRuns: f.factoryRuns,
    ...extra,
  };
  const codes = Object.entries(f.documentedByCode)
    .map(([c, n]) => `${c.replace(' ', ':')}=${n}`)
    .join(',');
  console.log(
    `fault ${fault}: ${Object.entries(fields)
      .map(([k, v]) => `${k}=${round(v)}`)
      .join(' ')}${codes ? ` documented=[${codes}]` : ''}`,
  );
}

/** `count` keys named `k0`, `k1`, … */
export function keyNames(count: number, prefix = 'k'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

/** The deadline of troves whose Redis stalls or vanishes in the test: a stalled call answers after it. */
export const FAULT_TIMEOUT = 400;
/** The load's values answered before a fault strikes, so that it strikes a running load. */
const WARM_VALUES = 300;

/** `count` troves from `troves.open(opts)`, once each is ready and its near cache (if it has one) live. */
export async function openTroves(troves: Troves, count: number, opts: TroveOptions): Promise<Trove[]> {
  const list = Array.from({ length: count }, () => troves.open(opts));
  await Promise.all(list.map((t) => t.ready()));
  await until(() => list.every((t) => t.stats().near?.live !== false), 10_000, 'tracking to be live');
  return list;
}

/**
 * Another process's trove: no near cache, and the harness's long deadline, so none of its
 * writes is dropped on a loaded machine.
 */
export function writerOf(troves: Troves, opts: TroveOptions, region: string): Region<Entry> {
  return troves.open({ ...opts, nearCache: false, commandTimeout: TEST_COMMAND_TIMEOUT }).region<Entry>(region);
}

/** Resolves once the load has answered WARM_VALUES values. */
export async function warm(load: FaultLoad): Promise<void> {
  await until(() => load.figures().phases.before.values >= WARM_VALUES, 20_000, 'the load to answer values');
}

/** Ends the fault for the load; resolves to the ms until every trove answered again with its near cache live. */
export function recover(load: FaultLoad): Promise<number> {
  load.phase = 'after';
  return until(
    () => load.recovered(),
    30_000,
    () => `every trove to answer again, near cache live (${load.recoveryState()})`,
  );
}

/** The figures of a freshness check worth printing. */
export function freshFigures(f: Freshness): Record<string, number> {
  return { propagationMs: f.propagationMs, staleReads: f.staleReads, lastStaleMs: f.lastStaleMs };
}
