/**
 * The exporters' package entry points, from the build: `trove-cache/otel` and
 * `trove-cache/prometheus` load from ESM and CJS (with their type declarations), share the main
 * entry's classes instead of bundling a copy, keep no process alive, and declare exactly the API of
 * their committed reports (etc/trove-cache-otel.api.md, etc/trove-cache-prometheus.api.md); and
 * the main entry works in a project where neither prom-client nor @opentelemetry/api is installed.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig, ExtractorLogLevel, type ExtractorMessage } from '@microsoft/api-extractor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TELEMETRY = ['prom-client', '@opentelemetry'];
const ENTRIES = {
  './otel': 'integrations/otel/index',
  './prometheus': 'integrations/prometheus/index',
  './keyv': 'integrations/keyv/index',
  './express': 'integrations/express/index',
  './fastify': 'integrations/fastify/index',
  './hono': 'integrations/hono/index',
} as const;

/** Newest modification time under `path` (directories too: a deleted file changes its folder's). */
function newest(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = st.mtimeMs;
  for (const entry of readdirSync(path)) t = Math.max(t, newest(join(path, entry)));
  return t;
}

/**
 * A build of the current sources: dist/ when it is newer than every input of the build, else a
 * private one (dist/ is not rebuilt in place: other suites read it concurrently, and tsup empties
 * it first).
 */
function build(): string {
  const dist = join(root, 'dist');
  const outputs = ['index.js', ...Object.values(ENTRIES).flatMap((e) => [`${e}.js`, `${e}.cjs`, `${e}.d.ts`, `${e}.d.cts`])].map((f) => join(dist, f));
  if (outputs.every((f) => existsSync(f))) {
    const built = Math.min(...outputs.map((f) => statSync(f).mtimeMs));
    const inputs = ['src', 'tsup.config.ts', 'package.json', 'tsconfig.json'].map((p) => newest(join(root, p)));
    if (built > Math.max(...inputs)) return dist;
  }
  const out = join(root, '.tmp', 'entry-points', 'dist');
  execFileSync(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js'), '--out-dir', out, '--silent'], { cwd: root, stdio: 'inherit' });
  return out;
}

let tmp: string;
/** The package with every dependency the working tree has, exporters' peers included. */
let full: string;
/** The package in a project where the telemetry packages are not installed. */
let bare: string;

/** A copy of the package (package.json and the build) with node_modules linking the working tree's, except `without`. */
function pack(dir: string, dist: string, without: readonly string[]): string {
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), readFileSync(join(root, 'package.json')));
  cpSync(dist, join(dir, 'dist'), { recursive: true });
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name.startsWith('.') || without.includes(name)) continue;
    symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name), process.platform === 'win32' ? 'junction' : 'dir');
  }
  return dir;
}

beforeAll(() => {
  const dist = build();
  // Outside the working tree: resolution must not climb to its node_modules.
  tmp = mkdtempSync(join(tmpdir(), 'trove-entry-points-'));
  full = pack(join(tmp, 'full'), dist, []);
  bare = pack(join(tmp, 'bare'), dist, TELEMETRY);
}, 180_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Runs a script in `cwd` (ESM with `.mjs`, CJS with `.cjs`); a process kept alive fails it at the timeout. */
function node(cwd: string, file: string, source: string): string {
  writeFileSync(join(cwd, file), source);
  try {
    return execFileSync(process.execPath, [file], { cwd, encoding: 'utf8', stdio: 'pipe', timeout: 20_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/**
 * Registers both exporters on a trove, reads a key, and checks that an options error thrown by
 * either is the main entry's InvalidOptionError. Does not stop them: closing the trove must be
 * enough for the process to exit.
 */
const probe = `
  const trove = createTrove();
  const registry = new Registry();
  registerTroveMetrics(trove, { registry });
  instrumentTrove(trove);
  const thrown = (f) => { try { f(); } catch (err) { return err instanceof InvalidOptionError; } };
  const shared = [thrown(() => registerTroveMetrics(trove, { registry: {} })), thrown(() => instrumentTrove(trove, { meter: {} }))];
  Promise.resolve(trove.region('r').get('k'))
    .then(() => registry.getSingleMetricAsString('trove_requests_total'))
    .then((text) => {
      console.log(JSON.stringify({ shared, text }));
      return trove.close();
    });
`;

describe('exporter entry points', () => {
  it('are exported for import and require, with type declarations, all built', () => {
    const pkg = JSON.parse(readFileSync(join(full, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    for (const [subpath, file] of Object.entries(ENTRIES)) {
      expect(pkg.exports[subpath]).toEqual({
        import: { types: `./dist/${file}.d.ts`, default: `./dist/${file}.js` },
        require: { types: `./dist/${file}.d.cts`, default: `./dist/${file}.cjs` },
      });
      for (const ext of ['.js', '.cjs', '.d.ts', '.d.cts']) expect(existsSync(join(full, 'dist', `${file}${ext}`)), `${file}${ext}`).toBe(true);
    }
  });

  it.each([
    [
      'ESM',
      'probe.mjs',
      "import { createTrove, InvalidOptionError } from 'trove-cache'; import { registerTroveMetrics } from 'trove-cache/prometheus'; import { instrumentTrove } from 'trove-cache/otel'; import { Registry } from 'prom-client';",
    ],
    [
      'CJS',
      'probe.cjs',
      "const { createTrove, InvalidOptionError } = require('trove-cache'); const { registerTroveMetrics } = require('trove-cache/prometheus'); const { instrumentTrove } = require('trove-cache/otel'); const { Registry } = require('prom-client');",
    ],
  ])('load and work from %s, sharing the main entry’s classes, and keep no process alive', (_, file, imports) => {
    const out = node(full, file, `${imports}\n${probe}`);
    const { shared, text } = JSON.parse(out.trim().split('\n').at(-1)!) as { shared: boolean[]; text: string };
    expect(shared).toEqual([true, true]);
    expect(text).toContain('trove_requests_total{region="r",function="",result="miss",tier=""} 1');
  });

  it('keep the main entry and the peers as imports, not bundled copies', () => {
    for (const file of Object.values(ENTRIES)) {
      for (const ext of ['.js', '.cjs']) {
        const code = readFileSync(join(full, 'dist', `${file}${ext}`), 'utf8');
        expect(code).toMatch(ext === '.js' ? /from "trove-cache"/ : /require\("trove-cache"\)/);
        // No class of the main entry defined here: it would not be the application's.
        expect(code).not.toMatch(/\b(class|var|let|const)\s+(TroveError|InvalidOptionError)\b/);
      }
    }
  });

  it('type-check from ESM and CJS consumers', () => {
    const consumer = join(full, 'consumer');
    mkdirSync(consumer, { recursive: true });
    const use = `
      const trove = createTrove();
      const metrics: TroveMetrics = registerTroveMetrics(trove, { registry: new Registry(), computeBuckets: [0.01, 1] });
      const instrumentation: TroveInstrumentation = instrumentTrove(trove, { meter: metrics_.getMeter('x'), sizeBuckets: [1024] });
      metrics.stop();
      instrumentation.stop();
      // @ts-expect-error: buckets are numbers
      registerTroveMetrics(trove, { computeBuckets: ['1'] });
    `;
    // The same imports in both: a .cts file resolves them with the require condition (index.d.cts).
    const imports = `import { createTrove } from 'trove-cache';
import { registerTroveMetrics, type TroveMetrics } from 'trove-cache/prometheus';
import { instrumentTrove, type TroveInstrumentation } from 'trove-cache/otel';
import { Registry } from 'prom-client';
import { metrics as metrics_ } from '@opentelemetry/api';
`;
    writeFileSync(join(consumer, 'esm.mts'), `${imports}${use}`);
    writeFileSync(join(consumer, 'cjs.cts'), `${imports}${use}`);
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          lib: ['ES2023'],
          types: ['node'],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
        },
        files: ['esm.mts', 'cjs.cts'],
      }),
    );
    try {
      execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', consumer], { cwd: consumer, encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      const e = err as { stdout?: string; message: string };
      throw new Error(`the consumers do not type-check:\n${e.stdout ?? e.message}`);
    }
  }, 60_000);
});

/** The names dist/index.d.ts exports (its closing `export { … }`). */
function mainExports(): Set<string> {
  const dts = readFileSync(join(full, 'dist', 'index.d.ts'), 'utf8');
  const list = /export \{([^}]*)\};?\s*$/.exec(dts)?.[1] ?? '';
  return new Set(
    list.split(',').map((s) =>
      s
        .trim()
        .replace(/^type /, '')
        .split(' as ')
        .at(-1)!
        .trim(),
    ),
  );
}

describe('exporter API reports', () => {
  it.each(['otel', 'prometheus', 'keyv', 'express', 'fastify', 'hono'])(
    'trove-cache/%s declares exactly the API in its committed report',
    (name) => {
      const configPath = join(root, `api-extractor.${name}.json`);
      const config = ExtractorConfig.loadFile(configPath);
      const entry = join(full, 'dist', 'integrations', name, 'index.d.ts');
      config.mainEntryPointFilePath = entry;
      config.compiler = { ...config.compiler, overrideTsconfig: { ...config.compiler?.overrideTsconfig, files: [entry] } };
      config.apiReport = { ...config.apiReport!, enabled: true, reportTempFolder: join(tmp, 'api-report') };
      const messages: ExtractorMessage[] = [];
      const prepared = ExtractorConfig.prepare({ configObject: config, configObjectFullPath: configPath, packageJsonFullPath: join(full, 'package.json') });
      const result = Extractor.invoke(prepared, {
        localBuild: false,
        messageCallback: (message) => {
          messages.push(message);
          message.handled = true;
        },
      });
      if (result.apiReportChanged) {
        throw new Error(
          `the API of trove-cache/${name} changed: run npm run api and commit etc/trove-cache-${name}.api.md (the new report: ${join(tmp, 'api-report')})`,
        );
      }
      // The main entry's types are imported by the package's own name, which API Extractor takes for a
      // local module: it reports them as forgotten exports. Any other is an internal type leaking.
      const main = mainExports();
      expect(main.has('Trove')).toBe(true);
      const problems = messages
        .filter((m) => m.logLevel === ExtractorLogLevel.Error || m.logLevel === ExtractorLogLevel.Warning)
        .filter((m) => !(m.messageId === 'ae-forgotten-export' && main.has(/The symbol "([^"]+)"/.exec(m.text)?.[1] ?? '')))
        .map((m) => `${m.messageId}: ${m.text}`);
      expect(problems).toEqual([]);
      expect(result.errorCount).toBe(0);
    },
    120_000,
  );
});

describe('the main entry without the telemetry packages', () => {
  it('loads and works from ESM and CJS where prom-client and @opentelemetry/api are not installed', () => {
    const use = `const t = createTrove(); const r = t.region('r');
      r.set('k', 1).then(() => r.get('k')).then((v) => { console.log(JSON.stringify(v)); return t.close(); });`;
    expect(node(bare, 'main.mjs', `import { createTrove } from 'trove-cache';\n${use}`)).toBe('1\n');
    expect(node(bare, 'main.cjs', `const { createTrove } = require('trove-cache');\n${use}`)).toBe('1\n');
    // The packages really are absent there: the exporters cannot load.
    expect(() => node(bare, 'prom.mjs', "import 'trove-cache/prometheus';")).toThrow(/Cannot find package 'prom-client'/);
    expect(() => node(bare, 'otel.cjs', "require('trove-cache/otel');")).toThrow(/Cannot find module '@opentelemetry\/api'/);
  });

  it('names neither package in its build', () => {
    for (const file of ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts']) {
      const code = readFileSync(join(full, 'dist', file), 'utf8');
      for (const name of TELEMETRY) expect(code.includes(name), `${name} in dist/${file}`).toBe(false);
    }
  });
});

describe('trove-cache/keyv', () => {
  it.each([
    [
      'ESM',
      'keyv.mjs',
      "import { createTrove, InvalidOptionError } from 'trove-cache'; import { TroveKeyvStore } from 'trove-cache/keyv'; import Keyv from 'keyv';",
    ],
    [
      'CJS',
      'keyv.cjs',
      "const { createTrove, InvalidOptionError } = require('trove-cache'); const { TroveKeyvStore } = require('trove-cache/keyv'); const { Keyv } = require('keyv');",
    ],
  ])('loads and works from %s as a Keyv store, sharing the main entry’s classes', (_, file, imports) => {
    const use = `
      const trove = createTrove();
      const keyv = new Keyv({ store: new TroveKeyvStore(trove.region('kv')) });
      let shared = false;
      try { new TroveKeyvStore({}); } catch (err) { shared = err instanceof InvalidOptionError; }
      keyv.set('k', { a: 1 }).then(() => keyv.get('k')).then((v) => { console.log(JSON.stringify({ v, shared })); return trove.close(); });`;
    expect(JSON.parse(node(full, file, `${imports}\n${use}`).trim())).toEqual({ v: { a: 1 }, shared: true });
  });
});

describe('trove-cache/express, trove-cache/fastify, trove-cache/hono', () => {
  const names = ['express', 'fastify', 'hono'];
  const use = `
    const trove = createTrove();
    const refused = (f) => { try { f(); return false; } catch (err) { return err instanceof InvalidOptionError; } };
    const kinds = [typeof web.express.troveMiddleware(trove), typeof web.express.cacheRoute(trove), typeof web.fastify.trovePlugin,
      typeof web.fastify.cacheRoute(trove).preHandler, typeof web.hono.troveMiddleware(trove), typeof web.hono.cacheRoute(trove)];
    const shared = [web.express, web.fastify, web.hono].map((m) => refused(() => m.cacheRoute(trove, { skipHeader: 'x-skip' })));
    console.log(JSON.stringify({ kinds, shared }));
    trove.close();`;
  it.each([
    [
      'ESM',
      'web.mjs',
      `import { createTrove, InvalidOptionError } from 'trove-cache';\n${names.map((n) => `import * as ${n} from 'trove-cache/${n}';`).join('\n')}\nconst web = { ${names.join(', ')} };`,
    ],
    [
      'CJS',
      'web.cjs',
      `const { createTrove, InvalidOptionError } = require('trove-cache');\nconst web = { ${names.map((n) => `${n}: require('trove-cache/${n}')`).join(', ')} };`,
    ],
  ])('load from %s, sharing the main entry’s classes', (_, file, imports) => {
    expect(JSON.parse(node(full, file, `${imports}\n${use}`).trim())).toEqual({
      kinds: ['function', 'function', 'function', 'function', 'function', 'function'],
      shared: [true, true, true],
    });
  });
});
