/** `trove dashboard`: serves the dashboard page until interrupted. */
import { toMs } from '../../duration.js';
import { DashboardServer } from '../dashboard/server.js';
import { CliError, type Session } from '../session.js';

export interface DashboardCommandOptions {
  port?: string;
  host?: string;
  since?: string;
  refresh?: string;
}

export async function dashboardCommand(session: Session, opts: DashboardCommandOptions): Promise<void> {
  const port = Number(opts.port ?? 9464);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new CliError(`--port must be a port number from 0 to 65535 (got '${opts.port}')`);
  const since = opts.since ?? '1h';
  const sinceMs = toMs(since, 'since');
  const refreshMs = toMs(opts.refresh ?? '5s', 'refresh');
  // Fails here, with one line, when Redis cannot be reached or statistics cannot be read.
  await session.trove.fleetStats({ since });
  let server: DashboardServer;
  try {
    server = await DashboardServer.start({
      trove: session.trove,
      prefix: session.target.prefix,
      version: session.target.version,
      since,
      sinceMs,
      refreshMs,
      port,
      host: opts.host ?? '127.0.0.1',
      explain: (err) => session.explain(err).message,
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`port ${port} is in use: choose another with --port`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new CliError(`cannot listen on host '${opts.host}'`);
    throw err;
  }
  // From now on a lost connection is a line on the page, until it comes back.
  session.failFast = false;
  session.io.stdout.write(`Dashboard on ${server.url} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
}
