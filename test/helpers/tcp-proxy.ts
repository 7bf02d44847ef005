/**
 * A TCP proxy in front of a Redis server, so tests can cut connections or black-hole traffic
 * without touching the server itself.
 */
import { createServer, type Server, Socket } from 'node:net';

/** One accepted connection: its client side, its replies held back (when set), whether it is black-holed for good, and whether it is closed. */
interface Accepted {
  client: Socket;
  held: Buffer[] | undefined;
  dead: boolean;
  closed: boolean;
}

export class TcpProxy {
  private server: Server;
  private pairs = new Set<[Socket, Socket]>();
  /** Accepted connections in order, each with its replies optionally held back. */
  private readonly accepted: Accepted[] = [];
  /** When true, bytes are swallowed in both directions (a silent network partition). */
  blackhole = false;
  /** When true, new connections are refused (closed at once). */
  refuse = false;
  /** When true, the next accepted connection has its replies held back from the start (see `holdReplies`). */
  private holdNext = false;
  /** When set, the next connection to send this command has its replies held back from then on (see `holdRepliesFrom`). */
  private holdFrom: Buffer | undefined;
  /**
   * When set, the first request chunk (on any connection) that contains this command is cut right
   * after that command: the rest waits until `releaseSplit()`, as if it came in a later TCP segment.
   */
  private splitOn: Buffer | undefined;
  private splitRest: { upstream: Socket; rest: Buffer[] } | undefined;
  private splitSeen: (() => void) | undefined;
  /** When set, the next request chunk that contains this command is dropped with its connection (see `cutOn`). */
  private cutOnCommand: Buffer | undefined;
  private cutSeen: (() => void) | undefined;
  port = 0;

  private constructor(private readonly targetPort: number) {
    this.server = createServer((client) => this.accept(client));
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    const addr = proxy.server.address();
    proxy.port = typeof addr === 'object' && addr ? addr.port : 0;
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get connections(): number {
    return this.pairs.size;
  }

  private accept(client: Socket): void {
    if (this.refuse) {
      client.destroy();
      return;
    }
    const upstream = new Socket();
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const conn: Accepted = { client, held: this.holdNext ? [] : undefined, dead: false, closed: false };
    this.holdNext = false;
    this.accepted.push(conn);
    const close = () => {
      conn.closed = true;
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('data', (d: Buffer) => {
      if (this.blackhole || conn.dead) return;
      if (this.splitRest?.upstream === upstream) {
        this.splitRest.rest.push(d);
        return;
      }
      if (this.cutOnCommand && commandEnd(d, this.cutOnCommand) >= 0) {
        this.cutOnCommand = undefined;
        close();
        this.cutSeen?.();
        return;
      }
      if (this.holdFrom && commandEnd(d, this.holdFrom) >= 0) {
        this.holdFrom = undefined;
        conn.held ??= [];
      }
      const cut = this.splitOn ? commandEnd(d, this.splitOn) : -1;
      if (cut < 0) {
        upstream.write(d);
        return;
      }
      this.splitOn = undefined;
      upstream.write(d.subarray(0, cut));
      this.splitRest = { upstream, rest: [d.subarray(cut)] };
      this.splitSeen?.();
    });
    upstream.on('data', (d: Buffer) => {
      if (this.blackhole || conn.dead) return;
      if (conn.held) conn.held.push(d);
      else client.write(d);
    });
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
    upstream.connect(this.targetPort, '127.0.0.1');
  }

  /** How many connections were accepted so far (open or closed). */
  get acceptedCount(): number {
    return this.accepted.length;
  }

  /** The index of the most recently accepted connection still open, or -1 when none is. */
  lastOpen(): number {
    for (let i = this.accepted.length - 1; i >= 0; i--) if (!this.accepted[i]!.closed) return i;
    return -1;
  }

  /** How many of the first `n` accepted connections are still open. */
  openAmongFirst(n: number): number {
    return this.accepted.slice(0, n).filter((c) => !c.closed).length;
  }

  /**
   * Swallows every byte, both ways and for good, of the connections open now (never closing them),
   * while later connections pass: a peer gone silent behind a NAT or load balancer that still
   * routes new connections elsewhere. No reset ever comes: only the client can give up on them.
   */
  blackholeOpen(): void {
    for (const conn of this.accepted) conn.dead = true;
  }

  /** Holds back the server's replies on the i-th accepted connection (requests still go through). */
  holdReplies(i: number): void {
    const conn = this.accepted[i];
    if (conn && !conn.held) conn.held = [];
  }

  /** Holds back every reply of the next connection accepted, from its first byte (release it with `releaseReplies`). */
  holdRepliesOfNext(): void {
    this.holdNext = true;
  }

  /** Holds back the replies of the next connection that sends the command `name`, from that command on. */
  holdRepliesFrom(name: string): void {
    this.holdFrom = commandName(name);
  }

  /** Delivers the held replies of the i-th connection and stops holding. */
  releaseReplies(i: number): void {
    const conn = this.accepted[i];
    if (!conn?.held) return;
    const held = conn.held;
    conn.held = undefined;
    for (const d of held) conn.client.write(d);
  }

  /**
   * Cuts the next request chunk that contains the command `name` (e.g. 'SET') right after it;
   * resolves once that happened (the first part has been forwarded, the rest is held).
   */
  splitAfter(name: string): Promise<void> {
    this.splitOn = commandName(name);
    return new Promise((resolve) => {
      this.splitSeen = resolve;
    });
  }

  /**
   * Drops the connection that next sends a request chunk containing the command `name`, without
   * forwarding that chunk: the client has sent the command and never gets its reply. Resolves once
   * that happened.
   */
  cutOn(name: string): Promise<void> {
    this.cutOnCommand = commandName(name);
    return new Promise((resolve) => {
      this.cutSeen = resolve;
    });
  }

  /** Forwards what `splitAfter` held back. */
  releaseSplit(): void {
    const held = this.splitRest;
    this.splitRest = undefined;
    this.splitSeen = undefined;
    if (held) for (const d of held.rest) held.upstream.write(d);
  }

  /** Drops every open connection (clients see a reset and reconnect). */
  cutAll(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The RESP bulk string of a command's name, as `commandEnd` matches it. */
function commandName(name: string): Buffer {
  return Buffer.from(`$${Buffer.byteLength(name)}\r\n${name}\r\n`, 'utf8');
}

/**
 * Where the RESP command holding `bulk` (a bulk string such as `$3\r\nSET\r\n`, matched as the
 * command's first element, in any case) ends in `chunk`, or -1. The chunk must start at a command boundary.
 */
function commandEnd(chunk: Buffer, bulk: Buffer): number {
  let at = 0;
  while (at < chunk.length && chunk[at] === 0x2a /* '*' */) {
    const lineEnd = chunk.indexOf('\r\n', at);
    if (lineEnd < 0) return -1;
    const count = Number(chunk.subarray(at + 1, lineEnd).toString());
    let pos = lineEnd + 2;
    const first = pos;
    for (let i = 0; i < count; i++) {
      const lenEnd = chunk.indexOf('\r\n', pos);
      if (lenEnd < 0 || chunk[pos] !== 0x24 /* '$' */) return -1;
      const len = Number(chunk.subarray(pos + 1, lenEnd).toString());
      pos = lenEnd + 2 + len + 2;
    }
    if (pos > chunk.length) return -1;
    // ioredis sends command names in lower case.
    if (
      chunk
        .subarray(first, first + bulk.length)
        .toString('latin1')
        .toLowerCase() === bulk.toString('latin1').toLowerCase()
    )
      return pos;
    at = pos;
  }
  return -1;
}
