import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // After-hooks run in reverse order of registration: a file's troves, registered after its
    // servers and proxies, are closed before them.
    sequence: { hooks: 'stack' },
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
  },
});
