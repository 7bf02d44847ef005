/** `trove invalidate <region>` and `trove invalidate-tags <tag...>`: confirmed on a terminal, `--yes` elsewhere. */
import { confirm } from '../confirm.js';
import { checkRegion } from '../regions.js';
import type { Session } from '../session.js';

export async function invalidateCommand(session: Session, region: string, opts: { yes?: boolean }): Promise<void> {
  await checkRegion(session, region);
  const { prefix, version } = session.target;
  await confirm(`Invalidate region '${region}' and every region below it (prefix '${prefix}', version '${version}'), in every process?`, opts.yes, session.io);
  await session.trove.region(region).invalidate();
  session.io.stdout.write(`Invalidated region '${region}' and every region below it.\n`);
}

export async function invalidateTagsCommand(session: Session, tags: string[], opts: { yes?: boolean }): Promise<void> {
  const unique = [...new Set(tags)];
  const list = unique.map((t) => `'${t}'`).join(', ');
  const { prefix, version } = session.target;
  await confirm(`Invalidate every entry tagged ${list} (prefix '${prefix}', version '${version}'), in every region and process?`, opts.yes, session.io);
  await session.trove.invalidateTags(unique);
  session.io.stdout.write(`Invalidated ${unique.length === 1 ? 'tag' : 'tags'} ${list}.\n`);
}
