/**
 * @lctr/ref-cpu: the float64 reference interpreter of the graph IR with reverse-mode gradients,
 * the oracle every other backend is checked against.
 */
export { type RefTensor, refTensor, toHost, fromHost, broadcastMap, unbroadcast, stridesOf } from './tensor.ts';
export { KERNELS, FLOAT32_LOWEST, topkOrder, type Kernel, type KernelContext, type KernelTable } from './kernels.ts';
export { GRADIENTS, hasGradient, isNoGradient, type GradContext, type GradRule, type GradTable, type NoGradient } from './gradients.ts';
export { runRef, gradRef, evaluateRef, type Evaluation, type GradResult, type RunOptions } from './run.ts';
