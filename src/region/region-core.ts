import type { EntryAccess } from '../load/index.js';
import { KeyBase } from './key-base.js';
import type { ResolvedRegionOptions } from './options.js';
import { entryAccess, type StampedWrite } from './read-through.js';
import type { RegionContext } from './region-context.js';

/** What every part of one region shares: its trove, its path, its options and key base, and how the loader reaches it. */
export class RegionCore {
  private cachedOptions: ResolvedRegionOptions | undefined = undefined;
  private cachedOptionsVersion = -1;
  readonly keyBase: KeyBase;
  /** How the loader reads, writes and reports for this region. */
  readonly access: EntryAccess<StampedWrite>;

  constructor(
    readonly ctx: RegionContext,
    /** Full dotted path of the region. */
    readonly path: string,
  ) {
    this.keyBase = new KeyBase(ctx.generations, ctx.layout, path);
    this.access = entryAccess(this);
  }

  /** The region's effective options, re-read only when some region's options changed. */
  get options(): ResolvedRegionOptions {
    if (this.cachedOptionsVersion !== this.ctx.configVersion.value || this.cachedOptions === undefined) {
      this.cachedOptions = this.ctx.optionsFor(this.path);
      this.cachedOptionsVersion = this.ctx.configVersion.value;
    }
    return this.cachedOptions;
  }
}
