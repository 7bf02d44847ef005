/** The web integrations' shared rules, one by one: vary normalisation, paths, keys, capture rules, Server-Timing. */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/index.js';
import { verdict } from '../../src/integrations/web/capture-rules.js';
import { bodyOf, toCached } from '../../src/integrations/web/cached-response.js';
import { checkRouteOptions } from '../../src/integrations/web/options.js';
import { canonicalPath, fillRoute } from '../../src/integrations/web/paths.js';
import { RequestRecord } from '../../src/integrations/web/request-analysis.js';
import { splitUrl } from '../../src/integrations/web/request-view.js';
import { canonicalQuery, pathTag, routeKey } from '../../src/integrations/web/route-key.js';
import { serverTiming } from '../../src/integrations/web/server-timing.js';
import { countryCode, primaryLanguage } from '../../src/integrations/web/vary.js';
import type { Trove } from '../../src/index.js';

describe('vary normalisation', () => {
  it.each([
    ['fr-CH, fr;q=0.9, en;q=0.8', 'fr'],
    ['en-US,en;q=0.5', 'en'],
    ['de;q=0.2, FR;q=0.9', 'fr'],
    ['da, en-gb;q=0.8, en;q=0.7', 'da'],
    ['*', ''],
    ['', ''],
    ['x;q=0', ''],
    ['zh-Hant-TW', 'zh'],
  ])('accept-language %j is %j', (header, expected) => {
    expect(primaryLanguage(header)).toBe(expected);
  });

  it.each([
    ['ch', 'CH'],
    [' us ', 'US'],
    ['T1', 'T1'],
    ['USA', ''],
    ['', ''],
  ])('country %j is %j', (header, expected) => {
    expect(countryCode(header)).toBe(expected);
  });
});

describe('paths and route patterns', () => {
  it('spells a path one way however it was escaped', () => {
    expect(canonicalPath('/caf%C3%A9')).toBe('/caf%C3%A9');
    expect(canonicalPath('/caf%c3%a9')).toBe('/caf%C3%A9');
    expect(canonicalPath('/café')).toBe('/caf%C3%A9');
    expect(canonicalPath('/a%2Fb/c')).toBe('/a%2Fb/c');
    expect(canonicalPath('/bad%zz')).toBe('/bad%zz');
    expect(canonicalPath('/plain/path-1')).toBe('/plain/path-1');
  });

  it('fills Express, Fastify and Hono patterns', () => {
    expect(fillRoute('/users/:id', { id: 42 })).toBe('/users/42');
    expect(fillRoute('/users/:id/posts/:post', { id: 'a b', post: 'é' })).toBe('/users/a%20b/posts/%C3%A9');
    expect(fillRoute('/files/*path', { path: 'a/b c' })).toBe('/files/a/b%20c');
    expect(fillRoute('/static/*', { '*': 'x/y' })).toBe('/static/x/y');
    expect(fillRoute('/posts/:id{[0-9]+}', { id: 7 })).toBe('/posts/7');
    expect(fillRoute('/api/:version?/items', {})).toBe('/api/items');
    expect(fillRoute('/items{/:page}', { page: 2 })).toBe('/items/2');
    expect(fillRoute('/items{/:page}', {})).toBe('/items');
    expect(() => fillRoute('/users/:id', {})).toThrow(/needs the parameter 'id'/);
    expect(pathTag(fillRoute('/w/:name', { name: 'café' }))).toBe(pathTag('/w/caf%c3%a9?x=1'));
  });

  it('splits absolute and relative URLs', () => {
    expect(splitUrl('/a/b?x=1&y=2')).toEqual({ path: '/a/b', query: 'x=1&y=2' });
    expect(splitUrl('http://h:1/a?x=1#f')).toEqual({ path: '/a', query: 'x=1' });
    expect(splitUrl('http://h:1')).toEqual({ path: '/', query: '' });
  });
});

describe('route keys', () => {
  const view = (url: string, headers: Record<string, string> = {}) => ({ method: 'GET', url, route: undefined, header: (n: string) => headers[n] });

  it('sorts query parameters by name and keeps repeated ones in order', () => {
    expect(canonicalQuery('b=2&a=1&a=0', true)).toBe('a=1&a=0&b=2');
    expect(canonicalQuery('utm_source=x&page=2', new Set(['page']))).toBe('page=2');
    expect(canonicalQuery('page=2', false)).toBe('');
  });

  it('adds normalised vary values and hashes long keys', () => {
    const opts = checkRouteOptions<unknown>({ vary: ['accept-language', 'cf-ipcountry'] });
    expect(routeKey(view('/p?b=1&a=2', { 'accept-language': 'fr-CH', 'cf-ipcountry': 'ch' }), {}, opts)).toBe('/p?a=2&b=1|accept-language=fr|cf-ipcountry=CH');
    const long = routeKey(view(`/p?q=${'x'.repeat(300)}`), {}, checkRouteOptions<unknown>({}));
    expect(long).toMatch(/^#[A-Za-z0-9_-]{43}$/);
    const fn = checkRouteOptions<{ tier: string }>({ key: () => 'custom', vary: (req) => [req.tier] });
    expect(routeKey(view('/ignored'), { tier: 'gold' }, fn)).toBe('custom|gold');
  });

  it('refuses invalid options', () => {
    expect(() => checkRouteOptions({ ttl: '1m', nope: 1 } as object)).toThrow(InvalidOptionError);
    expect(() => checkRouteOptions({ statuses: [99] })).toThrow(InvalidOptionError);
    expect(() => checkRouteOptions({ vary: ['bad header'] })).toThrow(InvalidOptionError);
    expect(() => checkRouteOptions({ skipHeader: 'x-skip' })).toThrow(/needs allowSkip/);
    expect(() => checkRouteOptions({ allowSkip: () => true })).toThrow(/without skipHeader/);
  });
});

describe('capture rules', () => {
  const rules = { statuses: new Set([200]), maxBodyBytes: 10 };
  it.each([
    [200, {}, 5, 'store'],
    [200, { 'set-cookie': ['a=1'] }, 5, 'skip'],
    [200, { 'cache-control': 'no-store' }, 5, 'skip'],
    [200, { 'cache-control': 'public, private' }, 5, 'skip'],
    [200, { 'cache-control': 'private="x"' }, 5, 'skip'],
    [200, { 'cache-control': 'public, max-age=60' }, 5, 'store'],
    [404, {}, 5, 'skip'],
    [500, {}, 5, 'failure'],
    [503, { 'set-cookie': 'a' }, 5, 'failure'],
    [200, {}, 11, 'skip'],
    [200, {}, undefined, 'skip'],
  ] as const)('status %i with %j and %s bytes: %s', (status, headers, bytes, expected) => {
    expect(verdict(status, headers, bytes, rules)).toBe(expected);
  });

  it('keeps textual UTF-8 bodies as text and other bodies as base64', () => {
    expect(toCached(200, { 'content-type': 'application/json' }, Buffer.from('{"a":"é"}'))).toEqual({
      s: 200,
      h: { 'content-type': 'application/json' },
      b: '{"a":"é"}',
    });
    const bytes = Uint8Array.from([0, 255, 1]);
    const png = toCached(200, { 'content-type': 'image/png' }, bytes);
    expect(png).toEqual({ s: 200, h: { 'content-type': 'image/png' }, b: 'AP8B', b64: true });
    expect(bodyOf(png)).toEqual(Buffer.from(bytes));
    // Declared as text but not UTF-8: kept as bytes, not mangled.
    expect(toCached(200, { 'content-type': 'text/plain' }, Uint8Array.from([0xff])).b64).toBe(true);
  });
});

describe('Server-Timing', () => {
  it('counts hits, stale answers and misses, and sums read time', () => {
    const record = new RequestRecord({} as Trove);
    expect(serverTiming(record)).toBe('trove;desc="no cache reads";dur=0.0');
    record.add({ region: 'r', key: 'a', result: 'hit', tier: 'near', durationMs: 0.04 });
    record.add({ region: 'r', key: 'b', result: 'hit', tier: 'store', durationMs: 1.5 });
    record.add({ region: 'r', key: 'c', result: 'hit', tier: 'store', durationMs: 1.1 });
    record.add({ region: 'r', key: 'd', result: 'miss', tier: undefined, durationMs: 9.8 });
    expect(serverTiming(record)).toBe('trove;desc="3 hits, 1 miss";dur=12.4');
    record.add({ region: 'r', key: 'e', result: 'stale', tier: 'store', durationMs: 1 });
    record.add({ region: 'r', key: 'f', result: 'miss', tier: undefined, durationMs: 1 });
    expect(serverTiming(record)).toBe('trove;desc="3 hits, 1 stale, 2 misses";dur=14.4');
    record.closed = true;
    record.add({ region: 'r', key: 'late', result: 'hit', tier: 'near', durationMs: 1 });
    expect(record.operations).toHaveLength(6);
  });
});
