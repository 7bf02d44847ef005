/**
 * The request-side logic of `cacheRoute`, the same in every framework: a GET goes through the
 * region's `getOrSet`, whose factory is the handler itself. So concurrent identical requests, in
 * this process and in others, run the handler once (single-flight and the Redis lock); a stale
 * response is refreshed by one request while the others are answered the stale one; a failing
 * handler is answered by the stale response when there is one (fail-safe).
 *
 * The framework supplies `run`: start the handler with its response held back, and resolve with
 * that response once it is complete, before anything is sent. What to send is then decided here:
 *
 * - `hit`: the handler did not run; answer the entry.
 * - `own`: the handler ran for this request; send its held response as it is. The computing
 *   request always gets its own response (even when a `softTimeout` answered the others a stale
 *   one), except:
 * - `replace`: the handler ran and failed (status 500 or more) and fail-safe gave a stale entry:
 *   answer that one instead.
 * - `pass`: run the handler normally, nothing held: a HEAD not in the cache, a method other than
 *   GET and HEAD, a request that waited for another whose response was not storable (a cookie,
 *   `no-store`, a 404: such a response is never shared), or a cache that could not be used.
 * - `bypass`: the request skips the cache (skip header, allowed): run the handler inside
 *   `trove.bypass`, so every cached call in it runs uncached, and store nothing.
 */
import type { Region, Trove } from 'trove-cache';
import { type HeaderBag, pickHeaders, verdict } from './capture-rules.js';
import { type CachedResponse, isCachedResponse, NOT_STORED, toCached } from './cached-response.js';
import type { ResolvedRouteOptions } from './options.js';
import { currentRecord } from './request-analysis.js';
import type { RequestView } from './request-view.js';
import { routeKey, routeTags } from './route-key.js';
import { shouldSkip } from './skip.js';

/** A handler's complete response, held back. `body` undefined: it could not be read whole (a stream). */
export interface HeldResponse {
  status: number;
  headers: HeaderBag;
  body: string | Uint8Array | undefined;
}

export type Outcome =
  | { readonly kind: 'hit'; readonly entry: CachedResponse }
  | { readonly kind: 'own' }
  | { readonly kind: 'replace'; readonly entry: CachedResponse }
  | { readonly kind: 'pass' }
  | { readonly kind: 'bypass' };

const PASS: Outcome = { kind: 'pass' };
const OWN: Outcome = { kind: 'own' };
const BYPASS: Outcome = { kind: 'bypass' };

/** Thrown by the factory when the handler answered 500 or more: fail-safe may answer a stale entry. */
class HandlerFailure extends Error {
  constructor(status: number) {
    super(`the handler answered ${status}`);
  }
}

/** A route's cache: its options and its region handle. */
export class RouteCache<Req> {
  private readonly region: Region<CachedResponse | typeof NOT_STORED>;

  constructor(
    trove: Trove,
    readonly opts: ResolvedRouteOptions<Req>,
  ) {
    this.region = trove.region(opts.region);
  }

  /** The value of the `Vary` header a response of this route carries (undefined: vary on no header). */
  get varyHeader(): string | undefined {
    return this.opts.varyHeaders.length === 0 ? undefined : this.opts.varyHeaders.join(', ');
  }

  /** What to do with a request; `run` starts its handler with the response held back. */
  async decide(view: RequestView, req: Req, run: () => Promise<HeldResponse>): Promise<Outcome> {
    const method = view.method;
    if (method !== 'GET' && method !== 'HEAD') return PASS;
    if (this.opts.skip !== undefined && shouldSkip(view, req, this.opts.skip)) {
      const record = currentRecord();
      if (record !== undefined) record.skipped = true;
      return BYPASS;
    }
    const key = routeKey(view, req, this.opts);
    if (method === 'HEAD') {
      // A HEAD has no body to store: answered from the GET's entry, or by the handler.
      const entry = await this.region.get(key).catch(() => undefined);
      return isCachedResponse(entry) ? { kind: 'hit', entry } : PASS;
    }
    return this.readThrough(key, routeTags(view, req, this.opts), run);
  }

  private async readThrough(key: string, tags: string[], run: () => Promise<HeldResponse>): Promise<Outcome> {
    const opts = this.opts;
    let handler: Promise<HeldResponse> | undefined;
    let answered = false;
    const factory = async (): Promise<CachedResponse | typeof NOT_STORED> => {
      // An eager refresh configured on the region would call this after the request was answered:
      // there is no handler to run then.
      if (answered) throw new Error('a cached route cannot be refreshed in the background: do not set eagerRefresh on its region');
      handler = run();
      const held = await handler;
      const bytes = held.body === undefined ? undefined : typeof held.body === 'string' ? Buffer.byteLength(held.body) : held.body.byteLength;
      const v = verdict(held.status, held.headers, bytes, opts);
      if (v === 'failure') throw new HandlerFailure(held.status);
      if (v === 'skip') return NOT_STORED;
      return toCached(held.status, pickHeaders(held.headers, opts.headers), held.body!);
    };
    let value: CachedResponse | typeof NOT_STORED | undefined;
    try {
      value = await this.region.getOrSet(key, factory, {
        tags,
        // The handler can only run for the request that finds the entry stale: never behind it.
        staleRefresh: 'blocking',
        shouldCache: (v) => v !== NOT_STORED,
        ...(opts.ttl === undefined ? {} : { ttl: opts.ttl }),
        ...(opts.freshFor === undefined ? {} : { freshFor: opts.freshFor }),
      });
    } catch {
      value = undefined;
    }
    answered = true;
    if (handler !== undefined) {
      const held = await handler.catch(() => undefined);
      if (held !== undefined && held.status >= 500 && isCachedResponse(value)) return { kind: 'replace', entry: value };
      return OWN;
    }
    return isCachedResponse(value) ? { kind: 'hit', entry: value } : PASS;
  }
}
