/**
 * The package as an application installs it: a build of the current sources, copied with
 * package.json into a project whose node_modules links the working tree's. For tests that run
 * code compiled outside Vitest (a NestJS application built with tsc), importing `trove-cache` and
 * its entry points by name.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/** Newest modification time under `path` (directories too: a deleted file changes its folder's). */
function newest(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = st.mtimeMs;
  for (const entry of readdirSync(path)) t = Math.max(t, newest(join(path, entry)));
  return t;
}

/**
 * A build of the current sources holding `files` (paths under dist/): dist/ when it is newer than
 * every input of the build, else a private one under .tmp/`name` (dist/ is not rebuilt in place:
 * other suites read it concurrently, and tsup empties it first).
 */
export function packageBuild(name: string, files: readonly string[]): string {
  const dist = join(root, 'dist');
  const outputs = files.map((f) => join(dist, f));
  if (outputs.every((f) => existsSync(f))) {
    const built = Math.min(...outputs.map((f) => statSync(f).mtimeMs));
    const inputs = ['src', 'tsup.config.ts', 'package.json', 'tsconfig.json'].map((p) => newest(join(root, p)));
    if (built > Math.max(...inputs)) return dist;
  }
  const out = join(root, '.tmp', name, 'dist');
  execFileSync(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js'), '--out-dir', out, '--silent'], { cwd: root, stdio: 'pipe' });
  return out;
}

/**
 * Makes `dir` a project of type `module` with `trove-cache` installed from `dist`, and every other
 * package of the working tree's node_modules linked. Returns `dir`.
 */
export function projectWithPackage(dir: string, dist: string): string {
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, 'trove-cache'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  writeFileSync(join(modules, 'trove-cache', 'package.json'), readFileSync(join(root, 'package.json')));
  cpSync(dist, join(modules, 'trove-cache', 'dist'), { recursive: true });
  for (const entry of readdirSync(join(root, 'node_modules'))) {
    if (entry.startsWith('.') || entry === 'trove-cache') continue;
    symlinkSync(join(root, 'node_modules', entry), join(modules, entry), process.platform === 'win32' ? 'junction' : 'dir');
  }
  return dir;
}
