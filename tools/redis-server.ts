/**
 * Private redis-server processes: each on a free port, in its own temp
 * dir, never the shared 6379. They can be stopped, SIGKILLed, paused (SIGSTOP), resumed,
 * restarted on the same port, flushed, and asked for INFO.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Set<RedisServer>();
process.on('exit', () => {
  for (const s of live) s.child?.kill('SIGKILL');
});

/** Asks the OS for a port that is free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface RedisServerOptions {
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[];
  /** A fixed port (default: a free one). */
  port?: number;
  /** How to pick a port when `port` is not given (default: any free one); called again when the start fails. */
  pickPort?: () => Promise<number>;
  /** A config file, passed as the first argument (redis-server reads it before the other arguments; Sentinel rewrites it). */
  configFile?: string;
  /** Starts as a replica (`--replicaof 127.0.0.1 <port>`) of the server on this port, also after a restart. */
  replicaOf?: number;
}

export class RedisServer {
  port = 0;
  child: ChildProcess | undefined;
  /** The server's working directory; none for a server this process did not start. */
  private dir: string | undefined;
  private readonly args: string[];
  private readonly configFile: string | undefined;

  private constructor(opts: RedisServerOptions) {
    this.args = [...(opts.replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(opts.replicaOf)]), ...(opts.args ?? [])];
    this.configFile = opts.configFile;
  }

  /** Starts a server on a free port and waits until it answers PING. */
  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(opts);
    for (let attempt = 0; ; attempt++) {
      server.port = opts.port ?? (await (opts.pickPort ?? freePort)());
      try {
        await server.spawn();
        live.add(server);
        return server;
      } catch (err) {
        if (attempt >= 4) throw err;
      }
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Whether this process's redis-server is running (false after kill or stop, and for an attached one). */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * A handle on a server started by another process (INFO, commands); stop() leaves it running.
   * Benchmark child processes use it to share their parent's server.
   */
  static attach(port: number): RedisServer {
    const server = new RedisServer({});
    server.port = port;
    return server;
  }

  private async spawn(): Promise<void> {
    this.dir ??= mkdtempSync(join(tmpdir(), 'trove-redis-'));
    const child = spawn(
      'redis-server',
      [
        ...(this.configFile === undefined ? [] : [this.configFile]),
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
        '--enable-debug-command',
        'yes',
        ...this.args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    let output = '';
    child.stdout?.on('data', (d: Buffer) => {
      if (output.length < 10_000) output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      if (output.length < 10_000) output += d.toString();
    });
    const exited = new Promise<never>((_, reject) => {
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) during start: ${output.slice(-500)}`)));
      // e.g. ENOENT when redis-server is not installed: a rejection, not an unhandled crash
      child.once('error', (err) => reject(new Error(`cannot start redis-server: ${err.message}`)));
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ok = await Promise.race([this.ping(), exited]);
      // The answer must come from this child: test files start servers two at a time, and one
      // whose port was taken meanwhile must not take another's server for its own.
      if (ok && (await Promise.race([this.info('server'), exited])).process_id === String(child.pid)) return;
      if (ok) {
        child.kill('SIGKILL');
        throw new Error(`port ${this.port} is answered by another redis-server`);
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`redis-server on ${this.port} did not answer PING: ${output.slice(-500)}`);
      }
      await sleep(20);
    }
  }

  /** Sends one command over a fresh socket (independent of any client in use). */
  command(...args: (string | number)[]): Promise<string> {
    return rawCommand(this.port, args.map(String));
  }

  private async ping(): Promise<boolean> {
    try {
      return (await this.command('PING')) === 'PONG';
    } catch {
      return false;
    }
  }

  async flushall(): Promise<void> {
    await this.command('FLUSHALL');
  }

  /** `INFO <section>` parsed into key/value pairs. */
  async info(section: string): Promise<Record<string, string>> {
    const text = await this.command('INFO', section);
    const out: Record<string, string> = {};
    for (const line of text.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
    }
    return out;
  }

  /** Calls per command since the last `resetStats()`, from INFO commandstats, e.g. `{ mget: 1 }`. */
  async commandCalls(): Promise<Record<string, number>> {
    const info = await this.info('commandstats');
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(info)) {
      const m = /^calls=(\d+)/.exec(v);
      if (k.startsWith('cmdstat_') && m) out[k.slice(8)] = Number(m[1]);
    }
    return out;
  }

  /** Calls and mean microseconds per call for each command since the last `resetStats()`. */
  async commandStats(): Promise<Record<string, { calls: number; usecPerCall: number }>> {
    const info = await this.info('commandstats');
    const out: Record<string, { calls: number; usecPerCall: number }> = {};
    for (const [k, v] of Object.entries(info)) {
      const m = /calls=(\d+),usec=\d+,usec_per_call=([\d.]+)/.exec(v);
      if (k.startsWith('cmdstat_') && m) out[k.slice(8)] = { calls: Number(m[1]), usecPerCall: Number(m[2]) };
    }
    return out;
  }

  /**
   * Whether this replica is linked to its primary and has applied every write the primary had
   * when asked (compares the replication offsets of INFO replication).
   */
  async caughtUpWith(primary: RedisServer): Promise<boolean> {
    const target = Number((await primary.info('replication')).master_repl_offset);
    const own = await this.info('replication');
    return own.role === 'slave' && own.master_link_status === 'up' && Number(own.slave_repl_offset) >= target;
  }

  async resetStats(): Promise<void> {
    await this.command('CONFIG', 'RESETSTAT');
  }

  async keys(): Promise<string[]> {
    const text = await this.command('KEYS', '*');
    return text === '' ? [] : text.split('\n').sort();
  }

  /** SIGSTOP: the process keeps its sockets but answers nothing. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** SIGKILL and wait for the exit. */
  async kill(): Promise<void> {
    await this.signalAndWait('SIGKILL');
  }

  /** Graceful stop. */
  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) {
      live.delete(this);
      if (this.dir) rmSync(this.dir, { recursive: true, force: true });
      return;
    }
    this.resume();
    await this.signalAndWait('SIGTERM');
    live.delete(this);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Starts the server again on the same port (after kill or stop); data is gone. */
  async restart(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) await this.kill();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = mkdtempSync(join(tmpdir(), 'trove-redis-'));
    for (let attempt = 0; ; attempt++) {
      try {
        await this.spawn();
        live.add(this);
        return;
      } catch (err) {
        if (attempt >= 20) throw err;
        await sleep(100); // the old socket may linger briefly
      }
    }
  }

  private signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** How long a command may go unanswered: a guard against a server that never answers, not a deadline under test. */
const RAW_REPLY_LIMIT_MS = 20_000;

/** Minimal RESP client: one command, one reply, flattened to text (arrays joined by '\n'). */
function rawCommand(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = new Socket();
    let buf = Buffer.alloc(0);
    // After a stall of the whole process, timers run before the socket is read: the reply may be
    // waiting. Give the poll phase one turn (setImmediate runs after it) before giving up.
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (sock.destroyed) return;
          sock.destroy();
          reject(new Error(`no reply to ${args[0]} within ${RAW_REPLY_LIMIT_MS / 1000} s`));
        }),
      RAW_REPLY_LIMIT_MS,
    );
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const parsed = parseReply(buf, 0);
      if (!parsed) return;
      clearTimeout(timer);
      sock.destroy();
      if (parsed.error) reject(new Error(parsed.error));
      else resolve(parsed.text);
    });
    sock.connect(port, '127.0.0.1', () => {
      let out = `*${args.length}\r\n`;
      for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
      sock.write(out);
    });
  });
}

interface Parsed {
  text: string;
  error?: string;
  end: number;
}

function parseReply(buf: Buffer, at: number): Parsed | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[at]!);
  const head = buf.toString('utf8', at + 1, eol);
  switch (type) {
    case '+':
    case ':':
      return { text: head, end: eol + 2 };
    case '-':
      return { text: '', error: head, end: eol + 2 };
    case '$': {
      const len = Number(head);
      if (len < 0) return { text: '', end: eol + 2 };
      if (buf.length < eol + 2 + len + 2) return undefined;
      return { text: buf.toString('utf8', eol + 2, eol + 2 + len), end: eol + 2 + len + 2 };
    }
    case '*': {
      const n = Number(head);
      const parts: string[] = [];
      let pos = eol + 2;
      for (let i = 0; i < n; i++) {
        const p = parseReply(buf, pos);
        if (!p) return undefined;
        parts.push(p.text);
        pos = p.end;
      }
      return { text: parts.join('\n'), end: pos };
    }
    default:
      return { text: '', error: `unexpected reply type ${type}`, end: buf.length };
  }
}
