/**
 * The published package: ESM and CJS builds with type declarations, loadable by both module
 * systems, exporting the same API; and the tarball `npm pack` makes (its prepack script builds
 * dist/) installs and works in a project of its own.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

// dist/ is built before any test file runs when a checkout has none (test/helpers/build-once.ts).

const probe = `
  const t = m.createTrove();
  const r = t.region('r');
  r.set('k', { a: 1 }).then(() => r.get('k')).then((v) => {
    console.log(JSON.stringify({ exports: Object.keys(m).sort(), value: v, cold: new m.ColdCacheError('k', 5).code }));
    return t.close();
  });
`;

function run(args: string[]): Record<string, unknown> & { exports: string[]; value: unknown; cold: string } {
  const out = execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

describe('package builds', () => {
  it('ESM and CJS entry points load and work the same', () => {
    const esm = run(['--input-type=module', '-e', `import * as m from 'trove-cache'; ${probe}`]);
    const cjs = run(['-e', `const m = require('trove-cache'); ${probe}`]);
    expect(esm.value).toEqual({ a: 1 });
    expect(cjs.value).toEqual({ a: 1 });
    expect(esm.cold).toBe('COLD_CACHE');
    expect(cjs.exports).toEqual(esm.exports);
    for (const name of ['createTrove', 'createJsonCodec', 'ColdCacheError', 'InvalidOptionError', 'TimeoutError']) expect(esm.exports).toContain(name);
    // Handles are types only: nothing to construct outside createTrove.
    for (const name of ['Trove', 'Region', 'RegionHandle', 'TroveImpl']) expect(esm.exports).not.toContain(name);
  });

  it('loads msgpackr only once a msgpack region encodes or decodes, from ESM and CJS', () => {
    // require.cache is the CommonJS loader's, which msgpackr goes through from both builds.
    const msgpack = `
      const loaded = () => Object.keys(cache).some((f) => f.includes('/msgpackr/'));
      const before = loaded();
      const t = m.createTrove();
      const r = t.region('r', { codec: 'msgpack' });
      const created = loaded();
      r.set('k', new Map([[1, 2]])).then(() => r.get('k')).then((v) => {
        console.log(JSON.stringify({ before, created, after: loaded(), value: [...v] }));
        return t.close();
      });
    `;
    const esm = run([
      '--input-type=module',
      '-e',
      `import * as m from 'trove-cache'; import { createRequire } from 'node:module'; const cache = createRequire(import.meta.url).cache; ${msgpack}`,
    ]);
    const cjs = run(['-e', `const m = require('trove-cache'); const cache = require.cache; ${msgpack}`]);
    for (const probed of [esm, cjs]) expect(probed).toEqual({ before: false, created: false, after: true, value: [[1, 2]] });
  });

  it('ships type declarations for both', () => {
    expect(existsSync(`${root}dist/index.d.ts`)).toBe(true);
    expect(existsSync(`${root}dist/index.d.cts`)).toBe(true);
  });
});

describe('npm pack', () => {
  const win = process.platform === 'win32';
  const npm = win ? 'npm.cmd' : 'npm';
  let tmp: string | undefined;

  afterAll(() => {
    if (!tmp) return;
    // The copy's node_modules is a link to the working tree's: unlink it before removing the rest.
    try {
      unlinkSync(join(tmp, 'src', 'node_modules'));
    } catch {}
    rmSync(tmp, { recursive: true, force: true });
  });

  function sh(cmd: string, args: string[], cwd: string): string {
    try {
      return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: 'pipe', shell: win && cmd === npm });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
    }
  }

  it('packs a fresh build with the license, and the tarball installs and loads from ESM and CJS', () => {
    tmp = mkdtempSync(join(tmpdir(), 'trove-pack-'));
    // Pack a copy of the working tree without dist/, as a fresh clone would be: prepack must build
    // it, and the shared working tree's dist/ is left alone.
    const src = join(tmp, 'src');
    const out = join(tmp, 'out');
    const app = join(tmp, 'app');
    const skip = new Set(['node_modules', '.git', 'dist', 'coverage', '.tmp']);
    mkdirSync(src);
    for (const entry of readdirSync(root)) {
      if (!skip.has(entry)) cpSync(join(root, entry), join(src, entry), { recursive: true });
    }
    symlinkSync(join(root, 'node_modules'), join(src, 'node_modules'), win ? 'junction' : 'dir');
    mkdirSync(out);
    sh(npm, ['pack', '--pack-destination', out], src);

    const tarballs = readdirSync(out).filter((f) => f.endsWith('.tgz'));
    const { version } = JSON.parse(readFileSync(join(src, 'package.json'), 'utf8')) as { version: string };
    expect(tarballs).toEqual([`trove-cache-${version}.tgz`]);
    const tarball = join(out, tarballs[0]!);
    const listed = sh('tar', ['-tzf', tarball], out)
      .split('\n')
      .filter(Boolean)
      .map((p) => p.replace(/^package\//, ''));
    for (const f of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts', 'LICENSE', 'README.md', 'package.json']) {
      expect(listed).toContain(f);
    }
    // Nothing but the build and the three top-level files.
    expect(listed.filter((f) => !f.startsWith('dist/') && !['LICENSE', 'README.md', 'package.json'].includes(f))).toEqual([]);

    // A project of its own, depending on the tarball only (its dependencies come from the npm cache
    // or the registry).
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'trove-pack-scratch', version: '1.0.0', private: true }));
    sh(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], app);
    writeFileSync(
      join(app, 'esm.mjs'),
      `import { createTrove } from 'trove-cache';
const trove = createTrove();
const users = trove.region('users');
await users.set('u1', { name: 'Ada', via: 'esm' });
console.log(JSON.stringify(await users.get('u1')));
await trove.close();
`,
    );
    writeFileSync(
      join(app, 'cjs.cjs'),
      `const { createTrove } = require('trove-cache');
const trove = createTrove();
const users = trove.region('users');
users
  .set('u1', { name: 'Ada', via: 'cjs' })
  .then(() => users.get('u1'))
  .then((v) => {
    console.log(JSON.stringify(v));
    return trove.close();
  });
`,
    );
    expect(sh(process.execPath, ['esm.mjs'], app)).toBe('{"name":"Ada","via":"esm"}\n');
    expect(sh(process.execPath, ['cjs.cjs'], app)).toBe('{"name":"Ada","via":"cjs"}\n');
    // A limit, not a wait: the tarball's own build (tsup with declarations) takes about a minute
    // on a quiet 2-core machine, and passed three minutes beside two busy loops and the suite.
  }, 300_000);
});
