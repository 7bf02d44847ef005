/**
 * The example apps in examples/ run as documented (`npx tsx examples/<framework>/app.ts`), here on
 * a free port against a private Redis: a cached route answers twice, computed once, with its
 * Server-Timing entry.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { useRedisServer } from '../helpers/troves.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const running: ChildProcess[] = [];

afterEach(async () => {
  await Promise.all(
    running.splice(0).map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
});

/** The app's address, and what it has written to stderr so far (its warnings explain a miss). */
function startExample(name: string, redisUrl: string): Promise<{ url: string; stderr: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', `examples/${name}/app.ts`], {
    cwd: root,
    env: { ...process.env, PORT: '0', REDIS_URL: redisUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1]!, stderr: () => err });
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('exit', (code) => reject(new Error(`examples/${name}/app.ts exited with ${code}:\n${out}\n${err}`)));
  });
}

describe('example apps', () => {
  const redis = useRedisServer();

  it.each(['express', 'fastify', 'hono'])(
    'examples/%s/app.ts serves its cached route',
    async (name) => {
      const { url, stderr } = await startExample(name, redis.server.url);
      const first = await fetch(`${url}/products/${name}`);
      expect(first.status).toBe(200);
      const body = (await first.json()) as { id: string; at: string };
      expect(body.id).toBe(name);
      expect(first.headers.get('server-timing')).toMatch(/^trove;desc="1 miss";dur=/);
      const second = await fetch(`${url}/products/${name}`);
      expect(await second.json(), stderr()).toEqual(body);
      expect(second.headers.get('server-timing'), stderr()).toMatch(/^trove;desc="1 hit";dur=/);
    },
    30_000,
  );
});
