/**
 * Op-level parity: every case of the op catalogue (every op, several shapes, symbolic dims bound
 * to different sizes at run time, masks and padding) through ref-cpu, tfjs cpu, tfjs wasm and
 * ONNX Runtime. Forward float32 vs float64 within 1e-5 and tfjs gradients within 1e-4 of ref-cpu,
 * unless a case states an exception and its reason.
 */
import { describe, expect, it } from 'vitest';
import { initWeights, hashSeed } from '@lctr/spec';
import { OP_CASES, randomFeeds, uncoveredOps } from '@lctr/spec/testing';
import { checkParity, formatParityLine, type ParityReport } from '../src/index.ts';

describe('op-level parity: ref-cpu vs tfjs (cpu, wasm) vs ONNX Runtime', () => {
  it('covers every op of the vocabulary', () => {
    expect(uncoveredOps()).toEqual([]);
  });

  const reports: ParityReport[] = [];
  for (const c of OP_CASES) {
    c.dims.forEach((dims, k) => {
      const label = `${c.name}${c.dims.length > 1 ? ` ${JSON.stringify(dims)}` : ''}`;
      it(label, async () => {
        const weights = initWeights(c.graph, hashSeed(c.name));
        const inputs = randomFeeds(c.graph, dims, hashSeed(c.name, k), c.gens);
        const r = await checkParity({ name: label, graph: c.graph, weights, inputs, ...(c.tol ? { tol: c.tol } : {}) });
        reports.push(r);
        expect(r.failures).toEqual([]);
        // the case really compared something on every backend
        expect(new Set(r.entries.map((e) => e.backend))).toEqual(new Set(['tfjs-cpu', 'tfjs-wasm', 'onnx']));
      });
    });
  }

  it('prints the worst error per case', () => {
    for (const r of reports) console.log(formatParityLine(r));
    expect(reports.length).toBeGreaterThanOrEqual(OP_CASES.length);
  });
});
