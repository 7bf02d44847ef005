/**
 * Route caching across processes: a burst of concurrent requests to one cold route, spread over
 * two server processes (Express in one, Fastify in the other, sharing the entry), runs the handler
 * exactly once: single-flight within each process, the Redis lock between them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { bundled } from '../helpers/bundled.js';
import { until, useRedisServer } from '../helpers/troves.js';

const fixture = fileURLToPath(new URL('./fixtures/web-server.ts', import.meta.url));
const children: ChildProcess[] = [];

afterEach(async () => {
  await Promise.all(
    children.splice(0).map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.stdin!.end();
        }),
    ),
  );
});

function startServer(plan: Record<string, unknown>): Promise<string> {
  const child = spawn(process.execPath, [bundled(fixture), JSON.stringify(plan)], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\S+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)));
  });
}

describe('route caching across two processes', () => {
  const redis = useRedisServer();

  it('runs the handler once for a burst of concurrent requests to one cold route in both processes', async () => {
    const prefix = `web2p-${process.pid}`;
    const urls = await Promise.all([
      startServer({ framework: 'express', url: redis.server.url, prefix }),
      startServer({ framework: 'fastify', url: redis.server.url, prefix }),
    ]);
    const client = new Redis(redis.server.url);
    try {
      const perProcess = 15;
      const responses = urls.flatMap((url) =>
        Array.from({ length: perProcess }, () => fetch(`${url}/cold`).then(async (r) => [r.status, await r.text()] as const)),
      );
      const stats = () => Promise.all(urls.map((url) => fetch(`${url}/stats`).then((r) => r.json() as Promise<{ misses: number; errors: string[] }>)));
      // Every request has read the cache and waits (one handler holds the gate).
      await until(async () => (await stats()).every((s) => s.misses === perProcess), 20_000, 'every request missed');
      expect(await client.get(`${prefix}:runs`)).toBe('1');
      await client.rpush(`${prefix}:gate`, 'go');
      const answered = await Promise.all(responses);
      expect(await client.get(`${prefix}:runs`)).toBe('1');
      const bodies = new Set(answered.map(([status, body]) => `${status} ${body}`));
      expect(bodies.size).toBe(1);
      expect([...bodies][0]).toMatch(/^200 \{"computedBy":\d+\}$/);
      // Both servers now answer from the cache, without running the handler.
      for (const url of urls) expect(await (await fetch(`${url}/cold`)).text()).toBe(answered[0]![1]);
      expect(await client.get(`${prefix}:runs`)).toBe('1');
      expect((await stats()).flatMap((s) => s.errors)).toEqual([]);
    } finally {
      client.disconnect();
    }
  });
});
