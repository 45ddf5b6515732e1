export * from './random-feeds.ts';
export * from './op-cases.ts';
export * from './din.ts';
export * from './lifelong.ts';
export * from './ifa.ts';
export * from './keep.ts';
export * from './padding.ts';
