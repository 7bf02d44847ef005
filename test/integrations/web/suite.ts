/**
 * The web integrations' behaviour, run over real HTTP against each framework (see frameworks.ts):
 * route caching (exactly-once handler runs, what is never stored, vary, HEAD, fail-safe, skip
 * header, clearing) and per-request analysis (attribution, Server-Timing, the log line).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { InvalidOptionError, type Trove } from '../../../src/index.js';
import { invalidatePath, invalidateRoute } from '../../../src/integrations/web/invalidate.js';
import { fakeDate, until, useRedisServer, useTroves } from '../../helpers/troves.js';
import type { AppSpec, Framework } from './frameworks.js';

let prefixes = 0;

export function describeWebIntegration(fw: Framework): void {
  describe(`${fw.name} integration`, () => {
    const redis = useRedisServer();
    const troves = useTroves(() => ({ redis: redis.server.url, prefix: `web-${fw.name}-${process.pid}-${prefixes++}` }));

    async function start(trove: Trove, spec: AppSpec): Promise<string> {
      const app = await fw.start(trove, spec);
      onTestFinished(() => app.close());
      return app.url;
    }

    it('caches a GET response: the handler runs once, and status, allowed headers and body are replayed', async () => {
      const trove = troves.open();
      let runs = 0;
      const url = await start(trove, {
        routes: [
          {
            path: '/items/:id',
            cache: { ttl: '1m' },
            handler: ({ params }) => ({
              headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'public, max-age=5', 'x-extra': 'handler' },
              body: JSON.stringify({ id: params.id, run: ++runs }),
            }),
          },
        ],
      });
      const first = await fetch(`${url}/items/7?b=2&a=1`);
      expect(first.status).toBe(200);
      expect(first.headers.get('x-extra')).toBe('handler');
      expect(await first.json()).toEqual({ id: '7', run: 1 });
      // The same query in another order is the same entry.
      const second = await fetch(`${url}/items/7?a=1&b=2`);
      expect(second.status).toBe(200);
      expect(await second.json()).toEqual({ id: '7', run: 1 });
      expect(second.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(second.headers.get('cache-control')).toBe('public, max-age=5');
      // Not in the allowlist: not stored, not replayed.
      expect(second.headers.get('x-extra')).toBeNull();
      expect(await (await fetch(`${url}/items/8`)).json()).toEqual({ id: '8', run: 2 });
      expect(runs).toBe(2);
    });

    it('runs the handler once for a burst of concurrent identical requests', async () => {
      const trove = troves.open();
      let runs = 0;
      let misses = 0;
      trove.on('miss', (e) => {
        if (e.region === 'http') misses++;
      });
      let release: () => void = () => {};
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const url = await start(trove, {
        routes: [
          {
            path: '/burst',
            cache: {},
            handler: async () => {
              runs++;
              await gate;
              return { headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `computed ${runs}` };
            },
          },
        ],
      });
      const responses = Array.from({ length: 20 }, () => fetch(`${url}/burst`).then(async (r) => [r.status, await r.text()] as const));
      // Every request has read the cache and is waiting on the one computation.
      await until(() => misses === 20, 10_000, '20 misses');
      release();
      expect(await Promise.all(responses)).toEqual(Array.from({ length: 20 }, () => [200, 'computed 1']));
      expect(runs).toBe(1);
    });

    it('never stores responses that set a cookie, say no-store or private, have another status, or answer another method', async () => {
      const trove = troves.open();
      const runs: Record<string, number> = {};
      const count = (name: string) => {
        runs[name] = (runs[name] ?? 0) + 1;
        return String(runs[name]);
      };
      const url = await start(trove, {
        routes: [
          { path: '/cookie', cache: {}, handler: () => ({ headers: { 'set-cookie': 'session=abc' }, body: count('cookie') }) },
          { path: '/no-store', cache: {}, handler: () => ({ headers: { 'cache-control': 'no-store' }, body: count('no-store') }) },
          { path: '/private', cache: {}, handler: () => ({ headers: { 'cache-control': 'private, max-age=60' }, body: count('private') }) },
          { path: '/missing', cache: {}, handler: () => ({ status: 404, body: count('missing') }) },
          { path: '/missing-cached', cache: { statuses: [200, 404] }, handler: () => ({ status: 404, body: count('missing-cached') }) },
          { method: 'POST', path: '/post', cache: {}, handler: () => ({ body: count('post') }) },
        ],
      });
      for (let i = 0; i < 2; i++) {
        for (const path of ['/cookie', '/no-store', '/private', '/missing', '/missing-cached']) await (await fetch(`${url}${path}`)).text();
        await (await fetch(`${url}/post`, { method: 'POST' })).text();
      }
      expect(runs).toEqual({ cookie: 2, 'no-store': 2, private: 2, missing: 2, 'missing-cached': 1, post: 2 });
      const hit = await fetch(`${url}/missing-cached`);
      expect([hit.status, await hit.text()]).toEqual([404, '1']);
    });

    it('varies on normalised header values: primary language, upper-case country', async () => {
      const trove = troves.open();
      let runs = 0;
      const url = await start(trove, {
        routes: [
          {
            path: '/hello',
            cache: { vary: ['accept-language', 'cf-ipcountry'] },
            handler: () => ({ headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `run ${++runs}` }),
          },
        ],
      });
      const get = async (lang: string, country: string) => {
        const r = await fetch(`${url}/hello`, { headers: { 'accept-language': lang, 'cf-ipcountry': country } });
        return { body: await r.text(), vary: r.headers.get('vary') };
      };
      const a = await get('fr-CH, fr;q=0.9, en;q=0.8', 'ch');
      expect(a.body).toBe('run 1');
      expect(a.vary?.toLowerCase()).toContain('accept-language, cf-ipcountry');
      const b = await get('fr', 'CH');
      expect(b.body).toBe('run 1');
      expect(b.vary?.toLowerCase()).toContain('accept-language, cf-ipcountry');
      expect((await get('en-US,en;q=0.5', 'CH')).body).toBe('run 2');
      expect((await get('de;q=0.2, FR;q=0.9', 'de')).body).toBe('run 3');
      expect(runs).toBe(3);
    });

    it('answers HEAD from the GET entry; a HEAD not cached runs the handler and stores nothing', async () => {
      const trove = troves.open();
      let runs = 0;
      const body = 'héllo, wörld';
      const url = await start(trove, {
        routes: [{ path: '/page/:n', cache: {}, handler: () => ({ headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `${body} ${++runs}` }) }],
      });
      expect(await (await fetch(`${url}/page/1`)).text()).toBe(`${body} 1`);
      const head = await fetch(`${url}/page/1`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(`${body} 1`)));
      expect(head.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(await head.text()).toBe('');
      expect(runs).toBe(1);
      const coldHead = await fetch(`${url}/page/2`, { method: 'HEAD' });
      expect(coldHead.status).toBe(200);
      expect(runs).toBe(2);
      expect(await (await fetch(`${url}/page/2`)).text()).toBe(`${body} 3`);
      expect(runs).toBe(3);
    });

    it('round-trips binary bodies', async () => {
      const trove = troves.open();
      let runs = 0;
      const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
      const url = await start(trove, {
        routes: [
          {
            path: '/img',
            cache: {},
            handler: () => {
              runs++;
              return { headers: { 'content-type': 'image/png' }, body: bytes };
            },
          },
        ],
      });
      for (let i = 0; i < 2; i++) {
        const r = await fetch(`${url}/img`);
        expect(r.headers.get('content-type')).toBe('image/png');
        expect(new Uint8Array(await r.arrayBuffer())).toEqual(bytes);
      }
      expect(runs).toBe(1);
    });

    it('answers the stale response when the refreshing handler fails (fail-safe)', async () => {
      const trove = troves.open();
      troves.expectErrors();
      const clock = fakeDate();
      let runs = 0;
      const url = await start(trove, {
        routes: [
          {
            path: '/flaky',
            cache: { ttl: '1h', freshFor: '1s' },
            handler: () => {
              runs++;
              return runs === 1 ? { headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'good' } : { status: 503, body: 'upstream down' };
            },
          },
        ],
      });
      expect(await (await fetch(`${url}/flaky`)).text()).toBe('good');
      clock.advance(2_000);
      const stale = await fetch(`${url}/flaky`);
      expect([stale.status, await stale.text(), stale.headers.get('content-type')]).toEqual([200, 'good', 'text/plain; charset=utf-8']);
      expect(runs).toBe(2);
      // The failing source is left alone for the fail-safe backoff.
      expect(await (await fetch(`${url}/flaky`)).text()).toBe('good');
      expect(runs).toBe(2);
    });

    it('honours the skip header only when allowSkip says so: the request runs uncached and stores nothing', async () => {
      const trove = troves.open();
      let inner = 0;
      const compute = trove.cached(async (n: number) => ({ n, run: ++inner }), { name: 'inner', ttl: '1m' });
      let runs = 0;
      const url = await start(trove, {
        routes: [
          {
            path: '/s/:n',
            cache: { skipHeader: 'x-skip-trove-cache', allowSkip: (h) => h('x-operator-token') === 's3cret' },
            handler: async ({ params }) => {
              runs++;
              return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(await compute(Number(params.n))) };
            },
          },
        ],
      });
      const get = (path: string, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { headers }).then((r) => r.json());
      expect(await get('/s/1')).toEqual({ n: 1, run: 1 });
      // Not allowed: the header is ignored, the response comes from the cache.
      expect(await get('/s/1', { 'x-skip-trove-cache': '1', 'x-operator-token': 'wrong' })).toEqual({ n: 1, run: 1 });
      expect(runs).toBe(1);
      // Allowed: the handler runs, and so does the cached function inside it.
      expect(await get('/s/1', { 'x-skip-trove-cache': '1', 'x-operator-token': 's3cret' })).toEqual({ n: 1, run: 2 });
      expect(runs).toBe(2);
      // What the skipped request answered was not stored: the cached entry is still the first one.
      expect(await get('/s/1')).toEqual({ n: 1, run: 1 });
      expect(await get('/s/2', { 'x-skip-trove-cache': '1', 'x-operator-token': 's3cret' })).toEqual({ n: 2, run: 3 });
      expect(await get('/s/2')).toEqual({ n: 2, run: 4 });
      expect(runs).toBe(4);
    });

    it('refuses a skip header without allowSkip', async () => {
      const trove = troves.open();
      await expect(start(trove, { routes: [{ path: '/x', cache: { skipHeader: 'x-skip' }, handler: () => ({ body: '' }) }] })).rejects.toThrow(
        InvalidOptionError,
      );
    });

    it('clears by route, by route and params, by path and by tag', async () => {
      const trove = troves.open();
      let runs = 0;
      const url = await start(trove, {
        routes: [
          {
            path: '/users/:id',
            cache: { tags: (params) => [`user:${params.id}`] },
            handler: ({ params }) => ({ headers: { 'content-type': 'text/plain' }, body: `${params.id}:${++runs}` }),
          },
        ],
      });
      const get = (path: string) => fetch(`${url}${path}`).then((r) => r.text());
      expect([await get('/users/1'), await get('/users/1?x=1'), await get('/users/2')]).toEqual(['1:1', '1:2', '2:3']);
      await invalidateRoute(trove, '/users/:id', { id: 1 });
      expect([await get('/users/1'), await get('/users/1?x=1'), await get('/users/2')]).toEqual(['1:4', '1:5', '2:3']);
      await invalidateRoute(trove, '/users/:id');
      expect([await get('/users/1'), await get('/users/2')]).toEqual(['1:6', '2:7']);
      await trove.invalidateTags(['user:2']);
      expect([await get('/users/1'), await get('/users/2')]).toEqual(['1:6', '2:8']);
      await invalidatePath(trove, '/users/1?ignored=1');
      expect([await get('/users/1'), await get('/users/2')]).toEqual(['1:9', '2:8']);
    });

    it('attributes each request its own cache reads, in req.trove, Server-Timing and the log line', async () => {
      const trove = troves.open();
      const region = trove.region('data');
      await region.setMany([
        ['a', 1],
        ['b', 2],
        ['c', 3],
      ]);
      const lines: { obj: object; msg: string | undefined }[] = [];
      const logger = { debug: (obj: object, msg?: string) => lines.push({ obj, msg }) };
      let release: () => void = () => {};
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let waiting = 0;
      const url = await start(trove, {
        analysis: { serverTiming: true, logger },
        routes: [
          {
            path: '/read/:n',
            handler: async ({ params, report }) => {
              const n = Number(params.n);
              // Reads of both requests are in flight together (one MGET), then the gate opens.
              const reads = Promise.all([...['a', 'b', 'c'].slice(0, n).map((k) => region.get(k)), region.get(`absent-${n}`)]);
              waiting++;
              await gate;
              await reads;
              const r = report()!;
              return {
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ hits: r.hits, misses: r.misses, stale: r.stale, ops: r.operations.length }),
              };
            },
          },
          { path: '/cached', cache: {}, handler: () => ({ headers: { 'content-type': 'text/plain' }, body: 'x' }) },
        ],
      });
      const one = fetch(`${url}/read/1`);
      const three = fetch(`${url}/read/3`);
      await until(() => waiting === 2, 10_000, 'both requests reading');
      release();
      const [r1, r3] = await Promise.all([one, three]);
      expect(await r1.json()).toEqual({ hits: 1, misses: 1, stale: 0, ops: 2 });
      expect(await r3.json()).toEqual({ hits: 3, misses: 1, stale: 0, ops: 4 });
      expect(r1.headers.get('server-timing')).toMatch(/^trove;desc="1 hit, 1 miss";dur=\d+\.\d$/);
      expect(r3.headers.get('server-timing')).toMatch(/^trove;desc="3 hits, 1 miss";dur=\d+\.\d$/);
      const miss = await fetch(`${url}/cached`);
      expect(miss.headers.get('server-timing')).toMatch(/^trove;desc="1 miss";dur=/);
      const hit = await fetch(`${url}/cached`);
      expect(hit.headers.get('server-timing')).toMatch(/^trove;desc="1 hit";dur=/);
      await until(() => lines.length === 4, 10_000, 'four log lines');
      const messages = lines.map((l) => l.msg).sort();
      expect(messages[0]).toMatch(/^trove: GET \/cached 200: 1 hit in \d+\.\d ms$/);
      expect(messages[1]).toMatch(/^trove: GET \/cached 200: 1 miss in \d+\.\d ms$/);
      expect(messages[2]).toMatch(/^trove: GET \/read\/1 200: 1 hit, 1 miss in \d+\.\d ms$/);
      expect(lines.find((l) => l.msg?.includes('/read/3'))!.obj).toMatchObject({ method: 'GET', path: '/read/3', status: 200, trove: { hits: 3, misses: 1 } });
    });

    it('marks skipped requests in the analysis and runs their cached calls uncached', async () => {
      const trove = troves.open();
      let inner = 0;
      const compute = trove.cached(async () => ++inner, { name: 'n', ttl: '1m' });
      const url = await start(trove, {
        analysis: { serverTiming: true, skipHeader: 'x-skip-trove-cache', allowSkip: (h) => h('x-operator-token') === 's3cret' },
        routes: [{ path: '/n', handler: async () => ({ body: String(await compute()) }) }],
      });
      const get = (headers: Record<string, string> = {}) => fetch(`${url}/n`, { headers });
      expect(await (await get()).text()).toBe('1');
      const skipped = await get({ 'x-skip-trove-cache': '1', 'x-operator-token': 's3cret' });
      expect(await skipped.text()).toBe('2');
      expect(skipped.headers.get('server-timing')).toMatch(/^trove;desc="skipped, no cache reads";dur=0\.0$/);
      const notAllowed = await get({ 'x-skip-trove-cache': '1' });
      expect(await notAllowed.text()).toBe('1');
      expect(notAllowed.headers.get('server-timing')).toMatch(/^trove;desc="1 hit";/);
    });
  });
}
