/**
 * Child processes of the tests run their TypeScript entry bundled once per test file with esbuild
 * (Trove's sources included, packages left to node_modules), not through `--import tsx`: tsx
 * compiles and loads every source module again in every child, about 1–2 s of start-up each on
 * a loaded 2-core machine, and the tests that spawn four processes at a time pay it in every test.
 * The bundle is what tsup ships too: the same compiler, one file.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const root = fileURLToPath(new URL('../..', import.meta.url));
let dir: string | undefined;
const bundles = new Map<string, string>();

/** A directory of this process's bundles, inside the repository so that their packages resolve from node_modules; removed on exit. */
function bundleDir(): string {
  if (dir === undefined) {
    const cache = join(root, 'node_modules', '.cache');
    mkdirSync(cache, { recursive: true });
    const made = mkdtempSync(join(cache, 'trove-test-children-'));
    dir = made;
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
  }
  return dir;
}

/** The path of `entry` (a TypeScript file) bundled as an ES module, built on first use in this process. */
export function bundled(entry: string): string {
  let out = bundles.get(entry);
  if (out === undefined) {
    out = join(bundleDir(), `${bundles.size}-${basename(entry).replace(/\.ts$/, '')}.mjs`);
    buildSync({
      entryPoints: [entry],
      outfile: out,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      // The integrations import the main entry by its package name; here that name is the sources.
      alias: { 'trove-cache': join(root, 'src', 'index.ts') },
      logLevel: 'error',
    });
    bundles.set(entry, out);
  }
  return out;
}
