/** countFlops: hand-counted FLOPs of small graphs, and the `useful` rule for matmuls read through picks. */
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '@lctr/spec';
import { countFlops } from './flops.ts';

describe('countFlops', () => {
  it('matmul 2K per output, elementwise 1, softmax 5, reductions and topk 1 per input, data movement 0', () => {
    const b = new GraphBuilder('f', { x: { dtype: 'float32', shape: ['r', 4] } });
    const w = b.param('w', [4, 3]);
    const y = b.matmul(b.inputs.x, w); // 2*4 per output: 2 * r*3 * 4
    const s = b.softmax(b.add(y, b.scalar(1)), 1); // add r*3, softmax 5 * r*3
    const t = b.topk(s, 2); // r*3 inputs
    const g = b.build({ out: b.reduceSum(b.reshape(t.values, ['r', 2]), [1]) }); // reshape 0, sum r*2
    const f = countFlops(g, { r: 5 });
    expect(f.matmul).toBe(2 * 5 * 3 * 4);
    expect(f.total).toBe(120 + 15 + 75 + 15 + 10);
    expect(f.useful).toBe(f.total);
    expect(f.matmuls).toEqual([{ node: f.matmuls[0]!.node, a: [5, 4], b: [4, 3], flops: 120, constantB: true }]);
  });

  it('a matmul read only through picks of k of its n columns counts k/n of its FLOPs as useful; an activation b is not constant', () => {
    const b = new GraphBuilder('u', {
      q: { dtype: 'float32', shape: [10, 8] },
      keys: { dtype: 'float32', shape: [8, 20] },
      idx: { dtype: 'int32', shape: [10, 5] },
    });
    const scores = b.matmul(b.inputs.q, b.inputs.keys); // [10, 20]: 2 * 200 * 8 = 3200
    const picked = b.gatherAlongAxis(scores, b.inputs.idx, 1); // reads 5 of 20 columns
    const g = b.build({ picked });
    const f = countFlops(g, {});
    expect(f.total).toBe(3200);
    expect(f.useful).toBe((3200 * 5) / 20);
    expect(f.matmuls[0]!.constantB).toBe(false);
    // read anywhere else as well (here: a graph output), the whole product counts
    const g2 = new GraphBuilder('u2', {
      q: { dtype: 'float32', shape: [10, 8] },
      keys: { dtype: 'float32', shape: [8, 20] },
      idx: { dtype: 'int32', shape: [10, 5] },
    });
    const s2 = g2.matmul(g2.inputs.q, g2.inputs.keys);
    expect(countFlops(g2.build({ picked: g2.gatherAlongAxis(s2, g2.inputs.idx, 1), s2 }), {}).useful).toBe(3200);
  });

  it(
    'a matmul whose left operand is a scatter of k into n along the contracted axis counts k/n as useful; the scatter moves data ' + '(0)',
    () => {
      const b = new GraphBuilder('s', {
        w: { dtype: 'float32', shape: [10, 4] },
        idx: { dtype: 'int32', shape: [10, 4] },
        v: { dtype: 'float32', shape: [20, 6] },
      });
      const pooled = b.matmul(b.scatterAlongAxis(b.inputs.w, b.inputs.idx, 20, 1), b.inputs.v); // [10, 20] x [20, 6]: 2 * 60 * 20 = 2400
      const f = countFlops(b.build({ pooled }), {});
      expect(f.total).toBe(2400);
      expect(f.useful).toBe((2400 * 4) / 20);
    },
  );
});
