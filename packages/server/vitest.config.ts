import { defineConfig } from 'vitest/config';

export default defineConfig({
  // onnxruntime-node writes telemetry under ~/.cache unless told not to.
  test: { testTimeout: 60_000, hookTimeout: 120_000, env: { ORT_DISABLE_TELEMETRY: '1' } },
});
