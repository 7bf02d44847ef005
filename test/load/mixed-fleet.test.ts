/**
 * A mixed fleet: processes on ioredis and processes on node-redis share one Redis. They read each
 * other's entries, share the locks (a cold key meets a burst from both kinds of processes and is
 * computed exactly once), and each one's writes reach the other's near cache by invalidation.
 * Every process here is a real child process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bundled } from '../helpers/bundled.js';
import type { Driver } from '../helpers/drivers.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/troves.js';
import { goTogether, startWorker } from './workers.js';

let server: RedisServer;
let n = 0;
let prefix = '';
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(() => {
  prefix = `fleet${++n}`;
});

const member = fileURLToPath(new URL('./fixtures/fleet-member.ts', import.meta.url));

interface Reply {
  value?: string | null;
  tier?: string;
  live?: boolean;
}

/** A fleet member process (test/load/fixtures/fleet-member.ts) and a way to send it requests. */
interface Member {
  child: ChildProcess;
  ready: Promise<void>;
  request(op: 'get' | 'set' | 'near', key?: string, value?: string): Promise<Reply>;
  /** Closes its stdin: it closes its trove and prints the error events it saw. */
  stop(): Promise<string[]>;
}

const members: Member[] = [];
afterEach(() => {
  for (const m of members.splice(0)) m.child.kill('SIGKILL');
});

function startMember(driver: Driver): Member {
  const child = spawn(process.execPath, [bundled(member), server.url, prefix, driver], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let next = 0;
  const pending = new Map<number, (r: Reply) => void>();
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  let onErrors: (e: string[]) => void = () => {};
  const errors = new Promise<string[]>((r) => {
    onErrors = r;
  });
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    let at = out.indexOf('\n');
    while (at >= 0) {
      const line = out.slice(0, at);
      out = out.slice(at + 1);
      at = out.indexOf('\n');
      if (line === 'ready') onReady();
      else if (line.startsWith('{')) {
        const msg = JSON.parse(line) as Reply & { id?: number; errors?: string[] };
        if (msg.errors) onErrors(msg.errors);
        else if (msg.id !== undefined) pending.get(msg.id)?.(msg);
      }
    }
  });
  const m: Member = {
    child,
    ready,
    request(op, key, value) {
      const id = next++;
      return new Promise<Reply>((resolve) => {
        pending.set(id, resolve);
        child.stdin!.write(`${JSON.stringify({ id, op, key, value })}\n`);
      });
    },
    stop() {
      child.stdin!.end();
      return errors;
    },
  };
  members.push(m);
  return m;
}

describe('a mixed fleet: ioredis and node-redis processes on one Redis', { timeout: 60_000 }, () => {
  it('2 ioredis + 2 node-redis processes x 100 callers on one cold key: the factory runs once, everyone gets its value', async () => {
    const fleet = (['ioredis', 'node-redis', 'ioredis', 'node-redis'] as const).map((driver) =>
      startWorker({ url: server.url, prefix, key: 'hot', callers: 100, factoryMs: 300, driver, region: { lockLease: '120s', waitTimeout: '120s' } }),
    );
    await goTogether(fleet);
    const outputs = await Promise.all(fleet.map((w) => w.done));
    const all = outputs.flatMap((o) => o?.results ?? []);
    expect(all).toHaveLength(400);
    expect(all.every((r) => r.ok)).toBe(true);
    expect(new Set(all.map((r) => r.value)).size).toBe(1);
    expect(Number(await server.command('GET', `${prefix}:runs`))).toBe(1);
    for (const o of outputs) expect(o?.errors).toEqual([]);
    // No lock left behind: only the value and the run counter.
    const keys = (await server.keys()).filter((k) => k.startsWith(`${prefix}:`) && !k.startsWith(`${prefix}:0:__`));
    expect(keys).toHaveLength(2);
  });

  it("each process reads the other's entries, and each one's writes reach the other's near cache by invalidation", async () => {
    const io = startMember('ioredis');
    const nr = startMember('node-redis');
    await Promise.all([io.ready, nr.ready]);
    for (const [writer, reader] of [
      [io, nr],
      [nr, io],
    ] as const) {
      const key = `k${writer === io ? 'io' : 'nr'}`;
      await writer.request('set', key, 'v1');
      expect(await reader.request('get', key)).toEqual(expect.objectContaining({ value: 'v1', tier: 'store' }));
      // Held in the reader's near cache: only an invalidation can bring it the next value.
      expect(await reader.request('get', key)).toEqual(expect.objectContaining({ value: 'v1', tier: 'near' }));
      for (let i = 2; i <= 5; i++) {
        await writer.request('set', key, `v${i}`);
        await until(async () => (await reader.request('get', key)).value === `v${i}`, 10_000, `the reader to answer v${i}`);
        expect(await reader.request('get', key)).toEqual(expect.objectContaining({ value: `v${i}`, tier: 'near' }));
      }
    }
    expect(await io.request('near')).toEqual(expect.objectContaining({ live: true }));
    expect(await nr.request('near')).toEqual(expect.objectContaining({ live: true }));
    expect(await io.stop()).toEqual([]);
    expect(await nr.stop()).toEqual([]);
  });
});
