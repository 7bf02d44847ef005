import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Integrations import the main entry by its package name, as their users do (built, it stays
  // one shared copy of trove-cache); under test that name is the sources, as in tsconfig's paths.
  resolve: { alias: [{ find: /^trove-cache$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) }] },
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Two test files at a time on the 2-core machines the suite runs on (the default is one fewer
    // than the cores): 345–400 s instead of 550–670 s here, and every test runs beside another, as a
    // loaded machine would run it. Files share nothing: each starts its own servers on free ports.
    maxWorkers: 2,
    globalSetup: ['./test/helpers/build-once.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // After-hooks run in reverse order of registration: a file's troves, registered after its
    // servers and proxies, are closed before them.
    sequence: { hooks: 'stack' },
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
  },
});
