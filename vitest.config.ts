import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Server-rendered pages use hono/jsx (packages/server/tsconfig.json says the same to tsc).
  oxc: { jsx: { runtime: 'automatic', importSource: 'hono/jsx' } },
  resolve: {
    alias: {
      '@tessera/protocol/node': fileURLToPath(new URL('./packages/protocol/src/node/index.ts', import.meta.url)),
      '@tessera/gateway': fileURLToPath(new URL('./packages/gateway/src/index.ts', import.meta.url)),
      '@tessera/agent': fileURLToPath(new URL('./packages/agent/src/index.ts', import.meta.url)),
      '@tessera/resource/node': fileURLToPath(new URL('./packages/resource/src/adapters/node.ts', import.meta.url)),
      '@tessera/resource/express': fileURLToPath(new URL('./packages/resource/src/adapters/express.ts', import.meta.url)),
      '@tessera/resource/fastify': fileURLToPath(new URL('./packages/resource/src/adapters/fastify.ts', import.meta.url)),
      '@tessera/resource/hono': fileURLToPath(new URL('./packages/resource/src/adapters/hono.ts', import.meta.url)),
      '@tessera/resource': fileURLToPath(new URL('./packages/resource/src/index.ts', import.meta.url)),
      '@tessera/server': fileURLToPath(new URL('./packages/server/src/index.ts', import.meta.url)),
      '@tessera/protocol': fileURLToPath(new URL('./packages/protocol/src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.{ts,tsx}', 'test/**/*.test.{ts,tsx}'],
    testTimeout: 20_000,
    pool: 'forks',
  },
});
