import { Redis } from 'ioredis';
import { createTrove, type Trove } from '../../src/index.js';
import type { BenchContext, Workload } from '../context.js';
import { makeUser } from '../data.js';
import { waitNearLive } from '../peers/trove.js';
import { type Row, remark, type WorkloadResult } from '../report.js';
import { elevenReads, type Scenario, WRITE } from './near-seed.js';
import { customSubject, describeError, measureThroughput, rowFrom, type ThroughputPhase, troveNotSelected } from './common.js';

const TITLE = 'near-cached commands: trove.cachedCommand against the same command on Redis';
const KEYS = 1_000;
const SET = 100;
/** The near cache's `maxEntries`, as in the seed benchmark (`near-seed`): 100 entries in front of 1,000 keys. */
const CAPACITY = 100;
const HOT = 10;
/** The application's own keys (no Trove prefix): what cachedCommand reads. */
const KEY_PREFIX = 'bench:cmd:';

/**
 * The four access patterns (keys `0`…`999`):
 * - single read: key 0, over and over;
 * - 100-key set: keys 0…99 in order, over and over;
 * - eleven reads: step i reads key i, then keys 0 … 9;
 * - eleven reads + write: step i first writes hot key i mod 10 from another connection, then does the eleven reads.
 */
function scenarios(quick: boolean): Scenario[] {
  return [
    { key: 'a', name: '(a) single read: one key, over and over', ops: quick ? 2_000 : 20_000, keyAt: () => '0' },
    { key: 'b', name: `(b) ${SET}-key set, read in order over and over`, ops: SET * (quick ? 20 : 200), keyAt: (i) => String(i % SET) },
    ...elevenReads(),
  ];
}

/** A command under test: its name, its key, how a record is written and how its revision is read back. */
interface Command {
  name: 'GET' | 'HGETALL';
  key(i: string): string;
  write(w: Redis, i: string, rev: number): Promise<unknown>;
  /** The revision in a reply, or undefined for a missing or wrong value. */
  rev(reply: unknown, i: string): number | undefined;
}

const COMMANDS: Command[] = [
  {
    name: 'GET',
    key: (i) => `${KEY_PREFIX}s:${i}`,
    write: (w, i, rev) => w.set(`${KEY_PREFIX}s:${i}`, JSON.stringify({ ...makeUser(i), rev })),
    rev: (reply, i) => {
      if (typeof reply !== 'string') return undefined;
      const v = JSON.parse(reply) as { id: number; rev: number };
      return String(v.id) === i ? v.rev : undefined;
    },
  },
  {
    name: 'HGETALL',
    key: (i) => `${KEY_PREFIX}h:${i}`,
    write: (w, i, rev) => {
      const u = makeUser(i);
      return w.hset(`${KEY_PREFIX}h:${i}`, 'id', String(u.id), 'username', u.username, 'email', u.email, 'name', u.name, 'rev', String(rev));
    },
    rev: (reply, i) => {
      if (!Array.isArray(reply)) return undefined;
      const fields = new Map<string, string>();
      for (let j = 0; j + 1 < reply.length; j += 2) fields.set(String(reply[j]), String(reply[j + 1]));
      return fields.get('id') === i ? Number(fields.get('rev')) : undefined;
    },
  },
];

interface Reader {
  lib: string;
  read(command: Command, key: string): Promise<unknown>;
  staleReads: number;
  wrongValues: number;
}

/** `trove.cachedCommand` (100 replies kept) against raw ioredis `call` of the same command, sequential awaited loops, four access patterns, GET and HGETALL. */
export const commands: Workload = {
  name: 'commands',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    if (!ctx.libs.includes('trove')) return troveNotSelected('commands', TITLE);
    const rows: Row[] = [];
    const list = scenarios(ctx.quick);
    const writer = new Redis(ctx.url);
    const raw = new Redis(ctx.url);
    let trove: Trove | undefined;
    try {
      trove = createTrove({ redis: ctx.url, prefix: 'bench-cmd', commandTimeout: 2000, stats: false, nearCache: { maxEntries: CAPACITY } });
      await waitNearLive(trove);
      const t = trove;
      const readers: Reader[] = [
        { lib: 'trove.cachedCommand', read: (c, key) => t.cachedCommand(c.name, [c.key(key)]), staleReads: 0, wrongValues: 0 },
        { lib: 'raw ioredis call', read: (c, key) => raw.call(c.name, c.key(key)), staleReads: 0, wrongValues: 0 },
      ];
      let rev = 0;
      const lastRev = new Map<string, number>();
      for (const command of COMMANDS) {
        for (let i = 0; i < KEYS; i++) await command.write(writer, String(i), 0);
        for (const s of list) {
          const subjects = readers.map((r) => {
            r.staleReads = 0;
            r.wrongValues = 0;
            return customSubject(r.lib, undefined, {
              async fetch(key) {
                if (key.startsWith(WRITE)) {
                  const hot = key.slice(WRITE.length);
                  const next = ++rev;
                  await command.write(writer, hot, next);
                  lastRev.set(command.key(hot), next);
                  return next;
                }
                const reply = await r.read(command, key);
                const got = command.rev(reply, key);
                if (got === undefined) r.wrongValues++;
                else if (got < (lastRev.get(command.key(key)) ?? 0)) r.staleReads++;
                return reply;
              },
              set: async () => {},
              close: async () => {},
            });
          });
          const before = t.stats().commands;
          const phase: ThroughputPhase = {
            key: s.key,
            concurrency: 1,
            ops: s.ops,
            warmupOps: Math.min(2_000, s.ops),
            keyAt: (i) => s.keyAt(i),
            missesOnly: false,
          };
          try {
            await measureThroughput(ctx, subjects, [phase]);
            const row = rowFrom(`${command.name} ${s.name}`, { cached: [subjects[0]!, s.key], raw: [subjects[1]!, s.key] });
            const after = t.stats().commands;
            if (before && after) {
              const d = (k: 'hits' | 'misses' | 'invalidations' | 'resets') => (after[k] - before[k]).toLocaleString('en-US');
              remark(
                row,
                `command replies (warm-up included): hits ${d('hits')}, misses ${d('misses')}, invalidations ${d('invalidations')}, resets ${d('resets')}`,
              );
            }
            for (const [i, r] of readers.entries()) {
              const traffic = subjects[i]!.row.remarks?.find((m) => m.startsWith('Redis commands per operation'));
              if (traffic) remark(row, `${r.lib}: ${traffic.replace(`${s.key} `, '')}`);
              if (r.wrongValues) remark(row, `${r.lib}: ${r.wrongValues} reads answered a missing or wrong value`);
              if (r.staleReads) {
                remark(
                  row,
                  `${r.lib}: ${r.staleReads} reads (warm-up included) answered the revision before the last completed write of that key: Redis's invalidation had not been processed yet`,
                );
              }
            }
            rows.push(row);
          } catch (err) {
            ctx.progress(`  ${command.name} ${s.name} failed: ${describeError(err)}`);
            rows.push({ lib: `${command.name} ${s.name}`, status: 'failed', message: describeError(err), figures: {} });
          }
        }
      }
    } catch (err) {
      ctx.progress(`  commands failed: ${describeError(err)}`);
      rows.push({ lib: 'commands', status: 'failed', message: describeError(err), figures: {} });
    } finally {
      await trove?.close();
      writer.disconnect();
      raw.disconnect();
    }
    return {
      name: 'commands',
      title: TITLE,
      summary: `${KEYS.toLocaleString('en-US')} application keys of each kind in Redis: strings of a ~300 B JSON record (GET) and hashes of 5 short fields (HGETALL). One sequential awaited loop of \`trove.cachedCommand(name, [key])\` (\`nearCache: { maxEntries: ${CAPACITY} }\`, as in \`near-seed\`) and one of raw ioredis \`redis.call(name, key)\`, interleaved slice by slice. (a) key 0 over and over. (b) keys 0…99 in order, over and over. (c) "eleven reads": for i = 0…999, read key i, then keys 0…9. (d) (c) where each step first writes hot key i mod 10 from another connection (SET or HSET), so the kept reply is dropped through Redis; ops/s counts the write.`,
      params: { keys: KEYS, set: SET, hot: HOT, scenarios: list.map((s) => ({ name: s.name, ops: s.ops })) },
      firstColumn: 'case',
      metrics: [
        { key: 'cached', label: 'cachedCommand', unit: 'ops/s', better: 'higher' },
        {
          key: 'raw',
          label: 'raw ioredis call',
          unit: 'ops/s',
          better: 'higher',
          rowRatio: { of: 'cached', over: 'raw', label: 'cached / raw (> 1: cachedCommand faster)' },
        },
      ],
      rows,
      notes: [
        `Configurations: createTrove({ redis, prefix, stats: false, nearCache: { maxEntries: ${CAPACITY} } }) · trove.cachedCommand('GET' | 'HGETALL', [key]); raw: new Redis(url) · redis.call('GET' | 'HGETALL', key); writer in (d): its own ioredis connection.`,
        'Every reply is checked: a missing or wrong record, or (in d) a revision older than the last completed write of that key, is counted and reported below.',
        "A stale read in (d) is a read of the key just written with no I/O in between: Redis sends the writer's reply before the invalidation (the propagation window of client-side caching, see the README's near cache); a read that waits for any reply (the cold read of key i) sees the change.",
      ],
    };
  },
};
