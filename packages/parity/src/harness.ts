/**
 * The parity harness every later issue reuses: one graph, one set of weights and inputs, run on
 * ref-cpu (float64, the oracle), tfjs (cpu and wasm backends) and ONNX Runtime; outputs compared
 * with `compareTensors`, and gradients of one float output (against a seeded random cotangent)
 * compared between tfjs and ref-cpu.
 */
import { type Graph, type HostTensor, Rng, type Weights, hashSeed, valueInfo } from '@lctr/spec';
import { gradRef, runRef, toHost } from '@lctr/ref-cpu';
import { compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import { OnnxSession, exportOnnx } from '@lctr/backend-onnx';
import { type Comparison, DEFAULT_TOLERANCE, type Tolerance, compareTensors } from './compare.ts';

export type ParityBackend = 'tfjs-cpu' | 'tfjs-wasm' | 'onnx';
export const ALL_BACKENDS: readonly ParityBackend[] = ['tfjs-cpu', 'tfjs-wasm', 'onnx'];

export interface ParityCase {
  readonly name: string;
  readonly graph: Graph;
  readonly weights: Weights;
  readonly inputs: Readonly<Record<string, HostTensor>>;
  /** per-case tolerance exception (state the reason where it is declared) */
  readonly tol?: Partial<Tolerance>;
  /** float output whose gradients are compared; default: the first float output if the graph has parameters; null: none */
  readonly gradOutput?: string | null;
}

export interface ParityEntry {
  readonly kind: 'output' | 'grad';
  /** output name, or parameter path for gradients */
  readonly name: string;
  readonly backend: ParityBackend;
  readonly comparison: Comparison;
}

export interface ParityReport {
  readonly name: string;
  readonly entries: readonly ParityEntry[];
  readonly ok: boolean;
  readonly failures: readonly string[];
  /** worst forward and gradient errors per backend */
  readonly worst: Readonly<Partial<Record<ParityBackend, { forward: number; grad: number }>>>;
}

export interface ParityOptions {
  backends?: readonly ParityBackend[];
  tol?: Partial<Tolerance>;
}

function defaultGradOutput(c: ParityCase): string | null {
  if (c.gradOutput !== undefined) return c.gradOutput;
  if (c.graph.params.length === 0) return null;
  for (const [name, id] of Object.entries(c.graph.outputs) as Array<[string, string]>) {
    if (valueInfo(c.graph, id).dtype === 'float32') return name;
  }
  return null;
}

export async function checkParity(c: ParityCase, opts: ParityOptions = {}): Promise<ParityReport> {
  const tol: Tolerance = { ...DEFAULT_TOLERANCE, ...opts.tol, ...c.tol };
  const backends = opts.backends ?? ALL_BACKENDS;
  const expected = runRef(c.graph, c.weights, c.inputs);
  const gradOutput = defaultGradOutput(c);
  let cotangent: Float64Array | undefined;
  let refGrads: Map<string, Float64Array> | undefined;
  if (gradOutput) {
    const out = expected[gradOutput as keyof typeof expected]!;
    const rng = new Rng(hashSeed('cotangent', c.name));
    cotangent = Float64Array.from({ length: out.data.length }, () => Math.fround(rng.normal()));
    refGrads = gradRef(c.graph, c.weights, c.inputs, gradOutput, cotangent).paramGrads;
  }
  const entries: ParityEntry[] = [];
  const outputNames = Object.keys(c.graph.outputs);
  const compareOutputs = (backend: ParityBackend, got: Readonly<Record<string, HostTensor>>) => {
    for (const name of outputNames) {
      const want = toHost(expected[name as keyof typeof expected]!);
      const have = got[name];
      const comparison = have
        ? compareTensors(have, want, tol.forward)
        : { ok: false, maxErr: Infinity, maxAbs: Infinity, at: -1, detail: 'output missing' };
      entries.push({ kind: 'output', name, backend, comparison });
    }
  };
  for (const backend of backends) {
    if (backend === 'onnx') {
      const session = await OnnxSession.create(exportOnnx(c.graph, c.weights), c.graph, { provider: 'cpu' });
      try {
        compareOutputs(backend, await session.run(c.inputs as never));
      } finally {
        await session.release();
      }
      continue;
    }
    await initTfjs({ backend: backend === 'tfjs-cpu' ? 'cpu' : 'wasm', log: () => {} });
    const model = compileTfjs(c.graph);
    try {
      model.setWeights(c.weights);
      compareOutputs(backend, model.run(c.inputs as never));
      if (gradOutput && cotangent && refGrads) {
        const out = expected[gradOutput as keyof typeof expected]!;
        const cot: HostTensor<'float32'> = { dtype: 'float32', shape: out.shape, data: Float32Array.from(cotangent) };
        const { grads } = model.gradients(c.inputs as never, gradOutput, cot);
        for (const [param, want] of refGrads) {
          const have = grads.get(param);
          const comparison = have
            ? compareTensors(have, { dtype: 'float32', shape: have.shape, data: want }, tol.grad)
            : { ok: false, maxErr: Infinity, maxAbs: Infinity, at: -1, detail: 'gradient missing' };
          entries.push({ kind: 'grad', name: param, backend, comparison });
        }
      }
    } finally {
      model.dispose();
    }
  }
  const failures = entries
    .filter((e) => !e.comparison.ok)
    .map((e) => `${c.name}: ${e.backend} ${e.kind} '${e.name}': ${e.comparison.detail}`);
  const worst: Partial<Record<ParityBackend, { forward: number; grad: number }>> = {};
  for (const e of entries) {
    const w = (worst[e.backend] ??= { forward: 0, grad: 0 });
    if (e.kind === 'output') w.forward = Math.max(w.forward, e.comparison.maxErr);
    else w.grad = Math.max(w.grad, e.comparison.maxErr);
  }
  return { name: c.name, entries, ok: failures.length === 0, failures, worst };
}

/** One line: `name  tfjs-cpu fwd 1.2e-7 grad 3.4e-7 | tfjs-wasm ... | onnx fwd ...  OK`. */
export function formatParityLine(r: ParityReport): string {
  const parts = (Object.entries(r.worst) as Array<[ParityBackend, { forward: number; grad: number }]>).map(
    ([b, w]) => `${b} fwd ${w.forward.toExponential(1)}${b === 'onnx' ? '' : ` grad ${w.grad.toExponential(1)}`}`,
  );
  return `${r.name}: ${parts.join(' | ')}  ${r.ok ? 'OK' : 'FAIL'}`;
}
