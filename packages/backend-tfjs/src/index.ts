export {
  TFJS_BACKENDS,
  type TfjsBackendName,
  BACKEND_INFO,
  type BackendInfo,
  BACKEND_ENV,
  BackendChoiceError,
  normalizeBackendName,
  type BackendChoice,
  type ChooseBackendOptions,
  chooseBackend,
  type BackendRequest,
  parseBackendFlag,
  type InitTfjsOptions,
  type TfjsInit,
  initTfjs,
} from './backend.ts';
export { registerFastKernels, hasFastKernels, unsortedSegmentSumJs } from './segment-sum.ts';
export { KERNELS, type KernelTable, type TfjsKernel, type KernelContext, sumToShape } from './kernels.ts';
export { FLT_MAX, topkRows } from './topk.ts';
export { tfDtype, toTensor, fromTensor, int64ToInt32 } from './convert.ts';
export { compileTfjs, type TfjsModel, type CompileOptions } from './model.ts';
export { Adam, type AdamConfig, type AdamState } from './adam.ts';
export { DataParallel, type DataParallelOptions, shardBounds, shardInputs } from './parallel.ts';
