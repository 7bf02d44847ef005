import type { KeyLayout } from '../keys/index.js';
import type { Loader } from '../load/index.js';
import type { NearCache } from '../near/index.js';
import type { StatsRecorder } from '../stats/index.js';
import type { Store } from '../store/index.js';
import type { EventSink } from './events.js';
import type { Generations } from './generations.js';
import type { RegionOptions, ResolvedRegionOptions } from './options.js';
import type { TagTokens } from './tag-tokens.js';

/** What a region needs from the trove that owns it. */
export interface RegionContext {
  readonly store: Store;
  readonly layout: KeyLayout;
  readonly events: EventSink;
  readonly loader: Loader;
  readonly generations: Generations;
  readonly tags: TagTokens;
  /** Where calls are counted, when statistics are on. */
  readonly stats: StatsRecorder | undefined;
  /** The in-process tier, when the trove has one. */
  readonly near: NearCache | undefined;
  /** Channel on which invalidations are broadcast to every process. */
  readonly busChannel: string;
  /** This trove's id in broadcasts. */
  readonly origin: string;
  /** Effective options of a region path (trove defaults, then each ancestor's, then its own). */
  optionsFor(path: string): ResolvedRegionOptions;
  /** Bumped whenever region options change anywhere, so regions can cache theirs. */
  readonly configVersion: { value: number };
  /** Records options given for a region path. */
  configure(path: string, opts: RegionOptions | undefined): void;
  /** Throws ClosedError once the trove is closed. */
  assertOpen(): void;
  isClosed(): boolean;
  /** Whether values are deep-frozen where they pass through a region (see value-sharing.ts). */
  readonly freezeValues: boolean;
  /** Whether the current call runs inside `trove.bypass()`: read-through then computes directly. */
  bypassed(): boolean;
}
