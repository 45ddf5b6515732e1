export * from './config.ts';
export * from './load.ts';
export * from './inspect.ts';
export * from './compile.ts';
export * from './negatives.ts';
export * from './features.ts';
