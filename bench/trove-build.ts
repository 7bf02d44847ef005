/**
 * Trove as users run it. The bench measures the bundle that `npm run build` ships, built once per
 * run into bench/.build by tsup (the same bundler and target as the package), not the source
 * through tsx: tsx keeps function names by wrapping every closure it creates in a helper call,
 * which cost about 10 % of Trove's CPU on the miss path and is absent from the published build.
 * The peers are measured as published too. `--source` measures src/ instead.
 */
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type TroveModule = typeof import('../src/index.js');

/** The environment variable naming the built bundle; child processes inherit it. */
const BUILD_ENV = 'TROVE_BENCH_BUILD';

/** Builds src/index.ts into bench/.build (ESM, node20, no declarations) and points child processes at it. */
export async function buildTrove(): Promise<string> {
  const { build } = await import('tsup');
  const outDir = fileURLToPath(new URL('./.build', import.meta.url));
  await build({
    entry: { index: fileURLToPath(new URL('../src/index.ts', import.meta.url)) },
    format: ['esm'],
    target: 'node20',
    outDir,
    clean: true,
    dts: false,
    sourcemap: false,
    splitting: false,
    silent: true,
    config: false,
  });
  const file = `${outDir}/index.js`;
  process.env[BUILD_ENV] = file;
  return file;
}

/** Where Trove is loaded from in this process: the bundle when one was built, else the source. */
export function troveOrigin(): string {
  const file = process.env[BUILD_ENV];
  return file === undefined ? 'src/ (through tsx)' : `${relative(process.cwd(), file)} (built by tsup from src/)`;
}

let loaded: Promise<TroveModule> | undefined;

/** The Trove module: the built bundle when `buildTrove` ran (here or in the parent process), else the source. */
export function troveModule(): Promise<TroveModule> {
  const file = process.env[BUILD_ENV];
  loaded ??= file === undefined ? import('../src/index.js') : (import(pathToFileURL(file).href) as Promise<TroveModule>);
  return loaded;
}
