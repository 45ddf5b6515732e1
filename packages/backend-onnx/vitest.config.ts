import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // onnxruntime-node writes telemetry under ~/.cache unless told not to.
    env: { ORT_DISABLE_TELEMETRY: '1' },
    testTimeout: 30_000,
  },
});
