import { describe, expect, expectTypeOf, it } from 'vitest';
import { type Float, GraphBuilder, GraphError, type InputsOf, type Value, init, OPS, OP_NAMES, valueInfo } from '../src/index.ts';

const schema = {
  x: { dtype: 'float32', shape: ['batch', 8] },
  ids: { dtype: 'int32', shape: ['batch', 'seq'] },
  mask: { dtype: 'bool', shape: ['batch', 'seq'] },
} as const;

describe('GraphBuilder', () => {
  it('infers shapes through a small model and scopes parameter names', () => {
    const b = new GraphBuilder('demo', schema);
    const { x, ids, mask } = b.inputs;
    const table = b.scope('emb', () => b.param('item', [100, 8], init.normal(0.1)));
    const e = b.gather(table, ids);
    expect(e.shape).toEqual(['batch', 'seq', 8]);
    const scores = b.reduceSum(b.mul(e, b.reshape(x, ['batch', 1, 8])), -1);
    expect(scores.shape).toEqual(['batch', 'seq']);
    const top = b.topk(scores, 3, mask);
    expect(top.indices.dtype).toBe('int32');
    expect(top.values.shape).toEqual(['batch', 3]);
    const picked = b.gatherAlongAxis(e, top.indices, 1);
    expect(picked.shape).toEqual(['batch', 3, 8]);
    const flat = b.reshape(picked, ['batch', -1]);
    expect(flat.shape).toEqual(['batch', 24]);
    const w = b.scope('mlp', () => b.scope('l0', () => b.param('w', [24, 1])));
    expect(w.id).toBe('mlp/l0/w');
    const y = b.sigmoid(b.matmul(flat, w));
    const g = b.build({ y });
    expect(g.params.map((p) => p.name)).toEqual(['emb/item', 'mlp/l0/w']);
    expect(valueInfo(g, g.outputs.y)).toEqual({ dtype: 'float32', shape: ['batch', 1] });
  });

  it('symbolic reshape and concat produce product dims', () => {
    const b = new GraphBuilder('s', { x: { dtype: 'float32', shape: ['batch', 'seq', 4] } });
    expect(b.reshape(b.inputs.x, [-1, 4]).shape).toEqual(['batch*seq', 4]);
    expect(b.reshape(b.inputs.x, ['batch', -1]).shape).toEqual(['batch', '4*seq']);
    expect(b.concat([b.inputs.x, b.inputs.x], 1).shape).toEqual(['batch', '2*seq', 4]);
    expect(b.matmul(b.inputs.x, b.param('w', [4, 2])).shape).toEqual(['batch', 'seq', 2]);
    expect(b.reduceMean(b.inputs.x, [1], true).shape).toEqual(['batch', 1, 4]);
    expect(b.transpose(b.inputs.x, [2, 0, 1]).shape).toEqual([4, 'batch', 'seq']);
    expect(b.slice(b.inputs.x, [1], [-1], [2]).shape).toEqual(['batch', 'seq', 2]);
    expect(b.expand(b.param('v', [1, 1, 4]), ['batch', 'seq', 4]).shape).toEqual(['batch', 'seq', 4]);
  });

  it('names node, op and shapes on a shape mismatch', () => {
    const b = new GraphBuilder('m', schema);
    const w = b.param('w', [24, 1]);
    expect(() => b.matmul(b.inputs.x, w)).toThrow(
      "node 'matmul_0' (matmul) with inputs a: float32[batch, 8], b: float32[24, 1]: inner dims differ: a has 8 columns, b has 24 rows",
    );
    expect(() => b.add(b.inputs.x, b.param('v', [3]))).toThrow(
      "node 'add_1' (add) with inputs a: float32[batch, 8], b: float32[3]: shapes [batch, 8] and [3] do not broadcast",
    );
    expect(() => b.reshape(b.inputs.x, [3, 5])).toThrow('target shape [3, 5] holds 15 elements, input holds 8*batch');
    expect(() => b.topk(b.param('s', [2, 4]), 5)).toThrow('k = 5 is greater than the last axis (4)');
    expect(() => b.slice(b.inputs.ids, [0], [2], [1])).toThrow("slice along axis 1 needs a static dim, got 'seq'");
    expect(() => b.expand(b.param('one', [1]), ['cand', 4])).toThrow(
      "symbolic dim(s) 'cand' in the target shape are not dims of any graph input, so nothing gives them a value at run time (inputs " +
        'bind: batch, seq)',
    );
  });

  it('rejects wrong dtypes at run time for untyped callers (and at compile time for typed ones)', () => {
    const b = new GraphBuilder('d', schema);
    // @ts-expect-error int32 indices where a float is expected does not compile
    expect(() => b.exp(b.inputs.ids)).toThrow(
      "node 'exp_0' (exp) with inputs x: int32[batch, seq]: input 'x' must be float32, got int32[batch, seq]",
    );
    // @ts-expect-error float indices for gather do not compile
    expect(() => b.gather(b.param('t', [4, 2]), b.inputs.x)).toThrow("input 'indices' must be int32 or int64, got float32[batch, 8]");
    expect(() => b.where(b.inputs.mask, b.inputs.x, b.inputs.ids as unknown as Float)).toThrow("inputs 'a' and 'b' must share a dtype");
  });

  it('checks op names, arity and attributes on the untyped path', () => {
    const b = new GraphBuilder('u', schema);
    expect(() => b.node('conv2d', [b.inputs.x])).toThrow("node 'conv2d_0': unknown op 'conv2d'; known ops: matmul, add");
    expect(() => b.node('add', [b.inputs.x])).toThrow(
      "node 'add_1' (add) with inputs a: float32[batch, 8]: expects 2 inputs (a, b), got 1",
    );
    expect(() => b.node('topk', [b.inputs.x, b.inputs.mask, b.inputs.x], { k: 1 })).toThrow('expects 1 to 2 inputs (x, mask?), got 3');
    expect(() => b.node('softmax', [b.inputs.x], { dim: 1 })).toThrow("unknown attribute 'dim'; softmax takes axis");
    expect(() => b.node('topk', [b.inputs.x], {})).toThrow("attribute 'k' is required");
    expect(() => b.node('softmax', [b.inputs.x], { axis: 1.5 })).toThrow("attribute 'axis': expected an integer, got 1.5");
    expect(() => b.node('softmax', [b.inputs.x], { axis: 2 })).toThrow('axis 2 is out of range for rank 2');
    expect(() => b.node('cast', [b.inputs.x], { to: 'float64' })).toThrow("attribute 'to': expected a dtype");
    const other = new GraphBuilder('other', schema);
    expect(() => b.relu(other.inputs.x)).toThrow("input value 'x' does not belong to graph 'u'");
  });

  it('rejects bad parameter declarations', () => {
    const b = new GraphBuilder('p', schema);
    b.scope('a', () => b.param('w', [2, 2]));
    expect(() => b.scope('a', () => b.param('w', [2, 2]))).toThrow("name 'a/w' is already used in graph 'p'");
    expect(() => b.param('v', [0, 2])).toThrow("parameter 'v' needs a static positive shape, got [0, 2]");
    expect(() => b.param('x', [1])).toThrow("name 'x' is already used");
    expect(() => new GraphBuilder('bad', { 'a/b': { dtype: 'float32', shape: [1] } })).toThrow("input name 'a/b' is not valid");
    expect(() => new GraphBuilder('bad', { a: { dtype: 'float32', shape: ['2*seq'] } })).toThrow(
      'input dims must be integers or plain symbolic names',
    );
  });

  it('prunes nodes and parameters that no output uses', () => {
    const b = new GraphBuilder('prune', schema);
    const used = b.param('used', [8, 2]);
    const unused = b.param('unused', [8, 2]);
    b.matmul(b.inputs.x, unused);
    const g = b.build({ y: b.matmul(b.inputs.x, used) });
    expect(g.params.map((p) => p.name)).toEqual(['used']);
    expect(g.nodes.map((n) => n.op)).toEqual(['matmul']);
    expect(g.inputs.map((i) => i.name)).toEqual(['x', 'ids', 'mask']);
  });

  it('types the inputs record from the feature schema', () => {
    type In = InputsOf<typeof schema>;
    expectTypeOf<In['ids']['data']>().toEqualTypeOf<Int32Array>();
    expectTypeOf<In['mask']['dtype']>().toEqualTypeOf<'bool'>();
    const b = new GraphBuilder('t', schema);
    expectTypeOf(b.inputs.ids).toEqualTypeOf<Value<'int32'>>();
    expectTypeOf(b.topk(b.inputs.x, 1).indices).toEqualTypeOf<Value<'int32'>>();
    expect(b.inputs.ids.dtype).toBe('int32');
  });

  it('declares every op with docs, slots and a shape rule', () => {
    expect(OP_NAMES.length).toBeGreaterThanOrEqual(40);
    for (const n of OP_NAMES) {
      expect(OPS[n].name).toBe(n);
      expect(OPS[n].doc.length).toBeGreaterThan(3);
      expect(typeof OPS[n].infer).toBe('function');
    }
  });

  it('refuses an output named like an input or parameter', () => {
    const b = new GraphBuilder('o', schema);
    expect(() => b.build({ x: b.relu(b.inputs.x) })).toThrow(
      "output name 'x' is already the name of an input or parameter of graph 'o' but would hold value 'relu_0:0'",
    );
    expect(b.build({ x: b.inputs.x }).outputs).toEqual({ x: 'x' });
  });

  it('GraphError carries the node and op', () => {
    const b = new GraphBuilder('e', schema);
    try {
      b.softmax(b.inputs.x, 5);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(GraphError);
      expect((e as GraphError).node).toBe('softmax_0');
      expect((e as GraphError).op).toBe('softmax');
    }
  });
});
