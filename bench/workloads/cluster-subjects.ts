/**
 * The configurations the cluster workload measures, shared by the parent (which prints them) and
 * its child processes (which build them): each one's description and construction come from the
 * same options.
 */
import { Cluster } from 'ioredis';
import { createTrove, type NearCacheOptions, type Region, type Trove, type TroveOptions } from '../../src/index.js';
import { sleep } from '../driver.js';
import { type CacheAdapter, PREFIX, showOptions } from '../peers/types.js';
import { L1_ENTRIES, TTL_MS } from './common.js';

/** Where a configuration's Redis is: the cluster (its masters' ports) or the bench's one server. */
export type Target = { kind: 'cluster'; ports: number[] } | { kind: 'server'; port: number };

export type SubjectName = 'trove-l2' | 'ioredis' | 'trove-near-cluster' | 'trove-near-server';

interface SubjectSpec {
  /** Its row's label. */
  label: string;
  /** Which Redis it reads. */
  on: Target['kind'];
  /** Trove's near cache (trove rows), or undefined for raw ioredis. */
  near?: NearCacheOptions | false;
}

export const SUBJECTS: Record<SubjectName, SubjectSpec> = {
  'trove-l2': { label: 'trove', on: 'cluster', near: false },
  ioredis: { label: 'ioredis', on: 'cluster' },
  'trove-near-cluster': { label: 'trove, near cache, cluster', on: 'cluster', near: { maxEntries: L1_ENTRIES } },
  'trove-near-server': { label: 'trove, near cache, one server', on: 'server', near: { maxEntries: L1_ENTRIES } },
};

/** What a process of cluster-child.ts measures (its one argv, as JSON). */
export interface ClusterChildArgs {
  subject: SubjectName;
  rounds: number;
  quick: boolean;
  clusterPorts: number[];
  serverPort: number;
  /** `l2`: Redis hits at concurrency 64; `near`: near hits at concurrency 64 and sequential. */
  table: 'l2' | 'near';
}

export const KEY_COUNT = 10_000;
export const CONCURRENCY = 64;
export const roundMsOf = (quick: boolean) => (quick ? 300 : 1_000);

export const urlOf = (port: number) => `redis://127.0.0.1:${port}`;

/** The `redis` option of a trove on `target`. */
export function troveRedis(target: Target): TroveOptions['redis'] {
  return target.kind === 'cluster' ? { cluster: target.ports.map(urlOf) } : urlOf(target.port);
}

/** The trove options of a configuration (`nearCache` as given). */
export function troveOptions(target: Target, near: NearCacheOptions | false): TroveOptions {
  return { redis: troveRedis(target), prefix: PREFIX.trove, commandTimeout: 2000, nearCache: near };
}

/** ioredis's options for the baseline: its auto-pipelining groups a tick's commands into one write per node. */
export const IOREDIS_CLUSTER_OPTIONS = { enableAutoPipelining: true } as const;

export function describeSubject(name: SubjectName): string {
  const spec = SUBJECTS[name];
  const redis = spec.on === 'cluster' ? '{ cluster: [3 master URLs] }' : 'url';
  if (spec.near === undefined) {
    return `new Cluster([3 master URLs], ${showOptions(IOREDIS_CLUSTER_OPTIONS)}) · GET + JSON.parse, miss: SET PX JSON.stringify`;
  }
  const near = spec.near === false ? 'false' : showOptions(spec.near);
  const own = spec.on === 'cluster' ? ' (on the Cluster Trove creates, auto-pipelining on)' : '';
  return `createTrove({ redis: ${redis}, prefix: '${PREFIX.trove}', commandTimeout: 2000, nearCache: ${near} }).region('users', { ttl: ${TTL_MS} }) · getOrSet · json codec${own}`;
}

/**
 * Until the store answers: a Cluster Trove creates fails commands while it connects (no offline
 * queue), and a store that cannot be reached would otherwise be measured as the uncached path.
 */
export async function waitTroveReachable(t: Trove, region: Region, timeoutMs = 10_000): Promise<void> {
  await t.ready();
  // A key of its own: several processes may be starting at once.
  const probe = `__probe__${process.pid}_${Math.random().toString(36).slice(2)}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await region.set(probe, 1);
    if ((await region.get(probe)) === 1) break;
    if (Date.now() > deadline) throw new Error('trove: the store never answered a probe write/read');
    await sleep(50);
  }
  await region.delete(probe);
}

/** What the near cache of a trove was doing: absent (no near cache on this store), live, or present but not live. */
export type NearState = 'absent' | 'live' | 'not live';

export function nearState(t: Trove): NearState {
  const near = t.stats().near;
  return near === undefined ? 'absent' : near.live ? 'live' : 'not live';
}

/** Waits (bounded) for a present near cache to go live; an absent one stays absent. */
export async function settleNear(t: Trove, timeoutMs = 5_000): Promise<NearState> {
  const deadline = Date.now() + timeoutMs;
  while (nearState(t) === 'not live' && Date.now() < deadline) await sleep(10);
  return nearState(t);
}

export interface OpenedSubject {
  adapter: CacheAdapter;
  /** The trove behind a Trove configuration. */
  trove?: Trove;
}

/** Builds configuration `name` on `target`, reading through `load` on a miss. */
export async function openSubject(name: SubjectName, target: Target, load: (key: string) => unknown): Promise<OpenedSubject> {
  const spec = SUBJECTS[name];
  if (spec.on !== target.kind) throw new Error(`${name} runs on a ${spec.on}, not a ${target.kind}`);
  if (spec.near === undefined) {
    if (target.kind !== 'cluster') throw new Error('the ioredis baseline runs on the cluster');
    const client = new Cluster(target.ports.map(urlOf), IOREDIS_CLUSTER_OPTIONS);
    await client.ping();
    const prefix = `${PREFIX.ioredis}:`;
    return {
      adapter: {
        async fetch(key) {
          const text = await client.get(prefix + key);
          if (text !== null) return JSON.parse(text);
          const value = await load(key);
          await client.set(prefix + key, JSON.stringify(value), 'PX', TTL_MS);
          return value;
        },
        async set(key, value) {
          await client.set(prefix + key, JSON.stringify(value), 'PX', TTL_MS);
        },
        async close() {
          await client.quit();
        },
      },
    };
  }
  const t = createTrove(troveOptions(target, spec.near));
  const region = t.region('users', { ttl: TTL_MS });
  try {
    await waitTroveReachable(t, region);
  } catch (err) {
    await t.close();
    throw err;
  }
  return {
    trove: t,
    adapter: {
      fetch: (key) => region.getOrSet(key, () => load(key)),
      set: (key, value) => region.set(key, value),
      close: () => t.close(),
    },
  };
}
