/**
 * The published package: ESM and CJS builds with type declarations, loadable by both module
 * systems, exporting the same API.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

beforeAll(() => {
  if (!existsSync(`${root}dist/index.js`) || !existsSync(`${root}dist/index.cjs`)) {
    execFileSync(process.execPath, [`${root}node_modules/tsup/dist/cli-default.js`, '--silent'], { cwd: root, stdio: 'inherit' });
  }
}, 120_000);

const probe = `
  const t = m.createTrove();
  const r = t.region('r');
  r.set('k', { a: 1 }).then(() => r.get('k')).then((v) => {
    console.log(JSON.stringify({ exports: Object.keys(m).sort(), value: v, cold: new m.ColdCacheError('k', 5).code }));
    return t.close();
  });
`;

function run(args: string[]): { exports: string[]; value: unknown; cold: string } {
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
    for (const name of ['createTrove', 'Trove', 'Region', 'ColdCacheError', 'InvalidOptionError', 'TimeoutError']) expect(esm.exports).toContain(name);
  });

  it('ships type declarations for both', () => {
    expect(existsSync(`${root}dist/index.d.ts`)).toBe(true);
    expect(existsSync(`${root}dist/index.d.cts`)).toBe(true);
  });
});
