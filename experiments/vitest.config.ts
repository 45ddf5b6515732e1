import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { root: import.meta.dirname, include: ['**/*.test.ts'], exclude: ['**/node_modules/**'], testTimeout: 120_000 },
});
