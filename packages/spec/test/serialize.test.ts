import { describe, expect, it } from 'vitest';
import { GraphBuilder, GraphFormatError, graphFromJSON, graphToJSON, serializeGraph, init } from '../src/index.ts';
import { OP_CASES } from '../src/testing/index.ts';

function demo() {
  const b = new GraphBuilder('demo', { x: { dtype: 'float32', shape: ['batch', 3] }, m: { dtype: 'bool', shape: ['batch', 3] } } as const);
  const w = b.scope('layer', () => b.param('w', [3, 3], init.normal(0.5, 0, 7)));
  const masked = b.where(b.inputs.m, b.matmul(b.inputs.x, w), b.constant(-Infinity));
  const y = b.softmax(b.add(masked, b.constant([NaN, Infinity, 0.1], [3])), -1);
  return b.build({ y }, { model: 'demo', k: [1, 2] });
}

describe('graph JSON', () => {
  it('round-trips every op case exactly', () => {
    for (const c of OP_CASES) {
      const text = serializeGraph(c.graph);
      const back = graphFromJSON(text);
      expect(serializeGraph(back), c.name).toBe(text);
      expect(back).toEqual(c.graph);
    }
  });

  it('keeps NaN and infinities in constants, metadata and initializers', () => {
    const g = demo();
    const back = graphFromJSON(serializeGraph(g));
    expect(back).toEqual(g);
    const consts = back.nodes.filter((n) => n.op === 'constant').map((n) => n.attrs['values']);
    expect(consts).toEqual([[-Infinity], [NaN, Infinity, 0.1]]);
    expect(back.meta).toEqual({ model: 'demo', k: [1, 2] });
    expect(back.params[0]!.init).toEqual({ kind: 'normal', mean: 0, std: 0.5, seed: 7 });
  });

  it('refuses another version and other formats', () => {
    const j = graphToJSON(demo());
    expect(() => graphFromJSON({ ...j, version: 2 }, 'model.json')).toThrow(
      'model.json: graph format version 2 is not supported (this reader supports version 1)',
    );
    expect(() => graphFromJSON({ ...j, format: 'onnx' })).toThrow('graph JSON: format is "onnx", expected "lctr-graph"');
    expect(() => graphFromJSON('{"format":')).toThrow(/graph JSON: not valid JSON/);
    expect(() => graphFromJSON('[]')).toThrow('graph JSON: expected an object, got []');
  });

  it('names the bad field of a malformed file', () => {
    const j = graphToJSON(demo()) as {
      nodes: Array<Record<string, unknown>>;
      params: Array<Record<string, unknown>>;
      inputs: Array<Record<string, unknown>>;
    };
    const clone = () => JSON.parse(JSON.stringify(j)) as typeof j;
    let bad = clone();
    bad.nodes[0]!['op'] = 'conv';
    expect(() => graphFromJSON(bad)).toThrow("graph JSON.nodes[0]: node 'matmul_0': unknown op 'conv'");
    bad = clone();
    (bad.nodes[1]!['outputs'] as Array<Record<string, unknown>>)[0]!['shape'] = ['batch', 4];
    expect(() => graphFromJSON(bad)).toThrow(
      /graph JSON\.nodes\[1\]\.outputs\[0\]: file says .*"shape":\["batch",4\].*the op rules give .*"shape":\[\]/,
    );
    bad = clone();
    bad.nodes[0]!['inputs'] = ['x', 'nope'];
    expect(() => graphFromJSON(bad)).toThrow("graph JSON.nodes[0].inputs[1]: value 'nope' is not defined before node 'matmul_0'");
    bad = clone();
    bad.inputs[0]!['dtype'] = 'float64';
    expect(() => graphFromJSON(bad)).toThrow('graph JSON.inputs[0].dtype: expected float32, int32, int64 or bool, got "float64"');
    bad = clone();
    bad.params[0]!['init'] = { kind: 'normal' };
    expect(() => graphFromJSON(bad)).toThrow('graph JSON.params[0].init.std: expected a number, got undefined');
    bad = clone();
    bad.params[0]!['shape'] = [3, -3];
    expect(() => graphFromJSON(bad)).toThrow('graph JSON.params[0].shape[1]: expected a non-negative integer, got -3');
    bad = clone();
    delete (bad as Record<string, unknown>)['nodes'];
    expect(() => graphFromJSON(bad)).toThrow('graph JSON.nodes: expected an array, got undefined');
    bad = clone();
    (bad as unknown as { outputs: Record<string, string> }).outputs = { y: 'missing:0' };
    expect(() => graphFromJSON(bad)).toThrow("graph JSON.outputs.y: value 'missing:0' is not in the graph");
  });
});
