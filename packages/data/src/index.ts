export * from './event-log.ts';
export * from './source.ts';
export * from './samples.ts';
export * from './readers/index.ts';
export * from './synthetic/index.ts';
