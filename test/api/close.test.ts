/**
 * close() releases every connection and timer: a process that used a trove exits on its own.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../helpers/redis-server.js';

const child = fileURLToPath(new URL('./fixtures/close-child.ts', import.meta.url));

function run(args: string[], onReady?: () => Promise<void>): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    // A process held open never exits: stop it before the test times out (it then has no exit code).
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
      resolve({ code, lines: out.trim().split('\n') });
    });
  });
}

/** The JSON after `<tag> ` on the child's line starting with it. */
function reported(lines: string[], tag: string): unknown {
  const line = lines.find((l) => l.startsWith(`${tag} `));
  if (line === undefined) throw new Error(`no ${tag} line in ${JSON.stringify(lines)}`);
  return JSON.parse(line.slice(tag.length + 1));
}

/**
 * Nothing holds the event loop once close() resolves (no socket, no timer, nothing pending), so
 * the process exits by itself right after, and it did (a killed one has no exit code). `timers`:
 * timers may be left (those of calls that waited for a dead Redis), never a socket.
 */
function expectReleased(code: number | null, lines: string[], timers: 'none' | 'allowed' = 'none'): void {
  const held = reported(lines, 'held') as string[];
  expect(timers === 'none' ? held : held.filter((r) => r !== 'Timeout' && r !== 'Immediate')).toEqual([]);
  expect(code).toBe(0);
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
    expectReleased(code, lines);
    expect(reported(lines, 'errors')).toEqual([]);
  });

  it('leaves no handles with the embedded store', async () => {
    const { code, lines } = await run(['memory']);
    expectReleased(code, lines);
    expect(reported(lines, 'errors')).toEqual([]);
  });

  it('leaves no handles when Redis died before close', async () => {
    const doomed = await RedisServer.start();
    const { code, lines } = await run([doomed.url, 'kill-first'], () => doomed.kill());
    await doomed.stop();
    expectReleased(code, lines, 'allowed');
  });
});
