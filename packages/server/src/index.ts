export * from './model-dir.ts';
export * from './schema.ts';
export * from './request.ts';
export * from './limiter.ts';
export * from './metrics.ts';
export * from './server.ts';
export * from './example.ts';
export * from './spawn.ts';
