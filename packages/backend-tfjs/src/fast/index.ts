/**
 * Replacements for tfjs kernels that are slow on the cpu and wasm backends, one file per kernel
 * (as tfjs-core keeps one file per gradient); host.ts holds what they share. Each file's header
 * gives the measurement that justifies it. On other backends (tfjs-node) tfjs' own kernels run.
 *   broadcast.ts      broadcastTo without Tile
 *   gather-rows.ts    gatherRows, its backward scatterRowsAdd, and scatterColumnsAdd (gatherConcat's backward)
 *   concat.ts         concat and split along any axis
 *   gather-axis.ts    gatherAxis: tf.gather along an inner axis
 *   relu-grad.ts      reluGrad
 *   gather-concat.ts  gatherConcat: several row gathers side by side (fuse.ts)
 *   select.ts         select: tf.where with numpy broadcasting
 */
export { type RowGroups, registerHostKernels } from './host.ts';
export { broadcastTo } from './broadcast.ts';
export { GATHER_ROWS, SCATTER_ROWS, gatherRows, scatterRowsAdd, scatterColumnsAdd } from './gather-rows.ts';
export { CONCAT, SPLIT, concat, split } from './concat.ts';
export { GATHER_AXIS, gatherAxis } from './gather-axis.ts';
export { RELU_GRAD, reluGrad } from './relu-grad.ts';
export { GATHER_CONCAT, gatherConcat } from './gather-concat.ts';
export { SELECT, select } from './select.ts';
