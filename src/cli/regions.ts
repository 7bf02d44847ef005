/**
 * Whether a region named on the command line exists. Regions are not registered anywhere: one
 * exists when something of it is in Redis (statistics, a generation, an entry of any generation,
 * for it or a region below it). A name with nothing behind it is almost always a typo, and
 * reporting it beats listing nothing or invalidating nothing without a word.
 */
import { formatCount } from './output.js';
import { Progress } from './progress.js';
import { CliError, type Session } from './session.js';

/** How far back statistics are looked at for region names. */
const STATS_SINCE = '1h';

/** Resolves when `region` exists; throws a `CliError` naming the regions that do otherwise. */
export async function checkRegion(session: Session, region: string): Promise<void> {
  // Validates the name: an ill-formed one is an InvalidOptionError saying why.
  session.trove.region(region);
  const within = (path: string) => path === region || path.startsWith(`${region}.`);
  const fleet = await session.trove.fleetStats({ since: STATS_SINCE });
  const invalidated = await session.tooling.invalidatedRegions();
  if (fleet.regions.some((r) => within(r.region)) || invalidated.some(within)) return;
  const progress = new Progress(session.io.stderr, `looking for entries of ${region}`);
  try {
    if (await session.tooling.hasKeys(region, (n) => progress.update(`${formatCount(n)} keys scanned`))) return;
  } finally {
    progress.stop();
  }
  const known = [...new Set([...fleet.regions.map((r) => r.region), ...invalidated])].sort();
  const { prefix, version } = session.target;
  throw new CliError(
    `unknown region '${region}': no entries, statistics or invalidations under prefix '${prefix}', version '${version}'` +
      (known.length > 0 ? ` (known: ${known.slice(0, 10).join(', ')}${known.length > 10 ? ', ...' : ''})` : ''),
  );
}
