import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import type { RedisServer } from '../tools/redis-server.js';

/** Facts about the machine the figures were measured on. */
export interface MachineFacts {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  redis: string;
  platform: string;
  date: string;
  /** 1-minute load average when the run started: above the core count, other work shares the machine. */
  loadAtStart: number;
}

export async function machineFacts(server: RedisServer): Promise<MachineFacts> {
  const info = await server.info('server');
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    redis: `${info.redis_version ?? 'unknown'} (${info.multiplexing_api ?? '?'}, ${info.arch_bits ?? '?'}-bit)`,
    platform: `${process.platform} ${process.arch}`,
    date: new Date().toISOString(),
    loadAtStart: currentLoad(),
  };
}

export function currentLoad(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

export function formatFacts(m: MachineFacts): string {
  return [
    `cores: ${m.cores} · CPU: ${m.cpuModel} · RAM: ${m.memoryGiB} GiB · ${m.platform}`,
    `Node ${m.node} · Redis ${m.redis} · ${m.date} · load average (1 min) at start: ${m.loadAtStart}`,
  ].join('\n');
}
