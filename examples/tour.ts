#!/usr/bin/env tsx
/**
 * The README's quick tour, runnable: author a small model in the DSL, then run the same weights
 * and inputs on ref-cpu (float64), tfjs and ONNX Runtime.   npx tsx examples/tour.ts
 */
import { GraphBuilder, type InputsOf, init, initWeights, maskedSoftmax, mlp } from '@lctr/spec';
import { runRef } from '@lctr/ref-cpu';
import { compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import { OnnxSession, exportOnnx } from '@lctr/backend-onnx';

// 1. the feature schema types the inputs: dims are numbers or symbolic names
const schema = {
  history: { dtype: 'int32', shape: ['batch', 'seq'] },
  historyMask: { dtype: 'bool', shape: ['batch', 'seq'] },
  candidate: { dtype: 'int32', shape: ['batch'] },
} as const;

// 2. record the graph; dtypes and shapes are checked as each node is added
const b = new GraphBuilder('tiny', schema);
const table = b.scope('emb', () => b.param('item', [1000, 16], init.normal(0.05)));
const seq = b.gather(table, b.inputs.history); // [batch, seq, 16]
const cand = b.gather(table, b.inputs.candidate); // [batch, 16]
const scores = b.reduceSum(b.mul(seq, b.reshape(cand, ['batch', 1, 16])), [2]);
const top = b.topk(scores, 8, b.inputs.historyMask); // masked, ties to the lower index
const picked = b.gatherAlongAxis(seq, top.indices, 1); // [batch, 8, 16]
const pickedValid = b.greater(top.values, b.scalar(-Infinity)); // padding picks are -Infinity
const weights = maskedSoftmax(b, b.gatherAlongAxis(scores, top.indices, 1), pickedValid);
const interest = b.reduceSum(b.mul(picked, b.reshape(weights, ['batch', 8, 1])), [1]);
const prob = b.sigmoid(b.reshape(mlp(b, 'mlp', b.concat([cand, interest], 1), [32, 1]), ['batch']));
const graph = b.build({ prob });
// b.exp(b.inputs.history);  // does not compile: int32 where float32 is expected

// 3. the same weights and inputs on three backends
const w = initWeights(graph, 42);
const batch = 4,
  len = 20;
const inputs: InputsOf<typeof schema> = {
  history: { dtype: 'int32', shape: [batch, len], data: Int32Array.from({ length: batch * len }, (_, i) => (i * 37) % 1000) },
  historyMask: {
    dtype: 'bool',
    shape: [batch, len],
    data: Uint8Array.from({ length: batch * len }, (_, i) => (i % len < 5 + 4 * Math.floor(i / len) ? 1 : 0)),
  },
  candidate: { dtype: 'int32', shape: [batch], data: Int32Array.from([3, 14, 159, 265]) },
};
const ref = runRef(graph, w, inputs).prob.data; // float64 oracle
await initTfjs(); // logs which tfjs backend runs
const model = compileTfjs(graph);
model.setWeights(w);
const viaTfjs = model.run(inputs).prob.data;
const session = await OnnxSession.create(exportOnnx(graph, w), graph);
const viaOnnx = (await session.run(inputs)).prob.data;
await session.release();
model.dispose();

const maxDiff = (a: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - ref[i]!)));
console.log(`ref-cpu     ${Array.from(ref, (v) => v.toFixed(6)).join(' ')}`);
console.log(`tfjs        max |diff| ${maxDiff(viaTfjs as Float32Array).toExponential(1)}`);
console.log(`onnxruntime max |diff| ${maxDiff(viaOnnx as Float32Array).toExponential(1)} (provider: ${session.provider})`);
