import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/quiet/ measures energy through the whole host's CPU load: it runs alone, after this suite
    // (vitest.quiet.config.ts, scripts/test.sh), never beside other tests.
    exclude: [...configDefaults.exclude, 'test/quiet/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
