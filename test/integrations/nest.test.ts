/**
 * NestJS over Trove, as a Nest project builds and runs it: the application in
 * fixtures/nest-app is compiled with tsc (experimentalDecorators, emitDecoratorMetadata: what
 * Nest's dependency injection needs, and what Vitest's transform does not emit) against the built
 * package, started as a child process and driven over HTTP, against a private redis-server.
 *
 * - `CacheModule` with a Keyv over `TroveKeyvStore`: a GET route cached by `CacheInterceptor` runs
 *   its handler once for two requests, its response is in Redis under the trove's key for the
 *   route's TTL, and another process of the application answers it without running the handler.
 * - A second build of the same application adds a service method decorated with
 *   `@trove.cached({ ttl: '1m' })`, compiled as a legacy decorator.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { packageBuild, projectWithPackage, root } from '../helpers/package-build.js';
import { until, useRedisServer, useTroves } from '../helpers/troves.js';

const fixture = join(root, 'test', 'integrations', 'fixtures', 'nest-app');
const redis = useRedisServer();
const troves = useTroves(() => ({ redis: redis.server.url, stats: false }));
let project: string;
let apps = 0;

/** Compiles the fixture with one of its tsconfig files; throws with tsc's diagnostics. */
function compile(tsconfig: string): void {
  try {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(project, tsconfig)], {
      cwd: project,
      encoding: 'utf8',
      stdio: 'pipe',
    });
  } catch (err) {
    const e = err as { stdout?: string; message: string };
    throw new Error(`tsc -p ${tsconfig} failed:\n${e.stdout || e.message}`);
  }
}

beforeAll(() => {
  const dist = packageBuild('nest-app', ['index.js', 'index.d.ts', 'integrations/keyv/index.js', 'integrations/keyv/index.d.ts']);
  // Outside the working tree: resolution must not climb to its node_modules.
  project = projectWithPackage(mkdtempSync(join(tmpdir(), 'trove-nest-')), dist);
  cpSync(fixture, project, { recursive: true });
  compile('tsconfig.json');
}, 180_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

interface App {
  url: string;
  get<T>(path: string): Promise<T>;
  /** Stops it as a deploy would (SIGTERM); resolves to the lines it printed as JSON. */
  stop(): Promise<unknown[]>;
}

/** Starts a compiled entry point with the trove configured by `env`; resolves once it listens. */
async function start(main: string, env: Record<string, string>): Promise<App> {
  // The runner's own TROVE_* variables are not the application's (an unknown one is refused).
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TROVE_')));
  const child: ChildProcess = spawn(process.execPath, [join(project, 'out', main)], { cwd: project, env: { ...base, ...env }, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = (): unknown[] =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as unknown);
  const listening = (): string | undefined =>
    (lines().find((l) => typeof (l as { listening?: unknown }).listening === 'string') as { listening: string } | undefined)?.listening;
  await until(
    () => {
      if (child.exitCode !== null) throw new Error(`${main} exited with ${child.exitCode}:\n${stderr}`);
      return listening() !== undefined;
    },
    20_000,
    `${main} listening`,
  );
  const url = listening()!.replace('[::1]', '127.0.0.1');
  return {
    url,
    get: async <T>(path: string): Promise<T> => {
      const res = await fetch(`${url}${path}`);
      expect(res.status, `GET ${path}: ${stderr}`).toBe(200);
      return (await res.json()) as T;
    },
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      expect(stderr).toBe('');
      return lines();
    },
  };
}

describe('NestJS CacheModule over TroveKeyvStore', () => {
  it('caches a route through CacheInterceptor into Trove: the handler runs once, the response is in Redis under the trove’s key', async () => {
    const prefix = `nest${++apps}`;
    const env = { TROVE_REDIS_URL: redis.server.url, TROVE_PREFIX: prefix, TROVE_VERSION: 'v1', TROVE_STATS: 'off', TROVE_COMMAND_TIMEOUT: '10s' };
    const app = await start('main.js', env);
    const body = { items: ['anvil', 'rope'], run: 1 };
    expect(await app.get('/items')).toEqual(body);
    expect(await app.get('/items')).toEqual(body);
    expect(await app.get('/runs')).toEqual({ runs: 1 });

    // Under the trove's key: region http, Keyv's namespace below it, the interceptor's key (the URL).
    const trove = troves.open({ prefix, version: 'v1' });
    const region = trove.region('http.keyv');
    const stored = await region.get<string>('keyv:/items');
    expect(JSON.parse(stored!)).toEqual({ value: body, expires: expect.any(Number) });
    // Read after the get: keyOf answers from the region's generation, which the get has loaded.
    const key = region.keyOf('keyv:/items');
    // <prefix>:<version>:<region path, each part with its generation token>:<key>
    expect(key).toMatch(new RegExp(`^${prefix}:v1:http(@[\\w-]+)?\\.keyv(@[\\w-]+)?:keyv:/items$`));
    const client = new Redis(redis.server.url);
    onTestFinished(() => {
      client.disconnect();
    });
    const pttl = await client.pttl(key);
    expect(pttl).toBeGreaterThan(50_000);
    expect(pttl).toBeLessThanOrEqual(60_000);

    // Another process of the application answers from Redis without running the handler.
    const other = await start('main.js', env);
    expect(await other.get('/items')).toEqual(body);
    expect(await other.get('/runs')).toEqual({ runs: 0 });

    // Shutdown disconnects the cache manager's stores, then closes the trove.
    expect(await other.stop()).toContainEqual({ closed: true });
    expect(await app.stop()).toContainEqual({ closed: true });
  }, 60_000);

  it('runs a service method decorated with @trove.cached({ ttl: "1m" }), compiled as a legacy decorator, once across processes', async () => {
    compile('tsconfig.cached.json');
    const env = { TROVE_REDIS_URL: redis.server.url, TROVE_PREFIX: `nest${++apps}`, TROVE_STATS: 'off', TROVE_COMMAND_TIMEOUT: '10s' };
    const app = await start('main-cached.js', env);
    const books = ['book 7.1', 'book 7.2'];
    expect(await app.get('/top-books')).toEqual(books);
    expect(await app.get('/top-books')).toEqual(books);
    expect(await app.get('/catalog/computed')).toEqual({ computed: 1 });
    const other = await start('main-cached.js', env);
    expect(await other.get('/top-books')).toEqual(books);
    expect(await other.get('/catalog/computed')).toEqual({ computed: 0 });
    expect(await other.stop()).toContainEqual({ closed: true });
    expect(await app.stop()).toContainEqual({ closed: true });
  }, 120_000);
});
