/**
 * Bad input: python3 or torch missing, an op without a lowering (a compile error for the typed
 * table, a clear error for a graph built around it), bad feeds and weights (the spec's messages,
 * before python starts), a gradient of a non-float output; and the parameter names of the
 * generated module (exactly the spec's paths, '.' escaped and mapped back).
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Graph, GraphBuilder, OP_NAMES, buildLifelongTrain, initWeights } from '@lctr/spec';
import { LIFELONG_TEST_CONFIG } from '@lctr/spec/testing';
import {
  LOWERINGS,
  type TorchLoweringTable,
  TorchSourceError,
  TorchUnavailableError,
  paramKey,
  runTorch,
  specName,
  torchSource,
} from '../src/index.ts';

function tiny(): Graph {
  const b = new GraphBuilder('tiny', { x: { dtype: 'float32', shape: ['batch', 2] }, k: { dtype: 'int32', shape: ['batch'] } });
  const w = b.scope('mlp.v2', () => b.param('w', [2, 2]));
  return b.build({ y: b.matmul(b.inputs.x, w), k: b.inputs.k });
}
const x = { dtype: 'float32' as const, shape: [1, 2], data: Float32Array.from([1, 2]) };
const k = { dtype: 'int32' as const, shape: [1], data: Int32Array.from([7]) };

const dir = mkdtempSync(join(tmpdir(), 'lctr-torch-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('python3 or torch missing', () => {
  it('no python3 at the given path: names the package to install', () => {
    const g = tiny();
    expect(() =>
      runTorch({ graph: g, weights: initWeights(g, 1), inputs: { x, k } }, { dtype: 'float64', python: join(dir, 'no-python3') }),
    ).toThrow(
      new TorchUnavailableError(
        `cannot run PyTorch with ${join(dir, 'no-python3')}: spawnSync ${join(dir, 'no-python3')} ENOENT; install it with apt-get ` +
          `install -y python3-torch`,
      ),
    );
  });
  it('a python3 without torch: names the import error and the package', () => {
    // Debian's dist-packages (where python3-torch lives) are added by site; -S leaves them out
    const python = join(dir, 'python3-without-torch');
    writeFileSync(python, '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n');
    chmodSync(python, 0o755);
    const g = tiny();
    expect(() => runTorch({ graph: g, weights: initWeights(g, 1), inputs: { x, k } }, { dtype: 'float64', python })).toThrow(
      `python3-torch is missing for ${python} (ModuleNotFoundError: No module named 'torch'); install it with apt-get install -y ` +
        `python3-torch`,
    );
  });
});

describe('an op without a lowering', () => {
  it('the table is typed over every op name: a table missing one does not compile', () => {
    const { topk: _, ...withoutTopk } = LOWERINGS;
    // @ts-expect-error: 'topk' is missing, so this is not a TorchLoweringTable
    const partial: TorchLoweringTable = withoutTopk;
    expect(Object.keys(partial).length).toBe(OP_NAMES.length - 1);
    expect(Object.keys(LOWERINGS).sort()).toEqual([...OP_NAMES].sort());
  });
  it('a graph naming an op the vocabulary lacks (a hand-edited graph file) is a clear error', () => {
    const g = tiny();
    const bad = { ...g, nodes: g.nodes.map((n) => (n.op === 'matmul' ? { ...n, op: 'einsum' } : n)) } as unknown as Graph;
    expect(() => torchSource(bad, { dtype: 'float64' })).toThrow(
      new TorchSourceError("node 'matmul_0': op 'einsum' has no PyTorch lowering (graph 'tiny')"),
    );
  });
  it('a dtype other than float64 or float32 is refused', () => {
    expect(() => torchSource(tiny(), { dtype: 'float16' as never })).toThrow(
      new TorchSourceError(`dtype must be 'float64' or 'float32', got "float16"`),
    );
  });
});

describe('bad feeds, weights and gradient requests fail before python starts', () => {
  const g = tiny();
  const python = join(dir, 'never-run'); // would throw TorchUnavailableError if reached
  it('feeds: the spec InputError', () => {
    expect(() =>
      runTorch(
        { graph: g, weights: initWeights(g, 1), inputs: { x: { ...x, shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }, k } },
        { dtype: 'float64', python },
      ),
    ).toThrow("input 'k': dim 0 ('batch') is 1, but 'batch' is 2 from x dim 0");
  });
  it('weights: the spec WeightsError', () => {
    expect(() => runTorch({ graph: g, weights: new Map(), inputs: { x, k } }, { dtype: 'float64', python })).toThrow(
      "weights for graph 'tiny' miss 1 parameter(s): mlp.v2/w",
    );
  });
  it('a gradient of an int output or of an unknown output', () => {
    expect(() =>
      runTorch({ graph: g, weights: initWeights(g, 1), inputs: { x, k }, gradOutput: 'k' }, { dtype: 'float64', python }),
    ).toThrow("case 0: output 'k' of graph 'tiny' is int32[batch]; gradients need a float32 output");
    expect(() =>
      runTorch({ graph: g, weights: initWeights(g, 1), inputs: { x, k }, gradOutput: 'z' }, { dtype: 'float64', python }),
    ).toThrow("case 0: graph 'tiny' has no output 'z'; its outputs are: y, k");
  });
});

describe('parameter names', () => {
  it('the module keys parameters by the spec path; a "." is escaped as %2E and maps back', () => {
    expect(paramKey('mlp.v2/w')).toBe('mlp%2Ev2/w');
    expect(specName(paramKey('mlp.v2/w'))).toBe('mlp.v2/w');
    const g = tiny();
    const w = initWeights(g, 1);
    const r = runTorch({ graph: g, weights: w, inputs: { x, k }, gradOutput: 'y' }, { dtype: 'float64' });
    expect([...r.grads.keys()]).toEqual(['mlp.v2/w']);
    const W = w.get('mlp.v2/w')!.data;
    expect(Array.from(r.outputs['y']!.data as Float64Array)).toEqual([W[0]! + 2 * W[2]!, W[1]! + 2 * W[3]!]);
    expect(Array.from(r.grads.get('mlp.v2/w')!.data as Float64Array)).toEqual([1, 1, 2, 2]);
    expect(r.outputs['k']).toEqual(k);
  });
  it('the LCN module lists every parameter path of the graph, each line names its IR node', () => {
    const g = buildLifelongTrain(LIFELONG_TEST_CONFIG);
    const src = torchSource(g, { dtype: 'float32' });
    expect(src).toContain('DTYPE = torch.float32');
    for (const p of g.params)
      expect(src).toContain(`        ${JSON.stringify(p.name)}: (${p.shape.join(', ')}${p.shape.length === 1 ? ',' : ''}),`);
    expect(src).toContain(`"lap/msa/wq": (`);
    for (const n of g.nodes) expect(src).toContain(`# ${n.id}: ${n.op} -> `);
  });
});
