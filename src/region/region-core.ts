import type { EntryAccess } from '../load/index.js';
import type { NearIndex } from '../near/index.js';
import type { Series } from '../stats/index.js';
import { type EntryBackend, stringEntries } from './entry-backend.js';
import { HashEntries } from './hash-storage.js';
import { KeyBase } from './key-base.js';
import { MissShare } from './miss-share.js';
import type { ResolvedRegionOptions } from './options.js';
import { entryAccess, type StampedWrite } from './read-through.js';
import type { RegionContext } from './region-context.js';

/**
 * What every part of one region shares: its trove, its path, its options and key base, and how the
 * loader reaches it. A cached function's calls go through a core of their own (`fn` set), so that
 * their statistics and events name the function.
 */
export class RegionCore {
  private cachedOptions: ResolvedRegionOptions | undefined = undefined;
  private cachedOptionsVersion = -1;
  readonly keyBase: KeyBase;
  /** How the loader reads, writes and reports for this region. */
  readonly access: EntryAccess<StampedWrite>;
  /** Where this core's calls are counted; undefined when statistics are off. */
  readonly stats: Series | undefined;
  /** How many of getOrSet's recent reads from Redis missed: decides how it reads (see miss-share.ts). */
  readonly reads = new MissShare();

  constructor(
    readonly ctx: RegionContext,
    /** Full dotted path of the region. */
    readonly path: string,
    /** The cached function whose calls this core serves; undefined for calls on the region itself. */
    readonly fn?: string,
  ) {
    this.keyBase = new KeyBase(ctx.generations, ctx.layout, path);
    this.access = entryAccess(this);
    this.stats = ctx.stats?.seriesOf(path, fn);
  }

  private stringBackend: EntryBackend | undefined;
  private hashBackend: EntryBackend | undefined;

  /** Where the region's entries live: one key each, or fields of hash buckets (`storage`). */
  get entries(): EntryBackend {
    if (this.options.storage === 'hash') {
      this.hashBackend ??= new HashEntries(this);
      return this.hashBackend;
    }
    this.stringBackend ??= stringEntries(this);
    return this.stringBackend;
  }

  /** The region's effective options, re-read only when some region's options changed. */
  get options(): ResolvedRegionOptions {
    if (this.cachedOptionsVersion !== this.ctx.configVersion.value || this.cachedOptions === undefined) this.reloadOptions();
    return this.cachedOptions!;
  }

  /** Whether a fresh near hit may take the fast path (see near-fast-path.ts): the region uses the near cache, with no eager refresh to trigger. */
  get nearFastPath(): boolean {
    if (this.cachedOptionsVersion !== this.ctx.configVersion.value) this.reloadOptions();
    return this.fastPath;
  }

  private fastPath = false;

  private reloadOptions(): void {
    const options = this.ctx.optionsFor(this.path);
    this.cachedOptions = options;
    this.cachedOptionsVersion = this.ctx.configVersion.value;
    this.fastPath = options.nearCache && options.readThrough.eagerRefresh === undefined;
  }

  /** The near cache's index of this region's entries, for the key base it was asked with (see `fastNearHit`). */
  nearIndex: NearIndex | undefined = undefined;
}
