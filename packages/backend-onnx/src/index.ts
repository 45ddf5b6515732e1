export * from './proto.ts';
export * from './lower/context.ts';
export { FLOAT32_LOWEST, opset17, ortTopkWidth } from './lower/opset17.ts';
export * from './lower/table.ts';
export * from './export.ts';
export * from './session.ts';
export * from './checker.ts';
export {
  convertToFloat16,
  float16Bits,
  float16Value,
  toFloat16Constant,
  FLOAT16_MAX,
  FLOAT16_MIN_SUBNORMAL,
  type Float16Summary,
} from './float16.ts';
export {
  convertToInt8,
  quantizeColumns,
  roundHalfEven,
  INT8_MIN_DIM,
  Int8QuantizationError,
  type Int8Options,
  type Int8Product,
  type Int8Summary,
} from './int8.ts';
