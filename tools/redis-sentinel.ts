/**
 * A private Sentinel setup: a primary, replicas (`--replicaof`) and sentinels (`redis-server FILE
 * --sentinel`, each with its config file in a temp dir of its own), all on free ports. start()
 * returns once every sentinel sees the primary, its replicas and the other sentinels.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisServer } from './redis-server.js';
import { waitFor } from './wait-for.js';

/** Sentinel config dirs still on disk, removed even when a run ends without stop(). */
const liveDirs = new Set<string>();
process.on('exit', () => {
  for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
});

export interface RedisSentinelOptions {
  /** @defaultValue 1 */
  replicas?: number;
  /** @defaultValue 3 */
  sentinels?: number;
  /** The monitored primary's name. @defaultValue 'trove' */
  name?: string;
  /** Sentinels that must agree the primary is down. @defaultValue a majority */
  quorum?: number;
  /** How long the primary may not answer before a sentinel deems it down. @defaultValue 1000 */
  downAfterMs?: number;
  /** @defaultValue 5000 */
  failoverTimeoutMs?: number;
  /** How long start() and waits may take, in ms. @defaultValue 30000 */
  timeoutMs?: number;
}

export interface HostPort {
  host: string;
  port: number;
}

export class RedisSentinelSetup {
  /** The sentinel processes. */
  readonly sentinelServers: RedisServer[] = [];
  /** The sentinels' dirs, each holding its sentinel.conf (rewritten by the sentinel as it learns). */
  readonly dirs: string[] = [];

  private constructor(
    readonly name: string,
    /** The data nodes: the first primary, then the replicas. Roles change with failovers: ask primary(). */
    readonly servers: RedisServer[],
    private readonly timeoutMs: number,
  ) {}

  static async start(opts: RedisSentinelOptions = {}): Promise<RedisSentinelSetup> {
    const replicas = opts.replicas ?? 1;
    const sentinels = opts.sentinels ?? 3;
    const name = opts.name ?? 'trove';
    const quorum = opts.quorum ?? Math.floor(sentinels / 2) + 1;
    // A full sync starts at once instead of waiting 5 s for more replicas to join it.
    const dataArgs = ['--repl-diskless-sync-delay', '0'];
    const primary = await RedisServer.start({ args: dataArgs });
    const setup = new RedisSentinelSetup(name, [primary], opts.timeoutMs ?? 30_000);
    try {
      const started = await Promise.allSettled(Array.from({ length: replicas }, () => RedisServer.start({ args: dataArgs, replicaOf: primary.port })));
      for (const r of started) if (r.status === 'fulfilled') setup.servers.push(r.value);
      for (const r of started) if (r.status === 'rejected') throw r.reason;
      // Replicas first: a sentinel learns them from the primary's INFO, which it reads on connecting.
      await setup.waitFor('the replicas to sync', () => setup.replicasInSync(primary));
      const conf = [
        'sentinel resolve-hostnames no',
        `sentinel monitor ${name} 127.0.0.1 ${primary.port} ${quorum}`,
        `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 1_000}`,
        `sentinel failover-timeout ${name} ${opts.failoverTimeoutMs ?? 5_000}`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n');
      const sentinelStarts = Array.from({ length: sentinels }, () => {
        const dir = mkdtempSync(join(tmpdir(), 'trove-sentinel-'));
        setup.dirs.push(dir);
        liveDirs.add(dir);
        const file = join(dir, 'sentinel.conf');
        writeFileSync(file, conf);
        return RedisServer.start({ configFile: file, args: ['--sentinel'] });
      });
      const sentinelsStarted = await Promise.allSettled(sentinelStarts);
      for (const r of sentinelsStarted) if (r.status === 'fulfilled') setup.sentinelServers.push(r.value);
      for (const r of sentinelsStarted) if (r.status === 'rejected') throw r.reason;
      await setup.waitUntilHealthy();
      return setup;
    } catch (err) {
      await setup.stop();
      throw err;
    }
  }

  /** The sentinels' addresses, e.g. ioredis's `sentinels` option. */
  get sentinels(): HostPort[] {
    return this.sentinelServers.map((s) => ({ host: '127.0.0.1', port: s.port }));
  }

  /** The primary as a live sentinel names it (SENTINEL get-master-addr-by-name). */
  async primary(): Promise<HostPort> {
    const sentinel = this.sentinelServers.find((s) => s.running);
    if (!sentinel) throw new Error('no sentinel is running');
    return this.askPrimary(sentinel);
  }

  /** The data node on `port`. */
  server(port: number): RedisServer {
    const server = this.servers.find((s) => s.port === port);
    if (!server) throw new Error(`no data node on port ${port}`);
    return server;
  }

  /** SIGKILLs the current primary; returns its port (for waitForFailover). */
  async killPrimary(): Promise<number> {
    const { port } = await this.primary();
    await this.server(port).kill();
    return port;
  }

  /**
   * A graceful failover (SENTINEL FAILOVER): the old primary stays up and is made a replica later
   * (Sentinel waits about 8 s before reconfiguring it). Returns the new primary once waitForFailover does.
   */
  async failover(): Promise<HostPort> {
    const { port } = await this.primary();
    const sentinel = this.sentinelServers.find((s) => s.running)!;
    await sentinel.command('SENTINEL', 'FAILOVER', this.name);
    return this.waitForFailover(port);
  }

  /** Waits until every live sentinel names a primary other than `oldPort` and that node says role:master. */
  async waitForFailover(oldPort: number): Promise<HostPort> {
    let found: HostPort | undefined;
    await this.waitFor(`a failover away from ${oldPort}`, async () => {
      const named = await Promise.all(this.sentinelServers.filter((s) => s.running).map((s) => this.askPrimary(s)));
      const port = named[0]?.port;
      if (port === undefined || port === oldPort || named.some((n) => n.port !== port)) return false;
      const repl = await this.server(port).info('replication');
      if (repl.role !== 'master') return false;
      found = { host: '127.0.0.1', port };
      return true;
    });
    return found!;
  }

  /**
   * Waits until the live data nodes form one replication group (the primary every live sentinel
   * names says role:master, every other live node is its replica with the link up) and every live
   * sentinel sees the primary up, each live replica up and linked, and the other live sentinels.
   */
  async waitUntilHealthy(): Promise<void> {
    await this.waitFor('the sentinels to see the primary and its replicas', () => this.healthy());
  }

  /** Stops every process and removes the sentinels' config dirs. */
  async stop(): Promise<void> {
    await Promise.all([...this.sentinelServers, ...this.servers].map((s) => s.stop()));
    for (const d of this.dirs) {
      rmSync(d, { recursive: true, force: true });
      liveDirs.delete(d);
    }
  }

  private async askPrimary(sentinel: RedisServer): Promise<HostPort> {
    const reply = await sentinel.command('SENTINEL', 'get-master-addr-by-name', this.name);
    const [host, port] = reply.split('\n');
    if (!host || !port) throw new Error(`sentinel ${sentinel.port} knows no primary named ${this.name}`);
    return { host, port: Number(port) };
  }

  private async replicasInSync(primary: RedisServer): Promise<boolean> {
    const others = this.servers.filter((s) => s !== primary && s.running);
    const infos = await Promise.all(others.map((s) => s.info('replication')));
    if (infos.some((i) => i.role !== 'slave' || i.master_link_status !== 'up' || Number(i.master_port) !== primary.port)) return false;
    return (await primary.info('replication')).role === 'master';
  }

  private async healthy(): Promise<boolean> {
    const sentinels = this.sentinelServers.filter((s) => s.running);
    const { port } = await this.primary();
    const primary = this.server(port);
    if (!primary.running || !(await this.replicasInSync(primary))) return false;
    const replicaPorts = this.servers.filter((s) => s !== primary && s.running).map((s) => s.port);
    for (const s of sentinels) {
      const master = pairs((await s.command('SENTINEL', 'MASTER', this.name)).split('\n'));
      if (Number(master.port) !== port || master.flags !== 'master' || Number(master['num-other-sentinels']) < sentinels.length - 1) return false;
      const seen = records((await s.command('SENTINEL', 'REPLICAS', this.name)).split('\n'));
      for (const p of replicaPorts) {
        const r = seen.find((x) => Number(x.port) === p);
        if (r?.flags !== 'slave' || r['master-link-status'] !== 'ok' || Number(r['master-port']) !== port) return false;
      }
    }
    return true;
  }

  private waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
    return waitFor(what, check, this.timeoutMs);
  }
}

/** A flat `key, value, key, value…` reply as an object. */
function pairs(items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < items.length; i += 2) out[items[i]!] = items[i + 1]!;
  return out;
}

/** Several flat records in a row (the raw client joins nested arrays): each starts at its `name` field. */
function records(items: string[]): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (let i = 0; i + 1 < items.length; i += 2) {
    if (items[i] === 'name' || out.length === 0) out.push({});
    out[out.length - 1]![items[i]!] = items[i + 1]!;
  }
  return out;
}
