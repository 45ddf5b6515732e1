export * from './errors.ts';
export * from './tables.ts';
export * from './store.ts';
export * from './embedded.ts';
export * from './redis.ts';
export * from './open.ts';
