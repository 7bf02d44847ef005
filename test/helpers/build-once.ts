/**
 * Vitest global setup: builds dist/ once, before any test file runs, when a fresh checkout has
 * none. Test files run two at a time, and the package test loads dist/ while others read it:
 * built by a test file instead, tsup (which empties dist/ first) would race the readers.
 * An existing dist/ is left alone; suites that need the current sources' build check its age
 * and build a private copy when it is older (test/helpers/package-build.ts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export default function setup(): void {
  if (existsSync(`${root}dist/index.js`) && existsSync(`${root}dist/index.cjs`)) return;
  execFileSync(process.execPath, [`${root}node_modules/tsup/dist/cli-default.js`, '--silent'], { cwd: root, stdio: 'inherit' });
}
