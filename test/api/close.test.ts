/**
 * close() releases every connection and timer: a process that used a trove exits on its own.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../helpers/redis-server.js';

const child = fileURLToPath(new URL('./fixtures/close-child.ts', import.meta.url));

function run(args: string[], onReady?: () => Promise<void>): Promise<{ code: number | null; lines: string[]; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const p = spawn(process.execPath, ['--import', 'tsx', child, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const killer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (onReady && out.includes('ready\n')) {
        const go = onReady;
        onReady = undefined;
        go().then(() => p.stdin.write('go\n'), reject);
      }
    });
    p.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, lines: out.trim().split('\n'), ms: Date.now() - t0 });
    });
  });
}

/** Milliseconds between close() resolving and the process exiting on its own. */
function exitDelay(lines: string[]): number {
  const m = /^exit (\d+)$/.exec(lines.at(-1) ?? '');
  if (!m) throw new Error(`no exit line in ${JSON.stringify(lines)}`);
  return Number(m[1]);
}

/** No socket is left once close() resolves, and the process exits by itself right after. */
function expectReleased(lines: string[]): void {
  const held = JSON.parse(lines.at(-2)!) as string[];
  expect(held.filter((r) => r.startsWith('TCP'))).toEqual([]);
  expect(exitDelay(lines)).toBeLessThan(300);
}

describe('close()', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('leaves no handles with Redis: the process exits by itself', async () => {
    const { code, lines } = await run([server.url]);
    expect(code).toBe(0);
    expectReleased(lines);
  });

  it('leaves no handles with the embedded store', async () => {
    const { code, lines } = await run(['memory']);
    expect(code).toBe(0);
    expectReleased(lines);
  });

  it('leaves no handles when Redis died before close', async () => {
    const doomed = await RedisServer.start();
    const { code, lines } = await run([doomed.url, 'kill-first'], () => doomed.kill());
    await doomed.stop();
    expect(code).toBe(0);
    expectReleased(lines);
  });
});
