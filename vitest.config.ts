import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import SlowFirstSequencer from './test/helpers/slow-first-sequencer.js';

export default defineConfig({
  // Integrations import the main entry by its package name, as their users do (built, it stays
  // one shared copy of trove-cache); under test that name is the sources, as in tsconfig's paths.
  resolve: { alias: [{ find: /^trove-cache$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) }] },
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Three test files at a time on the 2-core machines the suite runs on: many tests wait on child
    // processes and servers, so two left a third of the CPU idle (430 s instead of 520–660 s here),
    // and every test runs beside others, as a loaded machine would run it. Files share nothing:
    // each starts its own servers on free ports.
    maxWorkers: 3,
    // After-hooks run in reverse order of registration: a file's troves, registered after its
    // servers and proxies, are closed before them. The slowest files start first, also on a fresh
    // checkout (test/helpers/slow-first-sequencer.ts).
    sequence: { hooks: 'stack', sequencer: SlowFirstSequencer },
    globalSetup: ['./test/helpers/build-once.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
  },
});
