import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Unit tests sit beside the contract they test (src/**); end-to-end tests under test/e2e.
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Builds dist/ so end-to-end tests run bin/hvscope, the entry users run.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Real QEMU/bpftrace runs compete for 2 cores; run files one at a time.
    fileParallelism: false,
  },
});
