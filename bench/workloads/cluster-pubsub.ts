/**
 * The invalidation bus on a cluster: classic PUBLISH (one subscriber connection; every node
 * forwards every message to every other node over the cluster bus) against sharded SPUBLISH
 * (ioredis 5's `shardedSubscribers`: a subscriber connection per master; a message stays on the
 * shard that owns its channel's slot). Both on the same cluster, the same channels and messages,
 * the same publishing client, interleaved slice by slice.
 */
import { performance } from 'node:perf_hooks';
import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import type { RedisCluster } from '../../tools/redis-cluster.js';
import type { BenchContext } from '../context.js';
import { collectGarbage, runFor } from '../driver.js';
import { showOptions } from '../peers/types.js';
import { type Row, remark, type Section } from '../report.js';
import { latencies, summarize } from '../stats.js';
import { describeError, rotate, SLICES } from './common.js';
import { urlOf } from './cluster-subjects.js';

const CHANNELS = 4;
const CONCURRENCY = 64;
/** How long a message may take to arrive before it counts as lost. Unit: ms. */
const LOST_AFTER_MS = 2_000;
/** The size of one of Trove's invalidation messages (`{"<table>":"<epoch>","o":"<origin>"}`). */
const PAYLOAD = JSON.stringify({ g: 'Tq0v_m1cXk2_9a7Q', o: 'k2Jd8s0aPq1xV7nB' });
/** Publisher options: those of the Cluster Trove creates for its commands, which publishes its messages. */
const PUBLISHER_OPTIONS = { enableAutoPipelining: true } as const;

type Figure = 'delivered' | 'p50' | 'p99';
type Figures = Record<Figure, number[]>;

interface Mode {
  row: string;
  config: string;
  publish(channel: string, message: string): Promise<unknown>;
  /** Messages of the current slice received so far, and when the last one arrived. */
  received: number;
  lastAt: number;
  /** Tag of the current slice: messages of an earlier one (arriving late) are not counted. */
  slice: number;
  /** Called when `received` reaches `expected`. */
  drained: (() => void) | undefined;
  expected: number;
  /** Latency probes waiting for their message, by sequence number. */
  waiters: Map<number, (at: number) => void>;
  lost: number;
  /** Per round. */
  samples: Figures;
  /** Per timed slice, in the same (round, slice) order for every mode, so the modes' slices pair up. */
  slices: Figures;
  close(): void;
}

function newMode(row: string, config: string, publish: Mode['publish'], close: () => void): Mode {
  return {
    row,
    config,
    publish,
    received: 0,
    lastAt: 0,
    slice: -1,
    drained: undefined,
    expected: Number.POSITIVE_INFINITY,
    waiters: new Map(),
    lost: 0,
    samples: { delivered: [], p50: [], p99: [] },
    slices: { delivered: [], p50: [], p99: [] },
    close,
  };
}

/** A message arrived: `<seq> <slice> <payload>`. */
function onMessage(mode: Mode, message: string): void {
  const at = performance.now();
  const a = message.indexOf(' ');
  const b = message.indexOf(' ', a + 1);
  if (Number(message.slice(a + 1, b)) !== mode.slice) return;
  mode.received++;
  mode.lastAt = at;
  const seq = Number(message.slice(0, a));
  const waiter = mode.waiters.get(seq);
  if (waiter) {
    mode.waiters.delete(seq);
    waiter(at);
  }
  if (mode.received >= mode.expected && mode.drained) {
    const done = mode.drained;
    mode.drained = undefined;
    done();
  }
}

/** `count` channel names spread over every master (each master owns at least one when count ≥ masters). */
function pickChannels(cluster: RedisCluster, count: number): { name: string; slot: number; port: number }[] {
  const masters = cluster.masters().length;
  const picked: { name: string; slot: number; port: number }[] = [];
  for (let i = 0; picked.length < count && i < 10_000; i++) {
    const name = `bench:bus:${i}`;
    const slot = calculateSlot(name);
    const port = cluster.ownerOf(slot).port;
    const covered = new Set(picked.map((c) => c.port));
    // Cover every master first, then take whatever comes.
    if (covered.size < masters && covered.has(port)) continue;
    picked.push({ name, slot, port });
  }
  return picked;
}

function waitEvent(emitter: Cluster, event: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** SPUBLISH from a Lua script, to a channel of the script's key's slot and to one on another node: what Redis allows. */
async function scriptCheck(pub: Cluster, cluster: RedisCluster): Promise<string> {
  const script = "return redis.call('SPUBLISH', ARGV[1], ARGV[2])";
  const same = await pub.eval(script, 1, '{bench}key', '{bench}channel', 'x').then(
    () => 'accepted',
    (err: unknown) => `refused (${describeError(err)})`,
  );
  const keyPort = cluster.ownerOf(calculateSlot('{bench}key')).port;
  let other = 'bench:other:0';
  for (let i = 1; cluster.ownerOf(calculateSlot(other)).port === keyPort; i++) other = `bench:other:${i}`;
  const cross = await pub.eval(script, 1, '{bench}key', other, 'x').then(
    () => 'accepted',
    (err: unknown) => `refused (${describeError(err)})`,
  );
  return `SPUBLISH inside a script (EVAL with one key): to a channel of the key's slot ${same}; to a channel served by another master ${cross}.`;
}

/** Throughput and latency of PUBLISH and SPUBLISH on `cluster`, as a section of the cluster workload. */
export async function measurePubSub(ctx: BenchContext, cluster: RedisCluster): Promise<Section> {
  const urls = cluster.masters().map((m) => urlOf(m.port));
  const roundMs = ctx.quick ? 300 : 1_000;
  const channels = pickChannels(cluster, CHANNELS);
  const names = channels.map((c) => c.name);
  const clients: Cluster[] = [];
  const rows: Row[] = [];
  const notes: string[] = [];
  let modes: Mode[] = [];
  let seq = 0;
  let sliceId = 0;
  try {
    const pub = new Cluster(urls, PUBLISHER_OPTIONS);
    clients.push(pub);
    await pub.ping();

    const classicSub = new Cluster(urls);
    clients.push(classicSub);
    const classic = newMode(
      'PUBLISH (classic)',
      `subscriber: new Cluster(masters).subscribe(...channels) (1 connection, on a node ioredis picks) · publisher: new Cluster(masters, ${showOptions(PUBLISHER_OPTIONS)}).publish(channel, message)`,
      (channel, message) => pub.publish(channel, message),
      () => classicSub.disconnect(),
    );
    classicSub.on('message', (_channel: string, message: string) => onMessage(classic, message));
    await classicSub.subscribe(...names);

    const shardedSub = new Cluster(urls, { shardedSubscribers: true });
    clients.push(shardedSub);
    const ready = waitEvent(shardedSub, 'subscribersReady', 10_000);
    const sharded = newMode(
      'SPUBLISH (sharded)',
      `subscriber: new Cluster(masters, { shardedSubscribers: true }).ssubscribe(channel) per channel (${urls.length} connections, one per master) · publisher: the same Cluster · spublish(channel, message)`,
      (channel, message) => pub.spublish(channel, message),
      () => shardedSub.disconnect(),
    );
    shardedSub.on('smessage', (_channel: string, message: string) => onMessage(sharded, message));
    await ready;
    // One channel per call: ioredis refuses channels of several slots in one SSUBSCRIBE.
    for (const name of names) await shardedSub.ssubscribe(name);
    modes = [classic, sharded];

    /** Publishes for `ms` with CONCURRENCY messages in flight; the slice lasts until the last one arrives. */
    const throughputSlice = async (mode: Mode, ms: number): Promise<{ messages: number; ms: number }> => {
      mode.slice = ++sliceId;
      mode.received = 0;
      mode.expected = Number.POSITIVE_INFINITY;
      const tag = ` ${mode.slice} ${PAYLOAD}`;
      const started = performance.now();
      const { ops } = await runFor(CONCURRENCY, ms, (i) => mode.publish(names[i % names.length]!, `${seq++}${tag}`));
      const published = performance.now();
      if (mode.received < ops) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, LOST_AFTER_MS);
          mode.expected = ops;
          mode.drained = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        mode.drained = undefined;
      }
      mode.lost += ops - mode.received;
      return { messages: mode.received, ms: Math.max(published, mode.lastAt) - started };
    };

    /** One message: from the publish call to its arrival at the subscriber (undefined: lost). */
    const probe = async (mode: Mode, channel: string, tag: string): Promise<number | undefined> => {
      const n = seq++;
      let timer: NodeJS.Timeout | undefined;
      const arrived = new Promise<number | undefined>((resolve) => {
        mode.waiters.set(n, resolve);
        timer = setTimeout(() => resolve(undefined), LOST_AFTER_MS);
      });
      const started = performance.now();
      await mode.publish(channel, `${n}${tag}`);
      const at = await arrived;
      clearTimeout(timer);
      mode.waiters.delete(n);
      return at === undefined ? undefined : at - started;
    };

    /** One message in flight at a time for `ms`, round-robin over the channels. */
    const latencySlice = async (mode: Mode, ms: number, samples: number[]): Promise<void> => {
      mode.slice = ++sliceId;
      mode.received = 0;
      mode.expected = Number.POSITIVE_INFINITY;
      const tag = ` ${mode.slice} ${PAYLOAD}`;
      await runFor(1, ms, async (i) => {
        const took = await probe(mode, names[i % names.length]!, tag);
        if (took === undefined) mode.lost++;
        else samples.push(took);
      });
    };

    // Every channel delivers before anything is timed.
    for (const mode of modes) {
      mode.slice = ++sliceId;
      for (const name of names) {
        if ((await probe(mode, name, ` ${mode.slice} ${PAYLOAD}`)) === undefined) throw new Error(`${mode.row}: nothing arrived on ${name}`);
      }
    }

    for (let round = 0; round < ctx.rounds; round++) {
      const warmMs = round === 0 ? roundMs : roundMs / 5;
      for (const mode of rotate(modes, round)) {
        await throughputSlice(mode, warmMs);
        await latencySlice(mode, warmMs / 2, []);
      }
      const done = new Map<Mode, { messages: number; ms: number; lat: number[] }>(modes.map((m) => [m, { messages: 0, ms: 0, lat: [] }]));
      for (let slice = 0; slice < SLICES; slice++) {
        for (const mode of rotate(modes, round + slice)) {
          const d = done.get(mode)!;
          collectGarbage();
          const t = await throughputSlice(mode, roundMs / SLICES);
          d.messages += t.messages;
          d.ms += t.ms;
          mode.slices.delivered.push((t.messages / t.ms) * 1000);
        }
      }
      for (let slice = 0; slice < SLICES; slice++) {
        for (const mode of rotate(modes, round + slice)) {
          collectGarbage();
          const own: number[] = [];
          await latencySlice(mode, roundMs / SLICES, own);
          const lat = latencies(own.map((ms) => ms * 1000));
          mode.slices.p50.push(lat.p50);
          mode.slices.p99.push(lat.p99);
          done.get(mode)!.lat.push(...own);
        }
      }
      for (const mode of modes) {
        const d = done.get(mode)!;
        const delivered = (d.messages / d.ms) * 1000;
        const lat = latencies(d.lat.map((ms) => ms * 1000));
        mode.samples.delivered.push(delivered);
        mode.samples.p50.push(lat.p50);
        mode.samples.p99.push(lat.p99);
        ctx.progress(
          `  ${mode.row} round ${round + 1}: ${Math.round(delivered).toLocaleString('en-US')} messages/s delivered, p50 ${lat.p50.toFixed(0)} µs, p99 ${lat.p99.toFixed(0)} µs (${lat.count} probes)`,
        );
      }
    }
    for (const mode of modes) {
      const row: Row = {
        lib: mode.row,
        status: 'ok',
        figures: { delivered: summarize(mode.samples.delivered), p50: summarize(mode.samples.p50), p99: summarize(mode.samples.p99) },
        config: mode.config,
      };
      if (mode.lost > 0) remark(row, `${mode.lost} messages never arrived within ${LOST_AFTER_MS} ms`);
      rows.push(row);
    }
    notes.push(
      `Channels: ${channels.map((c) => `${c.name} (slot ${c.slot}, master :${c.port})`).join(', ')}; messages of ${`0 0 ${PAYLOAD}`.length}–${`99999 99 ${PAYLOAD}`.length} B (a sequence number, a slice tag and a ${PAYLOAD.length} B payload, the size of a Trove invalidation message).`,
    );
    const comparisons = compare(classic, sharded);
    notes.push(
      `SPUBLISH / PUBLISH, round by round: ${comparisons.map((c) => `${c.label} ${c.roundRatios.map((r) => `${r.toFixed(2)}×`).join(', ')}`).join('; ')}. Slices won by SPUBLISH (the two modes' slices pair up in time): ${comparisons.map((c) => `${c.label} ${c.wins} of ${c.pairs} (sign test ${formatP(c.p)})`).join('; ')}.`,
    );
    notes.push(conclusion(comparisons));
    notes.push(await scriptCheck(pub, cluster));
  } catch (err) {
    ctx.progress(`  pub/sub failed: ${describeError(err)}`);
    rows.length = 0;
    rows.push({ lib: 'PUBLISH vs SPUBLISH', status: 'failed', message: describeError(err), figures: {} });
  } finally {
    for (const m of modes) m.close();
    for (const client of clients) client.disconnect();
  }
  return {
    title: `(d) invalidation bus: PUBLISH vs SPUBLISH on the cluster, ${CHANNELS} channels`,
    summary: `One publishing Cluster client; per round and per mode, ${roundMs.toLocaleString('en-US')} ms of publishing with ${CONCURRENCY} messages in flight (round-robin over the channels; a slice lasts until its last message has arrived, so the figure is messages delivered to the subscriber per second), then ${roundMs.toLocaleString('en-US')} ms of one message at a time, timed from the publish call to its arrival (latency). Both modes take turns in ${SLICES} slices of each, order rotating; warm-up before each round.`,
    metrics: [
      { key: 'delivered', label: 'delivered', unit: 'ops/s', better: 'higher' },
      { key: 'p50', label: 'latency p50', unit: 'µs', better: 'lower' },
      { key: 'p99', label: 'latency p99', unit: 'µs', better: 'lower' },
    ],
    rows,
    notes,
    firstColumn: 'mode',
  };
}

interface Comparison {
  label: string;
  /** SPUBLISH's figure over PUBLISH's, per round. */
  roundRatios: number[];
  /** Slice pairs where SPUBLISH did better, of the pairs that differ. */
  wins: number;
  pairs: number;
  /** Two-sided sign test over the slice pairs. */
  p: number;
  /** +1: SPUBLISH better in every round and in the slices (p < 0.01); -1: PUBLISH so; 0: not established. */
  verdict: number;
}

const FIGURES: { key: Figure; label: string; higherIsBetter: boolean }[] = [
  { key: 'delivered', label: 'delivered throughput', higherIsBetter: true },
  { key: 'p50', label: 'p50 latency', higherIsBetter: false },
  { key: 'p99', label: 'p99 latency', higherIsBetter: false },
];

/**
 * Compares the modes pairwise: the two modes take turns slice by slice, so a slice of one and the
 * same slice of the other ran under the same load on the machine, while load moves a lot from
 * round to round on a shared machine (ranges across rounds overlap even when one mode is ahead in
 * every round).
 */
function compare(classic: Mode, sharded: Mode): Comparison[] {
  return FIGURES.map(({ key, label, higherIsBetter }) => {
    const better = (a: number, b: number) => (higherIsBetter ? a > b : a < b);
    const roundRatios = sharded.samples[key].map((v, i) => v / classic.samples[key][i]!);
    let wins = 0;
    let losses = 0;
    sharded.slices[key].forEach((v, i) => {
      const w = classic.slices[key][i]!;
      if (better(v, w)) wins++;
      else if (better(w, v)) losses++;
    });
    const p = signTest(wins, losses);
    const everyRound = (v: number) => roundRatios.every((r) => (higherIsBetter === v > 0 ? r > 1 : r < 1));
    const verdict = p < 0.01 && wins > losses && everyRound(1) ? 1 : p < 0.01 && losses > wins && everyRound(-1) ? -1 : 0;
    return { label, roundRatios, wins, pairs: wins + losses, p, verdict };
  });
}

/** Two-sided sign test: the chance of a split at least this uneven if either mode were as likely to win. */
function signTest(wins: number, losses: number): number {
  const n = wins + losses;
  if (n === 0) return 1;
  let tail = 0;
  let c = 1; // C(n, k), k from n down
  for (let k = n; k >= Math.max(wins, losses); k--) {
    tail += c;
    c = (c * k) / (n - k + 1);
  }
  return Math.min(1, (2 * tail) / 2 ** n);
}

/** `a`, `a and b`, `a, b and c`. */
function and(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

function formatP(p: number): string {
  return p < 0.001 ? 'p < 0.001' : `p = ${p.toFixed(3)}`;
}

/**
 * A one-line conclusion, only when the figures say one thing: a mode ahead on a figure in every
 * round and in the slice pairs (p < 0.01), and behind on none; ahead on one and behind on another
 * is a trade-off, not a conclusion.
 */
function conclusion(comparisons: readonly Comparison[]): string {
  const names = (v: number) => comparisons.filter((c) => c.verdict === v).map((c) => c.label);
  const [shardedAhead, classicAhead, open] = [names(1), names(-1), names(0)];
  if (shardedAhead.length === 0 && classicAhead.length === 0)
    return 'No conclusion: neither mode is ahead on any figure in every round and in the slice pairs.';
  if (shardedAhead.length > 0 && classicAhead.length > 0) return `No conclusion: SPUBLISH is ahead on ${and(shardedAhead)}, PUBLISH on ${and(classicAhead)}.`;
  const winner = shardedAhead.length > 0 ? 'SPUBLISH (a subscriber per shard)' : 'PUBLISH (one subscriber)';
  const on = shardedAhead.length > 0 ? shardedAhead : classicAhead;
  return `Conclusion: ${winner} is ahead on ${and(on)}, in every round and in the slice pairs (p < 0.01)${open.length ? `; ${and(open)}: not established` : ''}.`;
}
