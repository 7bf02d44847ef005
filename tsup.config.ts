import { defineConfig } from 'tsup';

export default defineConfig({
  entry: [
    'src/index.ts',
    'src/integrations/otel/index.ts',
    'src/integrations/prometheus/index.ts',
    'src/integrations/keyv/index.ts',
    'src/integrations/express/index.ts',
    'src/integrations/fastify/index.ts',
    'src/integrations/hono/index.ts',
  ],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: false,
  // `import.meta.url` in the CommonJS build (the msgpack codec loads msgpackr on first use).
  shims: true,
  // Integrations import the main entry by name: kept as an import, they share the one copy of
  // trove-cache the application loads (an InvalidOptionError they throw is the application's).
  external: ['trove-cache'],
});
