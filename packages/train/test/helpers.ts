// Backend selection for the trainer's tests: every trainer test runs on both cpu and wasm.
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { initTfjs } from '@lctr/backend-tfjs';

export const BACKENDS = ['cpu', 'wasm'] as const;
export type TestBackend = (typeof BACKENDS)[number];

// tfjs prints a banner suggesting tfjs-node on first use; not useful in tests.
tf.env().set('IS_TEST', true);

export async function useBackend(name: TestBackend): Promise<void> {
  await initTfjs({ backend: name, log: () => {} });
  expect(tf.getBackend()).toBe(name);
}
