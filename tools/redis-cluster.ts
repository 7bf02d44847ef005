/**
 * A private Redis Cluster: redis-server nodes with `--cluster-enabled yes` on free ports, joined by
 * `redis-cli --cluster create`. Every operation that changes the topology (failover, restart, slot
 * move) returns once every live node reports the same settled view of it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisServer } from './redis-server.js';
import { waitFor } from './wait-for.js';

export const CLUSTER_SLOTS = 16_384;

/** Node dirs (nodes.conf) still on disk, removed even when a run ends without stop(). */
const liveDirs = new Set<string>();
process.on('exit', () => {
  for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
});

export type ClusterRole = 'master' | 'replica';

export interface ClusterNode {
  readonly port: number;
  readonly url: string;
  /** The node's cluster id (stable across restarts: nodes.conf is kept). */
  id: string;
  /** As of the last settled view. */
  role: ClusterRole;
  /** The id of the master a replica follows. */
  masterId: string | undefined;
  readonly server: RedisServer;
  /** Holds nodes.conf; survives restart() so the node rejoins with its identity. */
  readonly dir: string;
}

export interface RedisClusterOptions {
  /** @defaultValue 3 */
  masters?: number;
  /** @defaultValue 0 */
  replicasPerMaster?: number;
  /**
   * `cluster-node-timeout`: how long a node may be unreachable before it is flagged as failing
   * (and an automatic failover starts). Low keeps kill tests short; too low flags nodes of a busy
   * machine as failing. @defaultValue 2000
   */
  nodeTimeoutMs?: number;
  /** Extra `redis-server` arguments for every node. */
  args?: string[];
  /** How long start() and each topology change may take to settle, in ms. @defaultValue 30000 */
  timeoutMs?: number;
}

/** One line of CLUSTER NODES. */
interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string | undefined;
  /** Slot ranges such as `0-5460`, without the `[slot->-id]` migration markers. */
  slots: string[];
}

/** How long to wait before re-sending a manual failover that did not happen: Redis gives up on one after 5 s. */
const MANUAL_FAILOVER_RETRY_MS = 6_000;

export class RedisCluster {
  /** Slot ranges by node id, as of the last settled view. */
  private slotRanges = new Map<string, string[]>();

  private constructor(
    readonly nodes: ClusterNode[],
    private readonly timeoutMs: number,
  ) {}

  static async start(opts: RedisClusterOptions = {}): Promise<RedisCluster> {
    const masters = opts.masters ?? 3;
    const replicas = opts.replicasPerMaster ?? 0;
    if (masters < 3) throw new Error('redis-cli --cluster create needs at least 3 masters');
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const started = await Promise.allSettled(Array.from({ length: masters * (1 + replicas) }, () => startNode(opts)));
    const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const cluster = new RedisCluster(nodes, timeoutMs);
    try {
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const endpoints = nodes.map((n) => `127.0.0.1:${n.port}`);
      await redisCli(['--cluster', 'create', ...endpoints, '--cluster-replicas', String(replicas), '--cluster-yes'], timeoutMs);
      await cluster.waitUntilHealthy();
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** `redis://` URLs of every node, e.g. the startup nodes of an ioredis `Cluster`. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** Masters as of the last settled view, including killed ones. */
  masters(): ClusterNode[] {
    return this.nodes.filter((n) => n.role === 'master');
  }

  replicasOf(master: ClusterNode): ClusterNode[] {
    return this.nodes.filter((n) => n.role === 'replica' && n.masterId === master.id);
  }

  /** The node serving `slot` as of the last settled view. */
  ownerOf(slot: number): ClusterNode {
    const owner = this.nodes.find((n) => n.role === 'master' && this.slotsOf(n).some(([from, to]) => slot >= from && slot <= to));
    if (!owner) throw new Error(`no node serves slot ${slot}`);
    return owner;
  }

  /** The slot of `key` (CLUSTER KEYSLOT on a live node). */
  async keySlot(key: string): Promise<number> {
    return Number(await this.anyLive().server.command('CLUSTER', 'KEYSLOT', key));
  }

  /**
   * A manual failover: CLUSTER FAILOVER on `replica` (FORCE or TAKEOVER when its master is down),
   * then waits until every live node sees it as the master and its old master (if alive) as its replica.
   */
  async failover(replica: ClusterNode, mode?: 'FORCE' | 'TAKEOVER'): Promise<void> {
    if (replica.role !== 'replica' || !replica.server.running) throw new Error(`node ${replica.port} is not a live replica`);
    const old = this.nodes.find((n) => n.id === replica.masterId);
    const send = () => replica.server.command('CLUSTER', 'FAILOVER', ...(mode ? [mode] : []));
    await send();
    let sentAt = Date.now();
    await this.waitFor(`failover to ${replica.port}`, async () => {
      const settled = await this.settled();
      if (settled && replica.role === 'master') return !old?.server.running || (old.role === 'replica' && old.masterId === replica.id);
      // A manual failover that timed out is abandoned by Redis: ask again while the node is still a replica.
      if (Date.now() - sentAt > MANUAL_FAILOVER_RETRY_MS && (await ownRole(replica)) === 'replica') {
        sentAt = Date.now();
        await send().catch(() => {});
      }
      return false;
    });
  }

  /** SIGKILL; nothing is waited for (see waitUntilHealthy for the cluster's reaction). */
  async kill(node: ClusterNode): Promise<void> {
    await node.server.kill();
  }

  /** Starts a killed node again on its port with its nodes.conf (its data is gone) and waits until the cluster has settled. */
  async restart(node: ClusterNode): Promise<void> {
    await node.server.restart();
    await this.waitUntilHealthy();
  }

  /**
   * Reshards one slot with its keys from one master to another: IMPORTING on the target,
   * MIGRATING on the source, MIGRATE of the keys in batches, then SETSLOT NODE on every live
   * master (the target first, so it owns the slot before the source stops redirecting with ASK).
   */
  async moveSlot(slot: number, from: ClusterNode, to: ClusterNode): Promise<void> {
    if (from.role !== 'master' || to.role !== 'master' || from === to) throw new Error('moveSlot moves a slot between two different masters');
    await to.server.command('CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id);
    await from.server.command('CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id);
    // ioredis rather than the raw client: keys are binary-safe both ways.
    const source = new Redis({ port: from.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await source.connect();
      for (;;) {
        const keys = (await source.callBuffer('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as Buffer[];
        if (keys.length === 0) break;
        await source.callBuffer('MIGRATE', '127.0.0.1', to.port, '', 0, 10_000, 'KEYS', ...keys);
      }
    } finally {
      source.disconnect();
    }
    const others = this.nodes.filter((n) => n.role === 'master' && n !== to && n !== from && n.server.running);
    for (const n of [to, from, ...others]) await n.server.command('CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
    await this.waitFor(`slot ${slot} on ${to.port}`, async () => (await this.settled()) && this.ownerOf(slot) === to);
  }

  /**
   * Waits until the cluster has settled: every live node says cluster_state:ok with all slots
   * served, every live node reports the same roles, masters and slot owners, no live node is
   * flagged as failing, every slot is served by a live master, and every live replica of a live
   * master has its replication link up. Updates `role` and `masterId` of every node.
   */
  async waitUntilHealthy(): Promise<void> {
    // What is still unsettled is thrown, so that a timeout names it.
    await this.waitFor('the cluster to settle', async () => {
      const why = await this.unsettled();
      if (why !== undefined) throw new Error(why);
      return true;
    });
  }

  /** Stops every node and removes their dirs, nodes.conf included. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.server.stop()));
    for (const n of this.nodes) {
      rmSync(n.dir, { recursive: true, force: true });
      liveDirs.delete(n.dir);
    }
  }

  private anyLive(): ClusterNode {
    const node = this.nodes.find((n) => n.server.running);
    if (!node) throw new Error('no cluster node is running');
    return node;
  }

  private slotsOf(node: ClusterNode): [number, number][] {
    return (this.slotRanges.get(node.id) ?? []).map((r) => {
      const [a, b] = r.split('-');
      return [Number(a), Number(b ?? a)];
    });
  }

  private waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
    return waitFor(what, check, this.timeoutMs);
  }

  /** One look at every live node; true (and the node fields updated) when the cluster has settled. */
  private async settled(): Promise<boolean> {
    return (await this.unsettled()) === undefined;
  }

  /**
   * One look at every live node: undefined (and the node fields updated) when the cluster has
   * settled, else what is not settled yet, named for a timeout's message.
   */
  private async unsettled(): Promise<string | undefined> {
    const live = this.nodes.filter((n) => n.server.running);
    const byPort = new Map(this.nodes.map((n) => [n.port, n]));
    const views = await Promise.all(
      live.map(async (n) => {
        const info = parseInfo(await n.server.command('CLUSTER', 'INFO'));
        const ok = info.cluster_state === 'ok' && Number(info.cluster_slots_ok) === CLUSTER_SLOTS;
        return { ok, lines: parseNodes(await n.server.command('CLUSTER', 'NODES')) };
      }),
    );
    const notOk = views.findIndex((v) => !v.ok);
    if (notOk >= 0) return `node ${live[notOk]!.port} is not cluster_state:ok with every slot served`;
    const liveIds = new Set<string>();
    for (const v of views) {
      // Every node must know every other one, by a settled address (not in handshake).
      if (v.lines.length !== this.nodes.length || v.lines.some((l) => !byPort.has(l.port) || l.flags.includes('handshake')))
        return `a node does not know every other one yet (${v.lines.length} of ${this.nodes.length}, or in handshake)`;
    }
    for (const l of views[0]!.lines) if (byPort.get(l.port)!.server.running) liveIds.add(l.id);
    const signature = (lines: NodeLine[]) =>
      lines
        .map((l) => `${l.id} ${l.port} ${role(l)} ${l.masterId ?? '-'} ${l.slots.join(',')}`)
        .sort()
        .join('\n');
    const agreed = signature(views[0]!.lines);
    if (views.some((v) => signature(v.lines) !== agreed)) return 'the live nodes do not agree on roles, masters and slot owners';
    for (const v of views) {
      for (const l of v.lines)
        if (liveIds.has(l.id) && l.flags.some((f) => f === 'fail' || f === 'fail?' || f === 'noaddr'))
          return `live node ${l.port} is flagged ${l.flags.join(',')}`;
    }
    const lines = views[0]!.lines;
    const orphan = lines.find((l) => l.slots.length > 0 && !liveIds.has(l.id));
    if (orphan !== undefined) return `slots ${orphan.slots.join(',')} are still served by the dead node ${orphan.port}`;
    for (const l of lines) {
      const node = byPort.get(l.port)!;
      node.id = l.id;
      node.role = role(l);
      node.masterId = l.masterId;
    }
    this.slotRanges = new Map(lines.map((l) => [l.id, l.slots]));
    for (const n of live) {
      if (n.role !== 'replica' || !n.masterId || !liveIds.has(n.masterId)) continue;
      const repl = await n.server.info('replication');
      if (repl.master_link_status !== 'up' || Number(repl.master_port) !== this.nodes.find((m) => m.id === n.masterId)?.port)
        return `replica ${n.port}'s link to its master is ${repl.master_link_status ?? 'unknown'} (port ${repl.master_port ?? '?'})`;
    }
    return undefined;
  }
}

async function startNode(opts: RedisClusterOptions): Promise<ClusterNode> {
  const dir = mkdtempSync(join(tmpdir(), 'trove-cluster-'));
  liveDirs.add(dir);
  try {
    const server = await RedisServer.start({
      pickPort: freeClusterPort,
      args: [
        '--cluster-enabled',
        'yes',
        // An absolute path: the node's --dir is replaced on restart, its identity must not be.
        '--cluster-config-file',
        join(dir, 'nodes.conf'),
        '--cluster-node-timeout',
        String(opts.nodeTimeoutMs ?? 2_000),
        // Any replica may take over however long its link was down, and none wanders to another master.
        '--cluster-replica-validity-factor',
        '0',
        '--cluster-allow-replica-migration',
        'no',
        // A full sync starts at once instead of waiting 5 s for more replicas to join it.
        '--repl-diskless-sync-delay',
        '0',
        ...(opts.args ?? []),
      ],
    });
    const id = await server.command('CLUSTER', 'MYID');
    return { port: server.port, url: server.url, id, role: 'master', masterId: undefined, server, dir };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    throw err;
  }
}

/**
 * A port free along with its cluster bus port (port + 10000). Both are taken below 32768, under
 * Linux's usual ephemeral range, so an outgoing connection rarely grabs one before the node binds it.
 */
export async function freeClusterPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 15_000 + Math.floor(Math.random() * 7_000);
    if ((await canListen(port)) && (await canListen(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a cluster node');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function redisCli(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.slice(0, 2).join(' ')} failed: ${err.message}\n${stdout.slice(-1_000)}${stderr.slice(-1_000)}`));
      else resolve(stdout);
    });
  });
}

async function ownRole(node: ClusterNode): Promise<ClusterRole | undefined> {
  const mine = parseNodes(await node.server.command('CLUSTER', 'NODES')).find((l) => l.flags.includes('myself'));
  return mine && role(mine);
}

function role(line: NodeLine): ClusterRole {
  return line.flags.includes('slave') ? 'replica' : 'master';
}

function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** CLUSTER NODES: `<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...` */
function parseNodes(text: string): NodeLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const parts = l.trim().split(' ');
      const addr = parts[1]!.split('@')[0]!;
      return {
        id: parts[0]!,
        port: Number(addr.slice(addr.lastIndexOf(':') + 1)),
        flags: parts[2]!.split(','),
        masterId: parts[3] === '-' ? undefined : parts[3],
        slots: parts.slice(8).filter((s) => !s.startsWith('[')),
      };
    });
}
