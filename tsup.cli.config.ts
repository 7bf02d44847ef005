import { defineConfig } from 'tsup';

// The `trove` bin: one ESM file, dist/cli.js. Its entry starts with a shebang, which tsup keeps
// (and marks the file executable). It bundles the library's code, internals included (the CLI
// reads envelopes and generations the public API does not expose); dependencies stay imports.
// A build of its own, run after the library's: that one empties dist/ first.
export default defineConfig({
  entry: { cli: 'src/cli/main.ts' },
  format: ['esm'],
  dts: false,
  sourcemap: false,
  clean: false,
  target: 'node20',
  splitting: false,
});
