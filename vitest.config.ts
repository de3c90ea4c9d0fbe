import { defineConfig } from 'vitest/config';

// Tests run against TypeScript sources through the `haven-source` export condition;
// child processes started by the harness run the compiled `dist/` output instead.
export default defineConfig({
  resolve: { conditions: ['haven-source'] },
  ssr: { resolve: { conditions: ['haven-source'], externalConditions: ['haven-source'] } },
  test: {
    include: ['libs/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'tools/src/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
