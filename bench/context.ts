import type { RedisServer } from '../tools/redis-server.js';
import type { LibName, Variant } from './peers/types.js';
import type { WorkloadResult } from './report.js';

export const WORKLOAD_NAMES = [
  'l2-hit',
  'l1-hit',
  'miss',
  'stampede',
  'memory',
  'invalidation',
  'keys',
  'regions',
  'near-seed',
  'commands',
  'tracking',
  'tracking-churn',
  'set-many',
  'cluster',
  'web',
] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

export interface BenchContext {
  server: RedisServer;
  url: string;
  host: string;
  port: number;
  rounds: number;
  quick: boolean;
  libs: LibName[];
  /** Progress on stderr (the tables go to stdout). */
  progress(message: string): void;
  /**
   * Runs a measured step (a warm-up or a timed slice). When each library runs in a process of
   * its own, the step waits for this process's turn, so no two libraries are measured at once.
   */
  turn<T>(step: () => Promise<T>): Promise<T>;
  /**
   * The reference rows (a workload's `floors`) this process measures: `true`, every one (a run in
   * one process); `false`, none; a floor's label, that floor alone and no library (the floor's
   * own process in a run with a process per library).
   */
  floor: boolean | string;
  /**
   * Which configurations of `libs` to run: undefined, each library's usual one plus the workload's
   * variants (one process for all); in a child process of turns.ts, `'default'` (the usual one
   * only) or the name of the one variant it runs.
   */
  variant?: string;
  /**
   * Commands the Redis under test has processed, when that is not `server` alone (a cluster: the
   * sum over its masters). The difference of two readings includes each node's first INFO, as
   * with `server` (one per node).
   */
  commandsProcessed?: { read(): Promise<number>; nodes: number };
}

export interface Workload {
  name: WorkloadName;
  /**
   * Each library is measured in a child process of its own (see turns.ts), unless the run asks
   * for one shared process.
   */
  isolated?: boolean;
  /** Further configurations of some libraries, measured as rows of their own (see `Variant`). */
  variants?: readonly Variant[];
  /** Labels of the reference rows (e.g. a bare Map) the workload measures; isolated, each gets a process of its own. */
  floors?: readonly string[];
  run(ctx: BenchContext): Promise<WorkloadResult>;
  /**
   * Adds what compares rows (e.g. a target against the faster of two baseline rows) to the result,
   * once it holds every row: after the per-library processes are merged, in the parent only.
   */
  conclude?(result: WorkloadResult): void;
}
