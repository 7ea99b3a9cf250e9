import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // e2e suites start real servers on private ports; run files one at a time on a 2-core box.
    fileParallelism: false,
    globalSetup: ['test/global-setup.ts'],
  },
});
