import { InvalidOptionError } from '../errors.js';
import { checkWellFormed, type KeyLayout } from '../keys/index.js';
import type { Generations } from './generations.js';
import { inOperation } from './operation-errors.js';
import type { Key } from './region.js';

/**
 * The start of every key of one region in its current generation (`<prefix>:<version>:<path with
 * generation tokens>:`); an entry's key is this base followed by the user key and `tail`.
 */
export class KeyBase {
  private base = '';
  private version = -1;
  /** What follows the user key in an entry key: `''`, or `'}'` closing the hash tag on Redis Cluster (see `KeyLayout`). */
  readonly tail: string;

  constructor(
    private readonly generations: Generations,
    private readonly layout: KeyLayout,
    private readonly path: string,
  ) {
    this.tail = layout.tail;
  }

  /** The base; undefined until the generations have been read once. Cached, and rebuilt only when a generation changed. */
  now(): string | undefined {
    const g = this.generations;
    if (!g.ready) return undefined;
    if (this.version !== g.version) {
      const base = this.layout.regionBase(g.keyPath(this.path));
      // Kept as the same string while unchanged (another region's generation moved): comparing it with a copy held elsewhere is then a pointer check.
      if (base !== this.base) this.base = base;
      this.version = g.version;
    }
    return this.base;
  }

  /**
   * The base, reading the generations first if needed. Rejects with a StoreError naming
   * `operation`, the caller's: the read itself is an internal step the caller never asked for.
   */
  async load(operation: string): Promise<string> {
    const now = this.now();
    if (now !== undefined) return now;
    try {
      await this.generations.load();
    } catch (err) {
      throw inOperation(operation, err, 'the region generations could not be read');
    }
    return this.now()!;
  }

  /** The Redis key of an entry: in the current generation, or before the generations are read, in none. */
  keyOf(k: string): string {
    return (this.now() ?? this.layout.regionBase(this.path)) + k + this.tail;
  }

  /** The user key of an entry key that starts with `base`. */
  userKey(entryKey: string, base: string): string {
    return this.layout.userKey(entryKey, base);
  }
}

/** A user key as it appears in Redis keys; throws InvalidOptionError for anything else than a string or a finite number. */
export function checkKey(key: Key): string {
  // Ill-formed UTF-16 would reach Redis as U+FFFD: '\uD800' and '\uDC00' would share one key.
  if (typeof key === 'string') return checkWellFormed(key, 'key', 'the key');
  if (typeof key === 'number' && Number.isFinite(key)) return String(key);
  throw new InvalidOptionError('key', `expected a string or a finite number, got ${typeof key === 'number' ? String(key) : typeof key}`);
}
