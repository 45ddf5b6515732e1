/**
 * IFA across backends: ref-cpu (float64) vs tfjs cpu / wasm (float32, forward and gradients) vs
 * ONNX Runtime (forward), for the blocks (cross + self fastAttn with each kernel, NaN padding;
 * the ESMM loss at ordinary and extreme logits) and for the request model's training and
 * serving graphs (every module, the top-k baselines SIM soft / SIM hard / TWIN included, and the
 * ablations); the serving graph exported once with symbolic cand (and seq for the linear modules;
 * the top-k modules keep a static N) and run at two (C, N) pairs on ORT and tfjs; the ONNX
 * checker on the exports. Numerics (long sequences, scaled embeddings, all padding) are in ifa-numerics.test.ts,
 * the float64 oracles in ifa-oracle.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  type FeatureSchema,
  GraphBuilder,
  type HostTensor,
  IFA_TOPK_MODULES,
  type IfaConfigInput,
  type IfaKernel,
  buildIfa,
  buildIfaTrain,
  esmmLoss,
  init,
  initWeights,
  weightsFor,
} from '@lctr/spec';
import { IFA_TEST_CONFIG, gen, ifaAttentionTestGraph, ifaGens, randomFeeds } from '@lctr/spec/testing';
import { runRef, toHost } from '@lctr/ref-cpu';
import { compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import { OnnxSession, checkOnnxModels, exportOnnx } from '@lctr/backend-onnx';
import { type ParityReport, checkParity, compareTensors, formatParityLine } from '../src/index.ts';

const T = IFA_TEST_CONFIG;
const KERNELS: readonly IfaKernel[] = ['softplus', 'relu', 'elu1'];
const MODULES = ['ifa', 'avgPool', 'fullAttention', 'simSoft', 'simHard', 'twin'] as const;
const lines: string[] = [];
function record(r: ParityReport): ParityReport {
  lines.push(formatParityLine(r));
  return r;
}

// ---- blocks ----

/** NaN in every padded row of a float input [.., L, w] whose mask [.., L] is false. */
function padWithNaN(x: HostTensor, mask: HostTensor): HostTensor {
  const data = Float32Array.from(x.data as Float32Array);
  const w = data.length / mask.data.length;
  for (let i = 0; i < mask.data.length; i++) if (!mask.data[i]) data.fill(NaN, i * w, (i + 1) * w);
  return { ...x, data } as HostTensor;
}

describe('IFA blocks: ref-cpu vs tfjs cpu/wasm vs ORT', () => {
  for (const kernel of KERNELS) {
    it(`cross + candidate self attention, ${kernel}: padded rows hold NaN, an empty request included`, async () => {
      const g = ifaAttentionTestGraph(kernel);
      const gens = { candMask: gen.prefixMask(), seqMask: gen.prefixMask(), cand: gen.normal(), seq: gen.normal() };
      const f = randomFeeds(g, { r: 6, c: 7, n: 9 }, 3, gens) as Record<string, HostTensor>;
      (f['candMask']!.data as Uint8Array).fill(0, 0, 7); // request 0: no candidate
      (f['seqMask']!.data as Uint8Array).fill(0, 9, 18); // request 1: no event
      f['cand'] = padWithNaN(f['cand']!, f['candMask']!);
      f['seq'] = padWithNaN(f['seq']!, f['seqMask']!);
      const r = record(
        await checkParity({ name: `ifa-attention-${kernel}`, graph: g, weights: initWeights(g, 4), inputs: f, gradOutput: 'sum' }),
      );
      expect(r.failures).toEqual([]);
      expect(r.entries.filter((e) => e.kind === 'grad').length).toBe(2 * g.params.length);
    });
  }

  function esmmGraph(cols: number) {
    const s: FeatureSchema = {
      imp: { dtype: 'float32', shape: ['r', cols] },
      clk: { dtype: 'float32', shape: ['r', cols] },
      like: { dtype: 'float32', shape: ['r', cols] },
      yImp: { dtype: 'float32', shape: ['r', cols] },
      yClk: { dtype: 'float32', shape: ['r', cols] },
      yLike: { dtype: 'float32', shape: ['r', cols] },
      mask: { dtype: 'bool', shape: ['r', cols] },
    };
    const b = new GraphBuilder('esmm', s);
    const v = (n: string) => b.expectDtype(b.value(n), 'float32');
    // a learnable offset per column on each logit, so the harness has parameters to compare gradients of
    const logit = (n: string) => b.add(v(n), b.param(`${n}Bias`, [cols], init.normal(0.5, 0, 1)));
    return b.build({
      loss: esmmLoss(b, logit('imp'), logit('clk'), { impression: v('yImp'), click: v('yClk') }, b.expectDtype(b.value('mask'), 'bool'), [
        { logit: logit('like'), label: v('yLike') },
      ]),
    });
  }

  it('ESMM loss with an extra objective: ordinary logits, and logits up to ±80 (stable forms on every backend)', async () => {
    const g = esmmGraph(6);
    for (const [label, std] of [
      ['ordinary', 2],
      ['extreme', 40],
    ] as const) {
      const f = randomFeeds(g, { r: 5 }, std, {
        imp: gen.normal(std),
        clk: gen.normal(std),
        like: gen.normal(std),
        yImp: gen.ints(2),
        yClk: gen.ints(2),
        yLike: gen.ints(2),
        mask: gen.mask(0.7),
      }) as Record<string, HostTensor>;
      if (label === 'extreme')
        (f['imp']!.data as Float32Array).set([80, -80, 80, -80, 60, -60], 0),
          (f['clk']!.data as Float32Array).set([80, 80, -80, -80, -60, 60], 0);
      const r = record(await checkParity({ name: `esmm-${label}`, graph: g, weights: initWeights(g, 1), inputs: f, gradOutput: 'loss' }));
      expect(r.failures).toEqual([]);
      expect(Number.isFinite(runRef(g, initWeights(g, 1), f)['loss']!.data[0]!)).toBe(true);
    }
  });
});

// ---- the request model ----

const VARIANTS: Array<[string, IfaConfigInput]> = [
  ...MODULES.map((module): [string, IfaConfigInput] => [module, { ...T, module }]),
  ['ifa relu, no self attention', { ...T, kernel: 'relu', relationAware: false }],
  ['ifa elu1, extra objective', { ...T, kernel: 'elu1', objectives: ['like'] }],
  [
    'simSoft K = N, no auxiliary loss, no self attention',
    { ...T, module: 'simSoft', simSoft: { ...T.simSoft, k: 12, auxWeight: 0 }, relationAware: false },
  ],
  ['simHard K = 1, extra objective', { ...T, module: 'simHard', simHard: { ...T.simHard, k: 1 }, objectives: ['like'] }],
  ['twin one head, one context column', { ...T, module: 'twin', twin: { k: 6, heads: 1, headDim: 3 }, context: [4] }],
];

describe('IFA model: training graph (forward + gradients of the loss) and serving graph (forward), every backend', () => {
  for (const [label, cfg] of VARIANTS) {
    it(label, async () => {
      const train = buildIfaTrain(cfg),
        serve = buildIfa(cfg);
      const w = initWeights(train, 11);
      const f = randomFeeds(train, { batch: 4 }, 7, ifaGens(cfg)) as Record<string, HostTensor>;
      (f['candMask']!.data as Uint8Array).set([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], 0); // request 0 full, request 1 empty
      const r = record(await checkParity({ name: `ifa-train ${label}`, graph: train, weights: w, inputs: f, gradOutput: 'loss' }));
      expect(r.failures).toEqual([]);
      expect(r.entries.filter((e) => e.kind === 'grad').length).toBe(2 * train.params.length);
      // the top-k modules serve a static N = 12 (their schema has no 'seq' symbol)
      const s = record(
        await checkParity({
          name: `ifa-serve ${label}`,
          graph: serve,
          weights: weightsFor(serve, w),
          inputs: randomFeeds(serve, { cand: 6, seq: 9 }, 8, ifaGens(cfg)),
        }),
      );
      expect(s.failures).toEqual([]);
    });
  }
});

describe('IFA serving graph: one export with symbolic cand (and seq), run at two (C, N) pairs', () => {
  it(
    'ORT and tfjs at (C, N) = (3, 5) and (17, 40) (top-k modules: (3, 12) and (17, 12)) match ref-cpu; the ONNX checker accepts the ' +
      'exports',
    async () => {
      const exports: Uint8Array[] = [];
      for (const module of MODULES) {
        const cfg = { ...T, module, objectives: ['like'] };
        const serve = buildIfa(cfg);
        const w = weightsFor(serve, initWeights(buildIfaTrain(cfg), 2));
        const bytes = exportOnnx(serve, w);
        exports.push(bytes, exportOnnx(buildIfaTrain(cfg), initWeights(buildIfaTrain(cfg), 2)));
        const session = await OnnxSession.create(bytes, serve, { provider: 'cpu' });
        await initTfjs({ backend: 'wasm', log: () => {} });
        const model = compileTfjs(serve);
        model.setWeights(w);
        try {
          const topk = IFA_TOPK_MODULES.includes(module);
          for (const [C, N] of topk
            ? ([
                [3, 12],
                [17, 12],
              ] as const)
            : ([
                [3, 5],
                [17, 40],
              ] as const)) {
            const f = randomFeeds(serve, { cand: C, seq: N }, C * 100 + N, ifaGens(cfg)) as Record<string, HostTensor>;
            const want = runRef(serve, w, f);
            const ort = await session.run(f as never),
              tf = model.run(f as never);
            for (const name of ['pImpression', 'pClick', 'prob', 'pLike']) {
              expect(ort[name]!.shape, `${module} ${name} (${C}, ${N})`).toEqual([1, C]);
              for (const [backend, got] of [
                ['onnx', ort],
                ['tfjs-wasm', tf],
              ] as const) {
                const cmp = compareTensors(got[name]!, toHost(want[name]!), 1e-5);
                expect(cmp.ok, `${module} ${backend} ${name} at (${C}, ${N}): ${cmp.detail}`).toBe(true);
              }
            }
          }
        } finally {
          await session.release();
          model.dispose();
        }
      }
      expect(checkOnnxModels(exports).map((c) => (c.ok ? 'ok' : c.message))).toEqual(exports.map(() => 'ok'));
    },
  );
});

describe('IFA parity report', () => {
  it('the measured worst errors per case (PARITY.md material)', () => {
    console.log(lines.join('\n'));
    expect(lines.length).toBe(3 + 2 + 2 * VARIANTS.length);
  });
});
