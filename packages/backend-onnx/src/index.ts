export * from './proto.ts';
export * from './lower/context.ts';
export { FLOAT32_LOWEST, opset17 } from './lower/opset17.ts';
export * from './lower/table.ts';
export * from './export.ts';
export * from './session.ts';
export * from './checker.ts';
