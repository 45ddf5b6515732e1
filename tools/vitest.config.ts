import { defineConfig } from 'vitest/config';

// unit tests of the tools (pure helpers only: nothing here trains or reads data)
export default defineConfig({
  test: { root: import.meta.dirname, include: ['**/*.test.ts'], exclude: ['**/node_modules/**'] },
});
