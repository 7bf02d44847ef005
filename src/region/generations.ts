import type { Store } from '../store/index.js';
import { newToken } from './tokens.js';

/**
 * The current generation token of every region path, kept locally so a hit costs no round trip.
 * Entry keys embed the tokens of their region and every ancestor, so replacing one token
 * invalidates the region and everything below it in O(1): old keys are simply never read again.
 * A path never invalidated has the token '' and keys without a marker.
 */
export class Generations {
  private tokens = new Map<string, string>();
  private loaded = false;
  private loading: Promise<void> | undefined;
  /** Bumped on every change, so regions can cache their key prefix and notice changes cheaply. */
  version = 0;

  constructor(
    private readonly store: Store,
    private readonly hashKey: string,
  ) {}

  /** Whether the tokens have been read at least once (keys can be built without waiting). */
  get ready(): boolean {
    return this.loaded;
  }

  /** Reads every token from the store (at start, after a lost broadcast, and periodically). */
  load(): Promise<void> {
    this.loading ??= this.store
      .hashGetAll(this.hashKey)
      .then((all) => {
        const next = new Map(Object.entries(all));
        if (!sameMap(next, this.tokens)) {
          this.tokens = next;
          this.version++;
        }
        this.loaded = true;
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  tokenOf(path: string): string {
    return this.tokens.get(path) ?? '';
  }

  /** Applies a token learnt from a broadcast or set locally. */
  apply(path: string, token: string): void {
    if (this.tokens.get(path) === token) return;
    this.tokens.set(path, token);
    this.version++;
  }

  /** The region path as it appears in keys: each segment followed by `@token` once it has been invalidated. */
  keyPath(path: string): string {
    let out = '';
    let prefix = '';
    for (const seg of path.split('.')) {
      prefix = prefix === '' ? seg : `${prefix}.${seg}`;
      const token = this.tokenOf(prefix);
      out += (out === '' ? '' : '.') + (token === '' ? seg : `${seg}@${token}`);
    }
    return out;
  }

  /**
   * Whether a key path (as stored) is the current one: every segment's token matches.
   * Used by the sweep to find entries of invalidated generations.
   */
  isCurrent(keyPath: string): boolean {
    let prefix = '';
    for (const seg of keyPath.split('.')) {
      const at = seg.indexOf('@');
      const name = at < 0 ? seg : seg.slice(0, at);
      const token = at < 0 ? '' : seg.slice(at + 1);
      prefix = prefix === '' ? name : `${prefix}.${name}`;
      if (this.tokenOf(prefix) !== token) return false;
    }
    return true;
  }

  /** Invalidates a region path (and so every path below it): one atomic HSET + PUBLISH. */
  async invalidate(path: string, channel: string, origin: string): Promise<string> {
    const token = newToken();
    await this.store.hashSetAndPublish(this.hashKey, [[path, token]], channel, JSON.stringify({ g: [path, token], o: origin }));
    this.apply(path, token);
    return token;
  }
}

function sameMap(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
