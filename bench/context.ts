import type { RedisServer } from '../test/helpers/redis-server.js';
import type { LibName } from './peers/types.js';
import type { WorkloadResult } from './report.js';

export const WORKLOAD_NAMES = ['l2-hit', 'l1-hit', 'miss', 'stampede', 'memory', 'invalidation', 'keys', 'regions', 'near-seed'] as const;
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
}

export interface Workload {
  name: WorkloadName;
  run(ctx: BenchContext): Promise<WorkloadResult>;
}
