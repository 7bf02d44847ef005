/**
 * A TCP proxy in front of a Redis server, so tests can cut connections or black-hole traffic
 * without touching the server itself.
 */
import { createServer, type Server, Socket } from 'node:net';

export class TcpProxy {
  private server: Server;
  private pairs = new Set<[Socket, Socket]>();
  /** Accepted connections in order, each with its replies optionally held back. */
  private readonly accepted: { client: Socket; held: Buffer[] | undefined }[] = [];
  /** When true, bytes are swallowed in both directions (a silent network partition). */
  blackhole = false;
  /** When true, new connections are refused (closed at once). */
  refuse = false;
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
    const conn: { client: Socket; held: Buffer[] | undefined } = { client, held: undefined };
    this.accepted.push(conn);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('data', (d) => {
      if (!this.blackhole) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (this.blackhole) return;
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

  /** Holds back the server's replies on the i-th accepted connection (requests still go through). */
  holdReplies(i: number): void {
    const conn = this.accepted[i];
    if (conn && !conn.held) conn.held = [];
  }

  /** Delivers the held replies of the i-th connection and stops holding. */
  releaseReplies(i: number): void {
    const conn = this.accepted[i];
    if (!conn?.held) return;
    const held = conn.held;
    conn.held = undefined;
    for (const d of held) conn.client.write(d);
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
