/**
 * IFA (blocks/ifa.ts, models/ifa.ts): config defaults and errors, the request schemas of both
 * graphs, parameter names and shapes, the cost property (the 'ifa' module never builds a
 * [C, N] tensor, 'fullAttention' does), and the blocks' build-time errors. Values are checked in
 * packages/parity/test/ifa*.test.ts (oracles, parity across backends).
 */
import { describe, expect, it } from 'vitest';
import {
  type Dim,
  type FeatureSchema,
  GraphBuilder,
  IFA_DEFAULTS,
  IFA_TOPK_MODULES,
  IFA_WIRED_MODULES,
  type IfaConfigInput,
  buildIfa,
  buildIfaTrain,
  candidateSelfAttention,
  crossAttention,
  esmmLoss,
  fastAttn,
  graphFromJSON,
  ifaConfig,
  ifaObjectiveOutput,
  ifaSchema,
  ifaSeqLen,
  serializeGraph,
  symbolsOf,
} from '../src/index.ts';
import { IFA_TEST_CONFIG } from '../src/testing/index.ts';

const T = IFA_TEST_CONFIG;
const shapes = (g: { params: ReadonlyArray<{ name: string; shape: readonly number[] }> }) =>
  g.params.map((p) => `${p.name} [${p.shape.join(', ')}]`);
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
}

describe('ifa config', () => {
  it('defaults', () => {
    expect(IFA_DEFAULTS).toEqual({
      users: 10000,
      targetItems: 2000,
      sourceItems: 20000,
      categories: 33,
      profile: [8, 2],
      cross: [8, 8],
      context: [6],
      candidates: 20,
      seqLen: 1000,
      dim: 16,
      categoryDim: 8,
      crossDim: 4,
      contextDim: 4,
      attnDim: 32,
      kernel: 'softplus',
      eps: 1e-6,
      towers: [128, 64],
      module: 'ifa',
      fullSequence: true,
      shortLen: 50,
      relationAware: true,
      objectives: [],
      simSoft: { k: 50, gsuDim: 16, attentionDim: 32, auxWeight: 1 },
      simHard: { k: 50, attentionDim: 32 },
      twin: { k: 50, heads: 2, headDim: 16 },
    });
    expect(ifaConfig()).toEqual(IFA_DEFAULTS);
    expect(ifaConfig({ dim: 8, module: 'avgPool', candidates: undefined })).toEqual({ ...IFA_DEFAULTS, dim: 8, module: 'avgPool' });
    // module sections merge field by field
    expect(ifaConfig({ simSoft: { k: 7 }, twin: { outDim: 5, heads: undefined } })).toEqual({
      ...IFA_DEFAULTS,
      simSoft: { k: 7, gsuDim: 16, attentionDim: 32, auxWeight: 1 },
      twin: { k: 50, heads: 2, headDim: 16, outDim: 5 },
    });
  });

  const cases: ReadonlyArray<[IfaConfigInput, string]> = [
    [
      { heads: 2 } as never,
      "ifa config: unknown field(s) 'heads'; known fields: users, targetItems, sourceItems, categories, profile, cross, context, " +
        'candidates, seqLen, dim, categoryDim, crossDim, contextDim, attnDim, kernel, eps, towers, module, fullSequence, shortLen, ' +
        'relationAware, objectives, simSoft, simHard, twin',
    ],
    [{ dim: 0 }, 'ifa config: dim must be a positive integer, got 0'],
    [{ attnDim: 2.5 }, 'ifa config: attnDim must be a positive integer, got 2.5'],
    [{ candidates: -1 }, 'ifa config: candidates must be a positive integer, got -1'],
    [{ seqLen: 0 }, 'ifa config: seqLen must be a positive integer, got 0'],
    [{ users: '10' as never }, 'ifa config: users must be a positive integer, got "10"'],
    [{ profile: [3, 0] }, 'ifa config: profile[1] must be a positive integer, got 0'],
    [{ cross: 4 as never }, 'ifa config: cross must be an array of positive integers, got 4'],
    [{ towers: [8, -2] }, 'ifa config: towers[1] must be a positive integer, got -2'],
    [{ kernel: 'exp' as never }, `ifa config: kernel must be one of 'softplus', 'relu', 'elu1', got "exp"`],
    [{ eps: 0 }, 'ifa config: eps must be a finite number > 0, got 0'],
    [
      { module: 'din' as never },
      `ifa config: module must be one of 'ifa', 'avgPool', 'fullAttention', 'simSoft', 'simHard', 'twin', got "din"`,
    ],
    [{ relationAware: 1 as never }, 'ifa config: relationAware must be true or false, got 1'],
    [{ fullSequence: 'no' as never }, 'ifa config: fullSequence must be true or false, got "no"'],
    [
      { objectives: ['Like'] },
      'ifa config: objectives[0] must be a name of letters and digits starting with a lower-case letter, got "Like"',
    ],
    [
      { objectives: ['like', 'click'] },
      "ifa config: objectives[1] must be a name other than the model's inputs and outputs (user, profile, cand, candCategory, candMask, " +
        'candCross, seq, seqCategory, seqMask, seqContext, impression, click, loss, prob), got "click"',
    ],
    [{ objectives: ['like', 'like'] }, 'ifa config: objectives[1] must be a name not listed twice, got "like"'],
    // module sections
    [{ simSoft: 3 as never }, 'ifa config: simSoft must be an object, got 3'],
    [{ twin: { k: 4, dim: 2 } as never }, "ifa config: unknown field(s) 'twin.dim'; known fields of twin: k, heads, headDim, outDim"],
    [{ simSoft: { gsuDim: 0 } }, 'ifa config: simSoft.gsuDim must be a positive integer, got 0'],
    [{ simSoft: { auxWeight: -1 } }, 'ifa config: simSoft.auxWeight must be a finite number >= 0, got -1'],
    [{ simHard: { attentionDim: 1.5 } }, 'ifa config: simHard.attentionDim must be a positive integer, got 1.5'],
    [{ twin: { outDim: 0 } }, 'ifa config: twin.outDim must be a positive integer, got 0'],
    [{ module: 'simSoft', seqLen: 40 }, 'ifa config: simSoft.k must be <= the sequence length the model reads, N = 40 (seqLen), got 50'],
    [
      { module: 'twin', fullSequence: false, shortLen: 20 },
      'ifa config: twin.k must be <= the sequence length the model reads, N = 20 (min(shortLen, seqLen)), got 50',
    ],
    [
      { module: 'twin', context: [] },
      "ifa config: context must be at least one context column for module 'twin' (its per-event cross-feature biases), got []",
    ],
  ];
  for (const [cfg, message] of cases) it(message.slice(0, 90), () => expect(errorOf(() => ifaConfig(cfg))).toBe(message));

  it('every module is wired; k is checked only for the module in use', () => {
    expect(IFA_WIRED_MODULES).toEqual(['ifa', 'avgPool', 'fullAttention', 'simSoft', 'simHard', 'twin']);
    expect(IFA_TOPK_MODULES).toEqual(['simSoft', 'simHard', 'twin']);
    for (const module of IFA_WIRED_MODULES)
      expect(Object.keys(buildIfaTrain({ ...T, module }).outputs)).toEqual(['pImpression', 'pClick', 'prob', 'loss']);
    expect(ifaConfig({ module: 'ifa', seqLen: 12 }).simSoft.k).toBe(50);
    // SIM soft / SIM hard do not need context columns (TWIN does)
    expect(() => buildIfaTrain({ ...T, module: 'simHard', context: [] })).not.toThrow();
  });
});

describe('ifa schemas', () => {
  it('training: batch of requests, C and N static, labels; serving: one request, cand and seq symbolic, no labels', () => {
    expect(ifaSchema(T, 'train')).toEqual({
      user: { dtype: 'int32', shape: ['batch'] },
      profile: { dtype: 'int32', shape: ['batch', 2] },
      cand: { dtype: 'int32', shape: ['batch', 5] },
      candCategory: { dtype: 'int32', shape: ['batch', 5] },
      candMask: { dtype: 'bool', shape: ['batch', 5] },
      candCross: { dtype: 'int32', shape: ['batch', 5, 2] },
      seq: { dtype: 'int32', shape: ['batch', 12] },
      seqCategory: { dtype: 'int32', shape: ['batch', 12] },
      seqMask: { dtype: 'bool', shape: ['batch', 12] },
      seqContext: { dtype: 'int32', shape: ['batch', 12, 2] },
      impression: { dtype: 'float32', shape: ['batch', 5] },
      click: { dtype: 'float32', shape: ['batch', 5] },
    });
    expect(ifaSchema(T, 'serve')).toEqual({
      user: { dtype: 'int32', shape: [1] },
      profile: { dtype: 'int32', shape: [1, 2] },
      cand: { dtype: 'int32', shape: [1, 'cand'] },
      candCategory: { dtype: 'int32', shape: [1, 'cand'] },
      candMask: { dtype: 'bool', shape: [1, 'cand'] },
      candCross: { dtype: 'int32', shape: [1, 'cand', 2] },
      seq: { dtype: 'int32', shape: [1, 'seq'] },
      seqCategory: { dtype: 'int32', shape: [1, 'seq'] },
      seqMask: { dtype: 'bool', shape: [1, 'seq'] },
      seqContext: { dtype: 'int32', shape: [1, 'seq', 2] },
    });
    // the graphs take exactly the schema
    const byName = (s: FeatureSchema) => Object.entries(s).map(([name, d]) => ({ name, ...d }));
    expect(buildIfaTrain(T).inputs).toEqual(byName(ifaSchema(T, 'train')));
    expect(buildIfa(T).inputs).toEqual(byName(ifaSchema(T, 'serve')));
  });

  it(
    'serving SIM soft / SIM hard / TWIN: seq keeps the static N (top-k); a symbolic seq is refused; the linear modules may take a ' +
      'static one',
    () => {
      const seqDims = (g: { inputs: ReadonlyArray<{ name: string; shape: readonly Dim[] }> }) =>
        g.inputs.filter((i) => i.name.startsWith('seq')).map((i) => `${i.name} [${i.shape.join(', ')}]`);
      for (const module of IFA_TOPK_MODULES) {
        expect(seqDims(buildIfa({ ...T, module }))).toEqual([
          'seq [1, 12]',
          'seqCategory [1, 12]',
          'seqMask [1, 12]',
          'seqContext [1, 12, 2]',
        ]);
        expect(ifaSchema({ ...T, module }, 'serve')['cand']!.shape).toEqual([1, 'cand']);
        expect(ifaSchema({ ...T, module, fullSequence: false, shortLen: 6 }, 'serve')['seqMask']!.shape).toEqual([1, 6]);
      }
      expect(errorOf(() => buildIfa({ ...T, module: 'simHard' }, { seq: 'symbolic' }))).toBe(
        "ifa: module 'simHard' needs a static sequence length N (a top-k over the N events, a position constant of length N): its serving " +
          "graph takes seq [1, 12] (the config's N, right-padded), got seq 'symbolic'",
      );
      expect(errorOf(() => ifaSchema({ ...T, module: 'twin' }, 'serve', { seq: 'symbolic' }))).toBe(
        "ifa: module 'twin' needs a static sequence length N (a top-k over the N events): its serving graph takes seq [1, 12] (the " +
          "config's N, right-padded), got seq 'symbolic'",
      );
      expect(errorOf(() => buildIfa(T, { seq: 'fixed' as never }))).toBe(
        `ifa serving options: seq must be 'symbolic' or 'static', got "fixed"`,
      );
      expect(seqDims(buildIfa(T, { seq: 'static' }))[0]).toBe('seq [1, 12]');
      expect(seqDims(buildIfa(T))[0]).toBe('seq [1, seq]');
    },
  );

  it('empty profile / cross / context columns leave those inputs out', () => {
    expect(Object.keys(ifaSchema({ ...T, profile: [], cross: [], context: [] }, 'train'))).toEqual([
      'user',
      'cand',
      'candCategory',
      'candMask',
      'seq',
      'seqCategory',
      'seqMask',
      'impression',
      'click',
    ]);
    const g = buildIfa({ ...T, profile: [], cross: [], context: [] });
    expect(g.params.some((p) => /profile|cross\d|context/.test(p.name))).toBe(false);
  });

  it('extra objectives: a label input, a tower and an output p<Name> each', () => {
    const cfg = { ...T, objectives: ['like', 'longView'] };
    const s = ifaSchema(cfg, 'train');
    expect(s['like']).toEqual({ dtype: 'float32', shape: ['batch', 5] });
    expect(s['longView']).toEqual({ dtype: 'float32', shape: ['batch', 5] });
    expect(ifaSchema(cfg, 'serve')['like']).toBeUndefined();
    expect(ifaObjectiveOutput('longView')).toBe('pLongView');
    expect(Object.keys(buildIfaTrain(cfg).outputs)).toEqual(['pImpression', 'pClick', 'prob', 'pLike', 'pLongView', 'loss']);
    expect(Object.keys(buildIfa(cfg).outputs)).toEqual(['pImpression', 'pClick', 'prob', 'pLike', 'pLongView']);
    expect(buildIfa(cfg).params.filter((p) => p.name.startsWith('towers/longView/')).length).toBe(4);
  });

  it('fullSequence = false: the model reads the last shortLen events (the schema N), nothing else changes', () => {
    expect(ifaSeqLen(T)).toBe(12);
    expect(ifaSeqLen({ ...T, fullSequence: false, shortLen: 4 })).toBe(4);
    expect(ifaSeqLen({ ...T, fullSequence: false, shortLen: 50 })).toBe(12);
    expect(ifaSchema({ ...T, fullSequence: false, shortLen: 4 }, 'train')['seq']!.shape).toEqual(['batch', 4]);
    expect(shapes(buildIfaTrain({ ...T, fullSequence: false, shortLen: 4 }))).toEqual(shapes(buildIfaTrain(T)));
  });
});

describe('ifa graphs', () => {
  it('parameter names and shapes (the test config)', () => {
    expect(shapes(buildIfaTrain(T))).toEqual([
      'emb/category [6, 2]',
      'emb/user [7, 4]',
      'emb/profile0 [3, 4]',
      'emb/profile1 [2, 4]',
      'emb/targetItem [30, 4]',
      'emb/cross0 [4, 2]',
      'emb/cross1 [3, 2]',
      'emb/sourceItem [40, 4]',
      'emb/context0 [5, 2]',
      'emb/context1 [3, 2]',
      // W_Q on candidates (item 4 + category 2), W_K / W_V on the sequence (4 + 2 + 2 x 2)
      'ifa/cross/w_q [6, 3]',
      'ifa/cross/w_k [10, 3]',
      'ifa/cross/w_v [10, 3]',
      'ifa/self/w_q [6, 3]',
      'ifa/self/w_k [6, 3]',
      'ifa/self/w_v [6, 3]',
      // H0 = U 12 + Cf 6 + X 4 + A 3 + R 3 = 28
      'towers/impression/l0/w [28, 6]',
      'towers/impression/l0/b [6]',
      'towers/impression/l1/w [6, 1]',
      'towers/impression/l1/b [1]',
      'towers/click/l0/w [28, 6]',
      'towers/click/l0/b [6]',
      'towers/click/l1/w [6, 1]',
      'towers/click/l1/b [1]',
    ]);
    // relationAware = false drops R (3 columns); avgPool feeds the masked mean of S (10 columns) instead of A (3)
    expect(
      shapes(buildIfaTrain({ ...T, relationAware: false })).filter(
        (s) => s.startsWith('towers/impression/l0/w') || s.startsWith('ifa/self'),
      ),
    ).toEqual(['towers/impression/l0/w [25, 6]']);
    expect(
      shapes(buildIfaTrain({ ...T, module: 'avgPool' })).filter((s) => s.startsWith('towers/click/l0/w') || s.startsWith('ifa/cross')),
    ).toEqual(['towers/click/l0/w [35, 6]']);
    expect(shapes(buildIfaTrain({ ...T, module: 'fullAttention' })).filter((s) => s.startsWith('fullAttention/'))).toEqual([
      'fullAttention/w_q [6, 3]',
      'fullAttention/w_k [10, 3]',
      'fullAttention/w_v [10, 3]',
    ]);
    // the top-k modules: query = Cf (6), behaviours = S (10); A is 3 wide in each (T's sections), so the towers keep [28, 6]
    const moduleParams = (cfg: IfaConfigInput) =>
      shapes(buildIfaTrain(cfg)).filter((s) => !/^(emb|ifa|towers)\//.test(s) || s.startsWith('towers/click/l0/w'));
    expect(moduleParams({ ...T, module: 'simSoft' })).toEqual([
      'simSoft/gsu/wq [6, 3]',
      'simSoft/gsu/wk [10, 3]',
      'simSoft/esu/wq [6, 3]',
      'simSoft/esu/wk [10, 3]',
      'simSoft/esu/wv [10, 3]',
      // the auxiliary head reads [gsuPooled (10) ‖ Cf (6)], same hidden sizes as the towers
      'simSoft/aux/l0/w [16, 6]',
      'simSoft/aux/l0/b [6]',
      'simSoft/aux/l1/w [6, 1]',
      'simSoft/aux/l1/b [1]',
      'towers/click/l0/w [28, 6]',
    ]);
    expect(
      moduleParams({ ...T, module: 'simSoft', simSoft: { ...T.simSoft, auxWeight: 0 } }).filter((s) => s.startsWith('simSoft/aux')),
    ).toEqual([]);
    expect(moduleParams({ ...T, module: 'simHard' })).toEqual([
      'simHard/esu/wq [6, 3]',
      'simHard/esu/wk [10, 3]',
      'simHard/esu/wv [10, 3]',
      'towers/click/l0/w [28, 6]',
    ]);
    // TWIN's cross-feature biases read the two context columns (2 x 2)
    expect(moduleParams({ ...T, module: 'twin' })).toEqual([
      'twin/wq [6, 4]',
      'twin/wk [10, 4]',
      'twin/wc [4, 2]',
      'twin/wv [10, 4]',
      'twin/wo [4, 3]',
      'towers/click/l0/w [28, 6]',
    ]);
    expect(moduleParams({ ...T, module: 'twin', twin: { ...T.twin, outDim: undefined } })).toContain('towers/click/l0/w [29, 6]');
  });

  it("serving and training graphs share every parameter, name and shape (less SIM soft's training-only auxiliary head)", () => {
    for (const module of IFA_WIRED_MODULES) {
      for (const relationAware of [true, false]) {
        const cfg = { ...T, module, relationAware, objectives: ['like'] };
        expect(shapes(buildIfa(cfg))).toEqual(shapes(buildIfaTrain(cfg)).filter((s) => !s.startsWith('simSoft/aux/')));
      }
    }
    expect(shapes(buildIfaTrain({ ...T, module: 'simSoft' })).filter((s) => s.startsWith('simSoft/aux/')).length).toBe(4);
  });

  it("cost: the 'ifa' module never builds a tensor with both the candidate and the sequence axis; 'fullAttention' does", () => {
    const hasCxN = (d: readonly Dim[]) => {
      const syms = d.flatMap(symbolsOf);
      return syms.includes('cand') && syms.includes('seq');
    };
    const crossing = (cfg: IfaConfigInput) =>
      buildIfa(cfg).nodes.flatMap((n) => n.outputs.filter((o) => hasCxN(o.shape)).map((o) => `${n.op} [${o.shape.join(', ')}]`));
    expect(crossing(T)).toEqual([]);
    expect(crossing({ ...T, module: 'avgPool' })).toEqual([]);
    expect(crossing({ ...T, module: 'fullAttention' }).length).toBeGreaterThan(0);
    expect(crossing({ ...T, module: 'fullAttention' })[0]).toBe('matmul [1, cand, seq]');
  });

  it("serving: the user's features (and avgPool's user-side A) meet each tower's first layer once per request, not per candidate", () => {
    const l0Products = (g: ReturnType<typeof buildIfa>) => {
      const shape = new Map<string, readonly Dim[]>([
        ...g.inputs.map((i) => [i.name, i.shape] as const),
        ...g.params.map((p) => [p.name, p.shape] as const),
      ]);
      for (const n of g.nodes) for (const o of n.outputs) shape.set(o.id, o.shape);
      return g.nodes
        .filter((n) => n.op === 'matmul' && n.id.startsWith('towers/click/l0/'))
        .map((n) => `[${shape.get(n.inputs[0]!)!.join(', ')}] x [${shape.get(n.inputs[1]!)!.join(', ')}]`);
    };
    // T: U = user + 2 profile columns of dim 4 (12); Cf 4 + 2, X 2 x 2, A (ifa: attnDim 3; avgPool:
    // S = 4 + 2 + 2 x 2 = 10), Rl 3
    expect(l0Products(buildIfa(T))).toEqual(['[1, 1, 12] x [12, 6]', '[1, cand, 16] x [16, 6]']);
    expect(l0Products(buildIfa({ ...T, module: 'avgPool' }))).toEqual(['[1, 1, 22] x [22, 6]', '[1, cand, 13] x [13, 6]']);
    // training keeps one product over H0 with U repeated per candidate row
    expect(l0Products(buildIfaTrain(T))).toEqual(['[batch, 5, 28] x [28, 6]']);
  });

  it('graph JSON round-trips; the config in meta rebuilds the same graph', () => {
    const g = buildIfaTrain({ ...T, objectives: ['like'], kernel: 'elu1' });
    expect(serializeGraph(graphFromJSON(serializeGraph(g)))).toEqual(serializeGraph(g));
    expect(serializeGraph(buildIfaTrain(JSON.parse(JSON.stringify(g.meta['config'])) as IfaConfigInput))).toEqual(serializeGraph(g));
  });
});

describe('ifa blocks: build-time errors', () => {
  const schema = {
    q: { dtype: 'float32', shape: ['r', 3, 4] },
    k: { dtype: 'float32', shape: ['r', 'n', 4] },
    v: { dtype: 'float32', shape: ['r', 'n', 2] },
    m: { dtype: 'bool', shape: ['r', 'n'] },
    k5: { dtype: 'float32', shape: ['r', 'n', 5] },
    m3: { dtype: 'bool', shape: ['r', 3] },
    flat: { dtype: 'float32', shape: ['r', 3] },
    lab: { dtype: 'float32', shape: ['r', 4] },
  } as const;
  const b = new GraphBuilder('errs', schema);
  const { q, k, v, m, k5, m3, flat, lab } = b.inputs;
  it('fastAttn', () => {
    expect(errorOf(() => fastAttn(b, 'a', q, k5, v, m))).toBe(
      "fastAttn 'a': q and k must have the same last dim, got q [r, 3, 4], k [r, n, 5]",
    );
    expect(errorOf(() => fastAttn(b, 'a', q, k, v, m3))).toBe(
      "fastAttn 'a': k, v and keyMask must share the key axis Nk, got k [r, n, 4], v [r, n, 2], keyMask [r, 3]",
    );
    expect(errorOf(() => fastAttn(b, 'a', flat, k, v, m))).toBe(
      "fastAttn 'a': expected q [R, Cq, d], k [R, Nk, d], v [R, Nk, dv], keyMask [R, Nk], got q [r, 3], k [r, n, 4], v [r, n, 2], " +
        'keyMask [r, n]',
    );
    expect(errorOf(() => fastAttn(b, 'a', q, k, v, m, { eps: -1 }))).toBe("fastAttn 'a': eps must be a finite number > 0, got -1");
    expect(errorOf(() => fastAttn(b, 'a', q, k, v, m, { kernel: 'exp' as never }))).toBe(
      `fastAttn: kernel must be one of 'softplus', 'relu', 'elu1', got "exp"`,
    );
  });
  it('cross and self attention', () => {
    expect(errorOf(() => crossAttention(b, 'c', q, k, m3, { attnDim: 2 }))).toBe(
      "crossAttention 'c': expected seq [R, L, w] and seqMask [R, L], got seq [r, n, 4], seqMask [r, 3]",
    );
    expect(errorOf(() => candidateSelfAttention(b, 's', k, m3, { attnDim: 2 }))).toBe(
      "candidateSelfAttention 's': expected cand [R, L, w] and candMask [R, L], got cand [r, n, 4], candMask [r, 3]",
    );
  });
  it('esmmLoss', () => {
    expect(errorOf(() => esmmLoss(b, flat, flat, { impression: flat, click: lab }, m3))).toBe(
      "esmmLoss: labels.click must have candMask's shape [r, 3], got [r, 4]",
    );
    expect(errorOf(() => esmmLoss(b, flat, flat, { impression: flat, click: flat }, m3, [{ logit: lab, label: flat }]))).toBe(
      "esmmLoss: extra[0].logit must have candMask's shape [r, 3], got [r, 4]",
    );
  });
});
