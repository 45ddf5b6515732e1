import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // each test file starts one or two python processes (torch import: about 2 s each)
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // the tests import @lctr/parity (its comparison rule), which loads onnxruntime-node: no telemetry files
    env: { ORT_DISABLE_TELEMETRY: '1' },
  },
});
