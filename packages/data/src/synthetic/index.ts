export * from './config.ts';
export * from './world.ts';
export * from './io.ts';
