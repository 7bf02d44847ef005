import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Integrations import the main entry by its package name, as their users do (built, it stays
  // one shared copy of trove-cache); under test that name is the sources, as in tsconfig's paths.
  resolve: { alias: [{ find: /^trove-cache$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) }] },
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
