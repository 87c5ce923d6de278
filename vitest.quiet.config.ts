import { defineConfig } from 'vitest/config';

/**
 * The tests that measure energy with the `estimate` sensor (power follows the whole host's CPU load) on
 * the real inference engine: one file at a time, after the main suite, so that no other test's CPU time
 * is counted as the engine's. scripts/test.sh runs them; `npx vitest run --config vitest.quiet.config.ts`
 * by hand.
 */
export default defineConfig({
  test: {
    include: ['test/quiet/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
