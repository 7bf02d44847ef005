import type { BenchContext, Workload } from '../context.js';
import { keyNames, makeUser, randomKeyOrder } from '../data.js';
import { lruFloor } from '../peers/lru-cache.js';
import { mapFloor } from '../peers/map.js';
import { type CacheAdapter, showOptions, type Variant } from '../peers/types.js';
import { ratio, type WorkloadResult } from '../report.js';
import { closeSubjects, L1_ENTRIES, measureThroughput, openSubjects, populate, SLICES, type Subject, type ThroughputPhase, TTL_MS, verify } from './common.js';

const CONCURRENCY = 64;
/** The near-hit targets: Trove at least this fraction of an awaited bare `Map.get` (both phases)… */
export const MAP_FLOOR_TARGET = 0.5;
/** …and at least this many times bentocache's L1 hit. */
export const BENTO_TARGET = 15;
export const LRU_FLOOR = 'lru-cache (floor)';
export const MAP_FLOOR = 'Map (floor)';

/**
 * Like-for-like rows. The usual rows are each library's fastest valid configuration for hits
 * (Trove's default near cache, bentocache's `serialize: false`, CacheableMemory's `useClone:
 * false` all hand out the stored object); these produce a fresh copy on every hit (a
 * `structuredClone` for Trove and CacheableMemory's default `useClone: true`, a `JSON.parse` of
 * the stored string for bentocache's default L1) and are compared with `trove (clone: true)`.
 */
export const L1_VARIANTS: readonly Variant[] = [
  { lib: 'trove', name: 'clone', row: 'trove (clone: true)', versus: 'trove (clone: true)' },
  // What the statistics cost a near hit: the default row (statistics on) against this one.
  { lib: 'trove', name: 'stats-off', row: 'trove (stats: false)', versus: 'trove (stats: false)' },
  // What freezeValues (the default outside production) costs a near hit: nothing per hit, the
  // value is frozen once as it enters the near cache.
  { lib: 'trove', name: 'frozen', row: 'trove (freezeValues: true)', versus: 'trove (freezeValues: true)' },
  // The node-redis driver next to the default (ioredis) one.
  { lib: 'trove', name: 'node-redis', row: 'trove (node-redis)', versus: 'trove (node-redis)' },
  // Expiry checked against a clock reading of up to 1 ms instead of a clock read per hit.
  { lib: 'trove', name: 'expiry-resolution', row: "trove (expiryResolution: '1ms')", versus: "trove (expiryResolution: '1ms')" },
  { lib: 'bentocache', name: 'serialize', row: 'bentocache (serialize: true, default)', versus: 'trove (clone: true)' },
  { lib: 'cache-manager', name: 'clone', row: 'cache-manager (useClone: true, default)', versus: 'trove (clone: true)' },
  { lib: 'cacheable', name: 'clone', row: 'cacheable (useClone: true, default)', versus: 'trove (clone: true)' },
];

/** Hits served by each library's in-memory tier, concurrent and sequential, against two floors: a bare lru-cache and a bare Map. */
export const l1Hit: Workload = {
  name: 'l1-hit',
  isolated: true,
  variants: L1_VARIANTS,
  // Each in a process of its own: a floor sharing a process with a library shares the driver
  // loop's type feedback (and lru-cache's) with it.
  floors: [LRU_FLOOR, MAP_FLOOR],
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const keyCount = 10_000;
    const roundMs = ctx.quick ? 300 : 1_000;
    const keys = keyNames(keyCount);
    // Read cyclically: the floor reads millions of keys a second.
    const keyAt = randomKeyOrder(keys, ctx.rounds, { rounds: 101, warmup: 1999 }, 1 << 20);
    const floorOnly = typeof ctx.floor === 'string';
    const subjects = floorOnly ? [] : await openSubjects(ctx, 'l1', makeUser, { bus: true, variants: L1_VARIANTS });
    const floorSubject = (lib: string, config: string, open: (load: (key: string) => unknown) => CacheAdapter): Subject => {
      const floor: Subject = { lib, row: { lib, status: 'ok', figures: {}, config }, loads: 0 };
      floor.adapter = open((key) => {
        floor.loads++;
        return makeUser(key);
      });
      return floor;
    };
    const allFloors = [
      floorSubject(LRU_FLOOR, `new LRUCache(${showOptions({ max: L1_ENTRIES, ttl: TTL_MS })}) · await lru.get(key) (no Redis)`, (load) =>
        lruFloor({ max: L1_ENTRIES, ttlMs: TTL_MS, load }),
      ),
      floorSubject(MAP_FLOOR, 'new Map() filled with every key · await map.get(key) (no LRU, no TTL, no Redis)', (load) => mapFloor({ load })),
    ];
    const phases: ThroughputPhase[] = [
      { key: 'c64', concurrency: CONCURRENCY, roundMs, warmupMs: roundMs / 5, keyAt, missesOnly: false },
      { key: 'seq', concurrency: 1, roundMs, warmupMs: roundMs / 5, keyAt, missesOnly: false },
    ];
    const floors = allFloors.filter((f) => ctx.floor === true || ctx.floor === f.lib);
    try {
      await populate(ctx, [...subjects, ...floors], keys);
      await verify([...subjects, ...floors], '42', (v) => (v as { id?: number } | undefined)?.id === 42);
      await measureThroughput(ctx, subjects, phases);
      if (floors.length) await measureThroughput(ctx, floors, phases);
    } finally {
      await closeSubjects([...subjects, ...allFloors]);
    }
    subjects.push(...floors);
    return {
      name: 'l1-hit',
      title: 'in-memory (near/L1) hit',
      summary: `The same ${keyCount.toLocaleString('en-US')} records, reads of random keys served by each library's in-memory tier, ${roundMs.toLocaleString('en-US')} ms per library per round (in ${SLICES} slices): ${CONCURRENCY} async workers, then one sequential awaited loop. The floors are an awaited lookup in a bare LRU (lru-cache row) and in a bare pre-filled Map (Map row: no eviction, no expiry).`,
      params: { keys: keyCount, roundMs, concurrency: CONCURRENCY, l1Entries: L1_ENTRIES },
      metrics: [
        { key: 'c64', label: `concurrency ${CONCURRENCY}`, unit: 'ops/s', better: 'higher', ratio: true },
        { key: 'seq', label: 'sequential', unit: 'ops/s', better: 'higher', ratio: true },
      ],
      rows: subjects.map((s) => s.row),
      notes: [
        `Capacity is ${L1_ENTRIES.toLocaleString('en-US')} entries for every library. Trove's near cache has its default options otherwise: it hands out the decoded value it keeps (clone: false). bentocache runs its fastest valid L1, \`memoryDriver({ maxItems, serialize: false })\`: objects kept as they are, no JSON.parse on a hit (bentocache refuses \`maxSize\` with \`serialize: false\`, so capacity is \`maxItems\` alone). cacheable and cache-manager run a CacheableMemory with \`lruSize\`, \`useClone: false\` (the stored object, no structuredClone on a hit) and \`storeHashSize: 1\` (one Map, no hash of the key on every read), behind a Keyv without serialization (cacheable's \`createKeyv\`).`,
        'Like for like: "trove" is compared with "bentocache" (both share the stored object), and "trove (clone: true)" (a structuredClone per hit) with "bentocache (serialize: true, default)" (a JSON.parse per hit, bentocache\'s default L1) and with "cacheable (useClone: true, default)" / "cache-manager (useClone: true, default)" (a structuredClone per hit, CacheableMemory\'s default); the ratio column of each of these rows divides by its counterpart. Every other peer is compared with "trove".',
        'Each configuration (row) has a key prefix of its own. For bentocache that is required: in 1.6.1 an L1 with `serialize: false` stores entries it copies from L2 still serialized and then throws on reading them (bentocache issue #111, fix in PR #113, unreleased), so its L1 may only hold entries from its own factory, never values another process wrote.',
        'async-cache-dedupe has no two-tier mode: its row is its memory storage alone.',
      ],
    };
  },
  conclude(result: WorkloadResult): void {
    const row = (lib: string) => result.rows.find((r) => r.lib === lib && r.status === 'ok');
    const trove = row('trove');
    if (!trove) return;
    const x = (r: number) => (Number.isFinite(r) ? `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×` : '—');
    const map = row(MAP_FLOOR);
    const coarse = row("trove (expiryResolution: '1ms')");
    if (map)
      result.notes.push(
        `Near hit against the bare Map floor: trove / Map ${x(ratio(trove.figures.c64, map.figures.c64))} at concurrency ${CONCURRENCY}, ${x(ratio(trove.figures.seq, map.figures.seq))} sequential (target ≥ ${MAP_FLOOR_TARGET}× in both)${
          coarse
            ? `; with \`expiryResolution: '1ms'\` (one clock reading per millisecond, as lru-cache's default \`ttlResolution\`) ${x(ratio(coarse.figures.c64, map.figures.c64))} and ${x(ratio(coarse.figures.seq, map.figures.seq))}, ${x(ratio(coarse.figures.c64, trove.figures.c64))} and ${x(ratio(coarse.figures.seq, trove.figures.seq))} the default's`
            : ''
        }.`,
      );
    const bento = row('bentocache');
    if (bento)
      result.notes.push(
        `Near hit against bentocache's L1 (\`serialize: false\`): trove / bentocache ${x(ratio(trove.figures.c64, bento.figures.c64))} at concurrency ${CONCURRENCY}, ${x(ratio(trove.figures.seq, bento.figures.seq))} sequential (target ≥ ${BENTO_TARGET}×).`,
      );
  },
};
