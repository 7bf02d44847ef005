/**
 * The soak's parent: starts a private redis-server and the child processes, writes the `feed`
 * region from outside with a plain ioredis client while they run, then stops them, checks that
 * every connection they opened is gone, and judges the run.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createTrove } from '../../src/index.js';
import { prng } from '../prng.js';
import { RedisServer, sleep } from '../redis-server.js';
import { heapTrendKBPerMin, zipf } from './math.js';
import { type ChildSummary, type FeedValue, type FromChild, feedKey, REGIONS, type Sample, type SoakConfig, type ToChild } from './protocol.js';

/**
 * Heap growth accepted over the second half of a long run, per process, in KB per minute of
 * `heapUsed` after a full GC. The near cache is bounded (10,000 entries) and full once warm, so a
 * healthy process is nearly flat: two 10-minute runs measured 16–28 KB/min. A leak of 100 bytes
 * per new key (about 140 per second per process here) would show as 820 KB/min, one of 100 bytes
 * per operation as 11,700 KB/min.
 */
export const HEAP_TREND_LIMIT_KB_PER_MIN = 256;

/**
 * A swing of the heap this large within the second half is not growth: the mix of entries in the
 * near cache shifts with every invalidation, moving the heap by a few hundred KB (a 30 s run
 * measured second-half slopes of -1,080 KB/min). The slope it can fake is inversely proportional
 * to the half's length, so short runs get a higher limit; from 4 minutes on, the fixed one applies.
 */
export const HEAP_SWING_KB = 512;

/** The heap trend limit of a measured phase of `durationMs`, in KB/min. */
export function heapTrendLimit(durationMs: number): number {
  return Math.max(HEAP_TREND_LIMIT_KB_PER_MIN, HEAP_SWING_KB / (durationMs / 2 / 60_000));
}

export const DEFAULT_CONFIG: Omit<SoakConfig, 'durationMs'> = {
  warmupMs: 20_000,
  processes: 4,
  itemKeys: 10_000,
  feedKeys: 1_000,
  opsPerSecond: 2_000,
  concurrency: 16,
  writesPerSecond: 200,
  regionInvalidateEveryMs: 8_000,
  tagInvalidateEveryMs: 1_500,
  tags: 32,
  seed: 1,
  prefix: 'soak',
};

export interface SoakOptions extends Partial<SoakConfig> {
  durationMs: number;
  /** Progress lines (start-up, every `progressEveryMs`, shutdown). */
  log?: (line: string) => void;
  progressEveryMs?: number;
}

export interface ProcessResult {
  index: number;
  pid: number | undefined;
  samples: Sample[];
  /** What the child reported after closing its trove; undefined when it never got there. */
  summary: ChildSummary | undefined;
  /** Whether the child exited by itself with code 0 once told to (a live handle would keep it running). */
  exitedOnItsOwn: boolean;
  exit: string;
  heapStart: number;
  heapEnd: number;
  heapTrendKBPerMin: number;
  opsPerSecond: number;
  cpuPercent: number;
  /** Failures of this process (start-up, crash, stderr tail). */
  problems: string[];
}

export interface SoakResult {
  config: SoakConfig;
  startedAt: string;
  /** Length of the measured phase, as the parent measured it. */
  elapsedMs: number;
  processes: ProcessResult[];
  connections: { baseline: number; duringRun: number; afterClose: number };
  writer: { sets: number; dels: number; failed: number };
  heapTrendLimitKBPerMin: number;
  /** Why the run failed; empty when it passed. */
  failures: string[];
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const READY_MS = 180_000;
/** Longest wait for the warm-up, beyond its own length (a loaded machine delays the timers). */
const WARM_SLACK_MS = 120_000;
const CLOSE_MS = 60_000;
const EXIT_MS = 15_000;
const CONNECTIONS_MS = 10_000;
/** One write in ten is a DEL. */
const DEL_RATE = 0.1;

interface Waiter {
  type: FromChild['type'];
  resolve(msg: FromChild): void;
  reject(err: Error): void;
}

class Child {
  readonly proc: ChildProcess;
  readonly samples: Sample[] = [];
  summary: ChildSummary | undefined;
  readonly problems: string[] = [];
  private stderr = '';
  private readonly waiters = new Set<Waiter>();
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(readonly index: number) {
    this.proc = fork(CHILD, [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx', '--expose-gc'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.proc.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4_000);
    });
    this.proc.on('message', (msg: FromChild) => {
      if (msg.type === 'sample') this.samples.push(msg.sample);
      if (msg.type === 'failed') {
        const err = new Error(`process ${index + 1} failed: ${msg.message}`);
        this.problems.push(err.message);
        for (const w of this.waiters) w.reject(err);
      }
      for (const w of this.waiters) if (w.type === msg.type) w.resolve(msg);
    });
    // A channel that closes under a send is reported by the exit, not as an unhandled error.
    this.proc.on('error', () => {});
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        for (const w of this.waiters) w.reject(new Error(`process ${index + 1} exited (${signal ?? code}) before ${w.type}: ${this.stderrTail()}`));
        resolve({ code, signal });
      }),
    );
  }

  send(msg: ToChild): void {
    if (this.proc.connected) this.proc.send(msg);
  }

  /** The next message of that type; rejects when the child fails or exits first, or after `ms`. */
  next<T extends FromChild['type']>(type: T, ms: number): Promise<Extract<FromChild, { type: T }>> {
    return new Promise((resolve, reject) => {
      if (this.exitInfo) {
        reject(new Error(`process ${this.index + 1} exited before ${type}: ${this.stderrTail()}`));
        return;
      }
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        fn();
      };
      const waiter: Waiter = {
        type,
        resolve: (msg) => settle(() => resolve(msg as Extract<FromChild, { type: T }>)),
        reject: (err) => settle(() => reject(err)),
      };
      const timer = setTimeout(() => waiter.reject(new Error(`process ${this.index + 1}: no ${type} within ${ms / 1000} s`)), ms);
      this.waiters.add(waiter);
    });
  }

  /** Waits for the exit; after `ms` kills the process and says so. */
  async exit(ms: number): Promise<{ onItsOwn: boolean; description: string }> {
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    const { code, signal } = await this.exited;
    clearTimeout(timer);
    if (signal === 'SIGKILL') return { onItsOwn: false, description: `still running ${ms / 1000} s after close (killed)` };
    return { onItsOwn: code === 0, description: signal ?? `code ${code}` };
  }

  kill(): void {
    if (!this.exitInfo) this.proc.kill('SIGKILL');
  }

  stderrTail(): string {
    return this.stderr.trim().slice(-1_500);
  }
}

async function connectedClients(server: RedisServer): Promise<number> {
  return Number((await server.info('clients')).connected_clients);
}

/** Polls until `check` holds or `ms` passed; returns the last value seen. */
async function pollUntil<T>(read: () => Promise<T>, check: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = await read();
    if (check(v) || performance.now() > deadline) return v;
    await sleep(50);
  }
}

/**
 * The outside writer: SETs (with a growing `seq`) and DELs of feed keys, on hot keys most. After
 * each batch is acknowledged it sends a PING on the same connection and waits for the reply before
 * telling the children: Redis queues a write's invalidations for the tracking processes in the
 * event-loop turn that executes it, so by the time the PING (read in a later turn) is answered they
 * have been sent. They travel on other connections, though, and may still arrive after the
 * children hear from the parent: hence the children's ACK_WINDOW_MS.
 */
class FeedWriter {
  seq = 0;
  sets = 0;
  dels = 0;
  failed = 0;
  private readonly pick: () => number;

  constructor(
    private readonly client: Redis,
    private readonly redisKeys: readonly string[],
    private readonly random: () => number,
    private readonly broadcast: (msg: ToChild) => void,
  ) {
    this.pick = zipf(redisKeys.length, 1, random);
  }

  private value(i: number, seq: number): string {
    return JSON.stringify({ k: feedKey(i), seq, pad: 'w'.repeat(100) } satisfies FeedValue);
  }

  /** Writes every key once and returns the writes, for the caller to announce once the children listen. */
  async fill(): Promise<{ keys: number[]; seqs: number[] }> {
    const pipe = this.client.pipeline();
    const keys: number[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < this.redisKeys.length; i++) {
      const seq = ++this.seq;
      pipe.set(this.redisKeys[i]!, this.value(i, seq));
      keys.push(i);
      seqs.push(seq);
    }
    const res = await pipe.exec();
    if (!res || res.some(([err]) => err)) throw new Error('the initial feed write failed');
    await this.client.ping();
    this.sets += keys.length;
    return { keys, seqs };
  }

  async run(perSecond: number, stop: () => boolean): Promise<void> {
    const t0 = performance.now();
    let done = 0;
    while (!stop()) {
      const due = Math.min(50, Math.floor((perSecond * (performance.now() - t0)) / 1000) - done);
      if (due <= 0) {
        await sleep(10);
        continue;
      }
      done += due;
      const pipe = this.client.pipeline();
      const keys: number[] = [];
      const seqs: number[] = [];
      const deletes: boolean[] = [];
      for (let j = 0; j < due; j++) {
        const i = this.pick();
        const seq = ++this.seq;
        const del = this.random() < DEL_RATE;
        if (del) pipe.del(this.redisKeys[i]!);
        else pipe.set(this.redisKeys[i]!, this.value(i, seq));
        keys.push(i);
        seqs.push(seq);
        deletes.push(del);
      }
      try {
        const res = (await pipe.exec()) ?? [];
        const ackedKeys: number[] = [];
        const ackedSeqs: number[] = [];
        res.forEach(([err], j) => {
          if (err) {
            this.failed++;
            return;
          }
          ackedKeys.push(keys[j]!);
          ackedSeqs.push(seqs[j]!);
          if (deletes[j]) this.dels++;
          else this.sets++;
        });
        await this.client.ping();
        this.broadcast({ type: 'acked', keys: ackedKeys, seqs: ackedSeqs });
      } catch {
        // Not acknowledged: nothing may be required of the readers.
        this.failed += keys.length;
      }
    }
  }
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const { log = () => {}, progressEveryMs = 30_000, ...given } = opts;
  const config: SoakConfig = { ...DEFAULT_CONFIG, ...given };
  const startedAt = new Date().toISOString();
  const server = await RedisServer.start();
  const children: Child[] = [];
  const failures: string[] = [];
  let writerClient: Redis | undefined;
  let keyTrove: ReturnType<typeof createTrove> | undefined;
  try {
    const baseline = await connectedClients(server);
    log(`redis-server on port ${server.port}, ${baseline} connected client(s) before start`);

    // The feed's Redis keys, from a trove of its own (no near cache), once its generations are read.
    keyTrove = createTrove({ redis: server.url, prefix: config.prefix, nearCache: false, regions: REGIONS });
    const feed = keyTrove.region<FeedValue>('feed');
    await keyTrove.ready();
    await feed.get(feedKey(0));
    const redisKeys = Array.from({ length: config.feedKeys }, (_, i) => feed.keyOf(feedKey(i)));
    writerClient = new Redis(server.url, { lazyConnect: true });
    await writerClient.connect();
    const writer = new FeedWriter(writerClient, redisKeys, prng(config.seed), (msg) => {
      for (const c of children) c.send(msg);
    });
    const filled = await writer.fill();
    const probe = await feed.get(feedKey(0));
    if (probe?.seq !== filled.seqs[0]) throw new Error(`the feed key from keyOf (${redisKeys[0]}) is not where the region reads`);

    log(`starting ${config.processes} processes (warm-up: every items and feed key read once)`);
    for (let i = 0; i < config.processes; i++) children.push(new Child(i));
    const url = server.url;
    await Promise.all(
      children.map((c) => {
        const ready = c.next('ready', READY_MS);
        c.send({ type: 'init', index: c.index, url, config });
        return ready;
      }),
    );
    for (const c of children) c.send({ type: 'acked', ...filled });

    log(`warm-up: ${config.warmupMs / 1000} s of load and its operations, then the measured phase: ${config.durationMs / 1000} s`);
    for (const c of children) c.send({ type: 'start' });
    let stopAt = Number.POSITIVE_INFINITY;
    const writing = writer.run(config.writesPerSecond, () => performance.now() >= stopAt);
    try {
      await Promise.all(children.map((c) => c.next('warm', config.warmupMs + WARM_SLACK_MS)));
    } catch (err) {
      stopAt = 0;
      await writing;
      throw err;
    }
    const t0 = performance.now();
    stopAt = t0 + config.durationMs;
    let duringRun = 0;
    const progress = setInterval(() => {
      void connectedClients(server).then((n) => {
        duringRun = Math.max(duringRun, n);
      });
      log(progressLine(children, performance.now() - t0, config.durationMs));
    }, progressEveryMs);
    try {
      await writing;
      duringRun = Math.max(duringRun, await connectedClients(server));
    } finally {
      clearInterval(progress);
    }
    const elapsedMs = performance.now() - t0;

    log('stopping: each process closes its trove');
    await Promise.all(
      children.map(async (c) => {
        const closed = c.next('closed', CLOSE_MS);
        c.send({ type: 'stop' });
        try {
          c.summary = (await closed).summary;
        } catch (err) {
          c.problems.push(err instanceof Error ? err.message : String(err));
        }
      }),
    );
    if (feed.keyOf(feedKey(0)) !== redisKeys[0]) failures.push('the feed region changed keys during the run: its reads were not checked against the writes');
    await writerClient.quit();
    writerClient = undefined;
    await keyTrove.close();
    keyTrove = undefined;
    const afterClose = await pollUntil(
      () => connectedClients(server),
      (n) => n <= baseline,
      CONNECTIONS_MS,
    );

    const exits = await Promise.all(
      children.map((c) => {
        c.send({ type: 'exit' });
        return c.exit(EXIT_MS);
      }),
    );
    const processes = children.map((c, i) => processResult(c, exits[i]!));
    const result: SoakResult = {
      config,
      startedAt,
      elapsedMs,
      processes,
      connections: { baseline, duringRun, afterClose },
      writer: { sets: writer.sets, dels: writer.dels, failed: writer.failed },
      heapTrendLimitKBPerMin: heapTrendLimit(config.durationMs),
      failures,
    };
    failures.push(...judge(result));
    return result;
  } finally {
    for (const c of children) c.kill();
    await writerClient?.quit().catch(() => {});
    await keyTrove?.close();
    await server.stop();
  }
}

function processResult(c: Child, exit: { onItsOwn: boolean; description: string }): ProcessResult {
  const s = c.samples;
  const last = s[s.length - 1];
  const seconds = last ? last.t / 1000 : 0;
  const problems = [...c.problems];
  if (!exit.onItsOwn) problems.push(`process ${c.index + 1} did not exit on its own after close (${exit.description})`);
  if (problems.length > 0 && c.stderrTail()) problems.push(`process ${c.index + 1} stderr: ${c.stderrTail()}`);
  return {
    index: c.index,
    pid: c.proc.pid,
    samples: s,
    summary: c.summary,
    exitedOnItsOwn: exit.onItsOwn,
    exit: exit.description,
    heapStart: s[0]?.heapUsed ?? 0,
    heapEnd: last?.heapUsed ?? 0,
    heapTrendKBPerMin: heapTrendKBPerMin(s),
    opsPerSecond: seconds > 0 ? (c.summary?.ops ?? last!.ops) / seconds : 0,
    cpuPercent: seconds > 0 ? (last!.cpuMs / (seconds * 1000)) * 100 : 0,
    problems,
  };
}

export function staleTotal(summary: ChildSummary | undefined): number {
  if (!summary) return 0;
  const s = summary.stale;
  return s.acked + s.monotonic + s.region + s.tag + s.wrong;
}

/** Every reason the run fails; empty when it passes. */
export function judge(r: SoakResult): string[] {
  const out: string[] = [];
  const stale = r.processes.reduce((n, p) => n + staleTotal(p.summary), 0);
  if (stale > 0) out.push(`${stale} stale read(s)`);
  if (r.connections.afterClose !== r.connections.baseline) {
    out.push(`connected_clients is ${r.connections.afterClose} after every close, ${r.connections.baseline} before start: leaked connection(s)`);
  }
  for (const p of r.processes) {
    out.push(...p.problems);
    const s = p.summary;
    if (!s) {
      out.push(`process ${p.index + 1} did not finish`);
      continue;
    }
    if (s.ops === 0) out.push(`process ${p.index + 1} did no operation`);
    if (s.resourcesAfter.length > s.resourcesBefore.length) {
      out.push(
        `process ${p.index + 1}: ${s.resourcesAfter.length} active resources after close, ${s.resourcesBefore.length} before (${s.resourcesAfter.join(', ')})`,
      );
    }
    if (p.heapTrendKBPerMin > r.heapTrendLimitKBPerMin) {
      out.push(
        `process ${p.index + 1}: heap grows ${p.heapTrendKBPerMin.toFixed(0)} KB/min over the second half (limit ${r.heapTrendLimitKBPerMin.toFixed(0)})`,
      );
    }
  }
  const checkedFeed = r.processes.reduce((n, p) => n + (p.summary?.checked.feed ?? 0), 0);
  if (r.processes.every((p) => p.summary) && checkedFeed === 0) out.push('no feed value was read: the outside writes were never checked');
  return out;
}

function progressLine(children: Child[], elapsed: number, total: number): string {
  const last = children.map((c) => c.samples[c.samples.length - 1]);
  const ops = last.reduce((n, s) => n + (s?.ops ?? 0), 0);
  const errors = last.reduce((n, s) => n + (s?.errors ?? 0), 0);
  const heaps = last.map((s) => (s ? (s.heapUsed / 2 ** 20).toFixed(1) : '?')).join(' ');
  return `${(elapsed / 1000).toFixed(0)} s of ${total / 1000}: ${ops.toLocaleString('en-US')} ops (${Math.round(ops / (elapsed / 1000)).toLocaleString('en-US')}/s), heap MB ${heaps}, errors ${errors}`;
}
