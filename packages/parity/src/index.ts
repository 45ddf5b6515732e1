export * from './compare.ts';
export * from './harness.ts';
