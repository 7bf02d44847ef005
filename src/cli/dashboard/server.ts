/**
 * The dashboard's HTTP server: `/` is the page, `/panel` its refreshing part, `/stats.json` the
 * figures behind it. Figures are read at most once a second whatever the number of open pages,
 * and a failed read leaves the last figures on the page under an error line.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Trove } from '../../api/index.js';
import type { FleetStats } from '../../index.js';
import { type DashboardData, renderPage, renderPanel } from './page.js';

export interface DashboardOptions {
  trove: Trove;
  prefix: string;
  version: string;
  /** The window shown, e.g. `'1h'`. */
  since: string;
  sinceMs: number;
  refreshMs: number;
  port: number;
  host: string;
  /** Turns a failure to read the figures into the line the page shows. */
  explain: (err: unknown) => string;
}

/** How long figures read once are served again, in ms: open pages refresh every few seconds. */
const REUSE_MS = 1_000;

export class DashboardServer {
  private readonly server: Server;
  private last: FleetStats | undefined;
  private current: { at: number; data: Promise<DashboardData> } | undefined;

  private constructor(private readonly opts: DashboardOptions) {
    this.server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://dashboard').pathname;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      const send = (type: string, body: (d: DashboardData) => string) =>
        this.data().then(
          (d) => {
            res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body(d));
          },
          (err: unknown) => {
            res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(String(err));
          },
        );
      if (path === '/') void send('text/html; charset=utf-8', renderPage);
      else if (path === '/panel') void send('text/html; charset=utf-8', renderPanel);
      else if (path === '/stats.json') void send('application/json', (d) => JSON.stringify(d.fleet));
      else res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    });
  }

  /** Starts listening; resolves once the port is bound. */
  static async start(opts: DashboardOptions): Promise<DashboardServer> {
    const dashboard = new DashboardServer(opts);
    await new Promise<void>((resolve, reject) => {
      dashboard.server.once('error', reject);
      dashboard.server.listen(opts.port, opts.host, () => {
        dashboard.server.off('error', reject);
        resolve();
      });
    });
    return dashboard;
  }

  get url(): string {
    const { address, port } = this.server.address() as AddressInfo;
    const host = address.includes(':') ? `[${address}]` : address;
    return `http://${host}:${port}/`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private data(): Promise<DashboardData> {
    const now = Date.now();
    if (this.current !== undefined && now - this.current.at < REUSE_MS) return this.current.data;
    const data = this.read(now);
    this.current = { at: now, data };
    return data;
  }

  private async read(now: number): Promise<DashboardData> {
    const { trove, prefix, version, since, sinceMs, refreshMs } = this.opts;
    const base = { prefix, version, since, refreshMs, generatedAt: now };
    try {
      const fleet = await trove.fleetStats({ since, perMinute: true });
      this.last = fleet;
      return { ...base, fleet };
    } catch (err) {
      const fleet = this.last ?? { from: now - sinceMs, to: now, regions: [], minutes: [] };
      return { ...base, fleet, error: this.opts.explain(err) };
    }
  }
}
