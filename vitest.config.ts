import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration suites start their own nats-server and runtime processes, and some assert deadlines the product promises
    // (timers within 1 s of due). On two cores, files run one at a time so one suite's load never decides another's result.
    fileParallelism: false,
  },
});
