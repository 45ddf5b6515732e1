export * from './table.ts';
export * from './csv.ts';
export * from './parquet.ts';
export * from './vocab.ts';
export * from './events.ts';
export * from './movielens.ts';
export * from './taobao.ts';
