/**
 * The suite's own ordering (test/helpers/slow-first-sequencer.ts): a listed file that was renamed
 * or removed would silently stop starting first.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { SLOW_FILES } from './helpers/slow-first-sequencer.js';

const root = fileURLToPath(new URL('..', import.meta.url));

it('every file the sequencer starts first exists, once', () => {
  expect(SLOW_FILES.filter((f) => !existsSync(root + f))).toEqual([]);
  expect(new Set(SLOW_FILES).size).toBe(SLOW_FILES.length);
});
