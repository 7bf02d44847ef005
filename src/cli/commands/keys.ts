/** `trove keys <region>`: a sample of the keys of a region's live entries, found with SCAN. */
import { formatCount } from '../output.js';
import { Progress } from '../progress.js';
import { checkRegion } from '../regions.js';
import { CliError, type Session } from '../session.js';

export async function keysCommand(session: Session, region: string, opts: { limit?: string }): Promise<void> {
  const limit = Number(opts.limit ?? 100);
  if (!Number.isInteger(limit) || limit <= 0) throw new CliError(`--limit must be a positive whole number (got '${opts.limit}')`);
  const { stdout, stderr } = session.io;
  let found = 0;
  let scanned = 0;
  const progress = new Progress(stderr, `scanning ${region}`);
  const show = () => progress.update(`${formatCount(found)} found, ${formatCount(scanned)} keys scanned`);
  try {
    for await (const key of session.tooling.keys(region, {
      onScanned: (n) => {
        scanned = n;
        show();
      },
    })) {
      stdout.write(`${key}\n`);
      found++;
      show();
      if (found >= limit) break;
    }
  } finally {
    progress.stop();
  }
  if (found === 0) await checkRegion(session, region);
  // On stderr, so that stdout is the keys alone, one per line, for pipes.
  stderr.write(`${formatCount(found)} key${found === 1 ? '' : 's'}${found >= limit ? ` (the first ${formatCount(limit)}: --limit N for more)` : ''}\n`);
}
