/**
 * The parity check shared by this package's tests: a case runs on ref-cpu (float64, the oracle)
 * and in one python process per dtype through the generated module; outputs and the gradients of
 * sum(output * cotangent) for every parameter are compared with the parity package's rule
 * (compareTensors: scaled error for floats, exact for ints and bools).
 */
import { type Graph, type HostTensor, Rng, type Weights, hashSeed, valueInfo } from '@lctr/spec';
import { gradRef, runRef, toHost } from '@lctr/ref-cpu';
import { type Tolerance, compareTensors } from '@lctr/parity';
import { type TorchDType, type TorchOutcome, runTorchBatch } from '../src/index.ts';

export interface ParityCase {
  readonly name: string;
  readonly graph: Graph;
  readonly weights: Weights;
  readonly inputs: Readonly<Record<string, HostTensor>>;
  /** float output whose gradients are compared; default: the first float output when the graph has parameters */
  readonly gradOutput?: string;
  /** a per-case exception for the float32 run, with its reason where it is declared */
  readonly tol?: Partial<Tolerance>;
}

export interface Expected {
  readonly outputs: Record<string, HostTensor>;
  readonly gradOutput?: string;
  readonly cotangent?: HostTensor<'float32'>;
  readonly grads?: Map<string, Float64Array>;
}

export interface CaseReport {
  readonly name: string;
  readonly failures: string[];
  readonly forward: number;
  readonly grad: number;
}

function gradOutputOf(c: ParityCase): string | undefined {
  if (c.gradOutput !== undefined) return c.gradOutput;
  if (c.graph.params.length === 0) return undefined;
  return Object.entries(c.graph.outputs as Record<string, string>).find(([, id]) => valueInfo(c.graph, id).dtype === 'float32')?.[0];
}

/** ref-cpu's outputs and, with a seeded float32-exact cotangent, its parameter gradients. */
export function expectedOf(c: ParityCase): Expected {
  const gradOutput = gradOutputOf(c);
  if (gradOutput === undefined) {
    const out = runRef(c.graph, c.weights, c.inputs as never) as Record<string, Parameters<typeof toHost>[0]>;
    return { outputs: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, toHost(v)])) };
  }
  const y = runRef(c.graph, c.weights, c.inputs as never)[gradOutput]!;
  const rng = new Rng(hashSeed('cotangent', c.name));
  const cot = Float32Array.from({ length: y.data.length }, () => rng.normal());
  const r = gradRef(c.graph, c.weights, c.inputs as never, gradOutput, Float64Array.from(cot));
  return {
    outputs: Object.fromEntries(Object.entries(r.outputs).map(([k, v]) => [k, toHost(v)])),
    gradOutput,
    cotangent: { dtype: 'float32', shape: y.shape, data: cot },
    grads: r.paramGrads,
  };
}

/** Run every case through torch in one python process. */
export function runCases(cases: readonly ParityCase[], expected: readonly Expected[], dtype: TorchDType): TorchOutcome[] {
  return runTorchBatch(
    cases.map((c, i) => ({
      graph: c.graph,
      weights: c.weights,
      inputs: c.inputs,
      ...(expected[i]!.gradOutput ? { gradOutput: expected[i]!.gradOutput, cotangent: expected[i]!.cotangent! } : {}),
    })),
    { dtype },
  );
}

export function compareCase(c: ParityCase, want: Expected, got: TorchOutcome, tol: Tolerance): CaseReport {
  if (!got.ok) return { name: c.name, failures: [`${c.name}: torch failed: ${got.error}`], forward: Infinity, grad: Infinity };
  const failures: string[] = [];
  let forward = 0,
    grad = 0;
  for (const [name, w] of Object.entries(want.outputs)) {
    const have = got.result.outputs[name];
    if (!have) {
      failures.push(`${c.name}: output '${name}' missing`);
      continue;
    }
    const cmp = compareTensors(have, w, tol.forward);
    if (!cmp.ok) failures.push(`${c.name}: output '${name}': ${cmp.detail}`);
    if (w.dtype === 'float32') forward = Math.max(forward, cmp.maxErr);
  }
  for (const [param, w] of want.grads ?? []) {
    const have = got.result.grads.get(param);
    if (!have) {
      failures.push(`${c.name}: gradient of '${param}' missing`);
      continue;
    }
    const cmp = compareTensors(have, { dtype: 'float32', shape: have.shape, data: w }, tol.grad);
    if (!cmp.ok) failures.push(`${c.name}: gradient of '${param}': ${cmp.detail}`);
    grad = Math.max(grad, cmp.maxErr);
  }
  return { name: c.name, failures, forward, grad };
}

export const line = (r: CaseReport) =>
  `${r.name}: fwd ${r.forward.toExponential(1)} grad ${r.grad.toExponential(1)}${r.failures.length ? '  FAIL' : ''}`;
