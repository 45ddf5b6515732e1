/**
 * KEEP's graph-level contract: schemas and feature names, parameter names and shapes at the paper's
 * sizes, knowledge widths (288, 256), graphs that share the extractor's parameter names, the plug-in's
 * additive change to DIN / AvgPooling (graph JSON byte-identical when off), and config errors. Values,
 * the pairwise-loss oracle, the warm start and backend parity live in packages/parity/test/keep*.test.ts.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  GraphBuilder,
  KEEP_DEFAULTS,
  type Graph,
  buildAvgPool,
  buildAvgPoolTrain,
  buildDemoTrain,
  buildDin,
  buildDinTrain,
  buildKeep,
  buildKeepItemTable,
  buildKeepKnowledge,
  buildKeepServedKnowledge,
  buildKeepTrain,
  buildKeepTwoTower,
  buildKeepTwoTowerTrain,
  buildKeepUserCategoryTable,
  buildKeepUserTable,
  dinSchema,
  graphFromJSON,
  keepKnowledgeDim,
  keepKnowledgeLayout,
  keepSchema,
  keepTwoTowerSchema,
  mlp,
  serializeGraph,
  valueInfo,
} from '../src/index.ts';
import { KEEP_DEGENERATE_TEST_CONFIG, KEEP_TEST_CONFIG, KEEP_TWO_TOWER_TEST_CONFIG } from '../src/testing/index.ts';

const shapes = (g: Graph) => g.params.map((p) => `${p.name} [${p.shape.join(', ')}]`);
const outShape = (g: Graph, name: string) => valueInfo(g, (g.outputs as Record<string, string>)[name]!).shape;
const sha = (g: Graph) => createHash('sha256').update(serializeGraph(g)).digest('hex');
/** every parameter of `sub` exists in `full` with the same shape */
function sharesNames(sub: Graph, full: Graph): void {
  const byName = new Map(full.params.map((p) => [p.name, p.shape]));
  for (const p of sub.params) expect(byName.get(p.name), p.name).toEqual(p.shape);
}

const SMALL = {
  dim: 4,
  categoryDim: 2,
  seqLen: 5,
  users: 10,
  targetItems: 30,
  sourceItems: 40,
  categories: 6,
  profile: [3, 2],
  hidden: [8, 6],
};

describe('KEEP extractor: schema, parameters, knowledge', () => {
  it('schema: user, target item/shop/category, behaviour item/shop/category + mask, three labels when training', () => {
    const L = KEEP_TEST_CONFIG.seqLen!;
    expect(keepSchema(KEEP_TEST_CONFIG, 'train')).toEqual({
      user: { dtype: 'int32', shape: ['batch'] },
      item: { dtype: 'int32', shape: ['batch'] },
      shop: { dtype: 'int32', shape: ['batch'] },
      category: { dtype: 'int32', shape: ['batch'] },
      behaviourItem: { dtype: 'int32', shape: ['batch', L] },
      behaviourShop: { dtype: 'int32', shape: ['batch', L] },
      behaviourCategory: { dtype: 'int32', shape: ['batch', L] },
      behaviourMask: { dtype: 'bool', shape: ['batch', L] },
      clickLabel: { dtype: 'float32', shape: ['batch'] },
      convLabel: { dtype: 'float32', shape: ['batch'] },
      cartLabel: { dtype: 'float32', shape: ['batch'] },
    });
    expect(Object.keys(keepSchema(KEEP_TEST_CONFIG))).toEqual([
      'user',
      'item',
      'shop',
      'category',
      'behaviourItem',
      'behaviourShop',
      'behaviourCategory',
      'behaviourMask',
    ]);
    expect(Object.keys(keepSchema(KEEP_DEGENERATE_TEST_CONFIG))).toEqual(['user', 'category', 'behaviourCategory', 'behaviourMask']);
  });

  it('paper sizes: user 48, item/shop/category 16, x = 144, towers 512-256-128-64-2, K(u, i) = 288', () => {
    const g = buildKeepTrain({ ...KEEP_DEFAULTS, users: 100, items: 50, shops: 7, categories: 9 });
    const s = shapes(g);
    expect(s.slice(0, 8)).toEqual([
      'emb/user [100, 48]',
      'emb/item [50, 16]',
      'emb/shop [7, 16]',
      'emb/category [9, 16]',
      'att/l0/w [192, 80]',
      'att/l0/b [80]',
      'att/l1/w [80, 40]',
      'att/l1/b [40]',
    ]);
    for (const t of ['click', 'conv', 'cart']) {
      expect(s.filter((x) => x.startsWith(`tower/${t}/`) && x.includes('/w '))).toEqual(
        [
          [144, 512],
          [512, 256],
          [256, 128],
          [128, 64],
          [64, 2],
        ].map(([i, o], l) => `tower/${t}/l${l}/w [${i}, ${o}]`),
      );
    }
    expect(Object.keys(g.outputs)).toEqual(['probClick', 'probConv', 'probCart', 'lossClick', 'lossConv', 'lossCart', 'loss']);
    expect(outShape(g, 'loss')).toEqual([]);
    expect(outShape(g, 'probConv')).toEqual(['batch']);
    const k = buildKeepKnowledge({ ...KEEP_DEFAULTS, users: 100, items: 50, shops: 7, categories: 9 });
    expect(outShape(k, 'knowledge')).toEqual(['batch', 288]);
    expect(keepKnowledgeDim()).toBe(288);
    expect(keepKnowledgeLayout()).toEqual([
      { name: 'user', offset: 0, dim: 48 },
      { name: 'item', offset: 48, dim: 48 },
      { name: 'click', offset: 96, dim: 64 },
      { name: 'conv', offset: 160, dim: 64 },
      { name: 'cart', offset: 224, dim: 64 },
    ]);
    // the knowledge graph stops at the knowledge layer: no 2-way layer, no label
    expect(k.params.some((p) => p.name.endsWith('/l4/w'))).toBe(false);
    expect(k.inputs.some((i) => i.name.endsWith('Label'))).toBe(false);
    sharesNames(k, g);
    sharesNames(buildKeep(KEEP_TEST_CONFIG), buildKeepTrain(KEEP_TEST_CONFIG));
  });

  it("degeneration: the target is its category (x = 48 + 16 + 16 = 80); K̂_uc is the click tower's 64-d layer", () => {
    const cfg = { ...KEEP_DEFAULTS, target: 'category' as const, users: 100, categories: 9 };
    const g = buildKeepTrain(cfg);
    expect(g.name).toBe('keep-degenerate-train');
    expect(shapes(g).slice(0, 3)).toEqual(['emb/user [100, 48]', 'emb/category [9, 16]', 'att/l0/w [64, 80]']);
    expect(shapes(g)).toContain('tower/click/l0/w [80, 512]');
    const uc = buildKeepUserCategoryTable(cfg);
    expect(uc.inputs.map((i) => i.name)).toEqual(['user', 'category', 'behaviourCategory', 'behaviourMask']);
    expect(outShape(uc, 'userCategoryKnowledge')).toEqual(['batch', 64]);
    expect(uc.params.some((p) => p.name.startsWith('tower/conv'))).toBe(false);
    sharesNames(uc, g);
  });

  it('round-trips through graph JSON, and the stored config rebuilds the same graph', () => {
    const g = buildKeepTrain(KEEP_TEST_CONFIG);
    expect(serializeGraph(graphFromJSON(serializeGraph(g)))).toEqual(serializeGraph(g));
    expect(serializeGraph(buildKeepTrain(JSON.parse(JSON.stringify(g.meta['config']))))).toEqual(serializeGraph(g));
  });
});

describe('KEEP decomposition: two towers, per-entity tables, served knowledge', () => {
  it('paper sizes: K̂_u = f_u(user 48 ‖ mean behaviour 48) ∈ R^64, K̂_i = f_i(item 48) ∈ R^64, logit = ⟨K̂_u, K̂_i⟩ + b', () => {
    const cfg = { users: 100, items: 50, shops: 7, categories: 9 };
    const g = buildKeepTwoTowerTrain(cfg);
    expect(shapes(g)).toEqual([
      'emb/item [50, 16]',
      'emb/shop [7, 16]',
      'emb/category [9, 16]',
      'emb/user [100, 48]',
      'userTower/l0/w [96, 128]',
      'userTower/l0/b [128]',
      'userTower/l1/w [128, 64]',
      'userTower/l1/b [64]',
      'itemTower/l0/w [48, 128]',
      'itemTower/l0/b [128]',
      'itemTower/l1/w [128, 64]',
      'itemTower/l1/b [64]',
      'bias [1]',
    ]);
    expect(Object.keys(keepTwoTowerSchema(cfg, 'train')).filter((k) => k.endsWith('Label'))).toEqual(['clickLabel']);
    const u = buildKeepUserTable(cfg),
      i = buildKeepItemTable(cfg);
    expect(u.inputs.map((x) => x.name)).toEqual(['user', 'behaviourItem', 'behaviourShop', 'behaviourCategory', 'behaviourMask']);
    expect(i.inputs.map((x) => x.name)).toEqual(['item', 'shop', 'category']);
    expect(outShape(u, 'userKnowledge')).toEqual(['batch', 64]);
    expect(outShape(i, 'itemKnowledge')).toEqual(['batch', 64]);
    sharesNames(u, g);
    sharesNames(i, g);
    sharesNames(buildKeepTwoTower(cfg), g);
    expect(i.params.some((p) => p.name.startsWith('userTower') || p.name === 'emb/user')).toBe(false);
  });

  it('served knowledge: [K̂_u, K̂_i, K̂_u ⊙ K̂_i, K̂_uc] = 256 wide, no parameters', () => {
    const g = buildKeepServedKnowledge();
    expect(g.params).toEqual([]);
    expect(g.inputs.map((x) => `${x.name} [${x.shape.join(', ')}]`)).toEqual([
      'userKnowledge [batch, 64]',
      'itemKnowledge [batch, 64]',
      'userCategoryKnowledge [batch, 64]',
    ]);
    expect(outShape(g, 'knowledge')).toEqual(['batch', 256]);
    expect(outShape(buildKeepServedKnowledge({ dim: 5, userCategoryDim: 3 }), 'knowledge')).toEqual(['batch', 18]);
  });
});

describe('KEEP plug-in in the baselines', () => {
  // sha256 of serializeGraph before the plug-in existed (commit dcf2a89): switching it off must not change a byte
  const BEFORE: Array<[string, () => Graph, string]> = [
    ['avgpool small serve', () => buildAvgPool(SMALL), 'fce71d7ab53aababdb391f21659db8b7ae505d1a5755583c4f368544b9eff209'],
    ['avgpool small train', () => buildAvgPoolTrain(SMALL), '4d913c694a4d9f7a65588043fd5cd58ef0d8338c863c02e8243d016549cc440e'],
    ['din small serve', () => buildDin({ ...SMALL, attention: [4] }), '4a3309c91f8b2baba046aa68692588f7b7741803751fefc0213ffb1fd8315d3c'],
    [
      'din small train',
      () => buildDinTrain({ ...SMALL, attention: [4] }),
      '6ed94035e1dc6cad025f0379c7207507c574826b6edb93d3fdc29fe1c80df5b0',
    ],
    ['avgpool default train', () => buildAvgPoolTrain(), 'fadf7e839b596e2424b9901bab249c6f63049ca4756c2579775f7672083f24f7'],
    ['din default train', () => buildDinTrain(), '61970d5ca6f12f180c4024bd0724c48b8dbe4c3d1d7f2dd231909e962bfc41b3'],
    [
      'din knowledge: undefined',
      () => buildDinTrain({ knowledge: undefined }),
      '61970d5ca6f12f180c4024bd0724c48b8dbe4c3d1d7f2dd231909e962bfc41b3',
    ],
    ['demo train (mlp without hook)', () => buildDemoTrain(), '2be8bbb0f7de62b18d55bef50f12d34af24025bf05662b42eaf6c52b33688a70'],
  ];
  it.each(BEFORE)('plug-in off: %s graph JSON is byte-identical to before', (_name, build, hash) => {
    expect(sha(build())).toBe(hash);
  });

  it.each([
    ['din', (k?: object) => buildDinTrain({ ...SMALL, attention: [4], ...(k ? { knowledge: k } : {}) })],
    ['avgpool', (k?: object) => buildAvgPoolTrain({ ...SMALL, ...(k ? { knowledge: k } : {}) })],
  ] as const)('%s: the plug-in adds the knowledge input and plugin/* parameters, nothing renamed or reshaped', (_name, build) => {
    const base = build(),
      plugged = build({ dim: 18 });
    expect(plugged.params.filter((p) => !p.name.startsWith('plugin/')).map((p) => [p.name, p.shape, p.init])).toEqual(
      base.params.map((p) => [p.name, p.shape, p.init]),
    );
    expect(shapes(plugged).filter((s) => s.startsWith('plugin/'))).toEqual([
      'plugin/l0/w [18, 128]',
      'plugin/l0/b [128]',
      'plugin/l1/w [128, 8]',
      'plugin/l1/b [8]',
    ]);
    expect(plugged.params.filter((p) => p.name.startsWith('plugin/l1/')).map((p) => p.init)).toEqual([
      { kind: 'zeros' },
      { kind: 'zeros' },
    ]);
    expect(plugged.inputs.map((i) => i.name)).toEqual([
      ...base.inputs.map((i) => i.name).filter((n) => n !== 'label'),
      'knowledge',
      'label',
    ]);
    expect(plugged.inputs.find((i) => i.name === 'knowledge')).toEqual({ name: 'knowledge', dtype: 'float32', shape: ['batch', 18] });
    // layer m = 2 projects to the second hidden width
    expect(shapes(build({ dim: 7, layer: 2, hidden: 3 })).filter((s) => s.startsWith('plugin/'))).toEqual([
      'plugin/l0/w [7, 3]',
      'plugin/l0/b [3]',
      'plugin/l1/w [3, 6]',
      'plugin/l1/b [6]',
    ]);
    // the stored config (defaults filled) rebuilds the same graph
    expect(plugged.meta['config']).toMatchObject({ knowledge: { dim: 18, layer: 1, hidden: 128 } });
    expect(serializeGraph(build(JSON.parse(JSON.stringify((plugged.meta['config'] as { knowledge: object }).knowledge))))).toEqual(
      serializeGraph(plugged),
    );
  });

  it('h^k is added to the output of layer m (after its ReLU), before the next dense layer', () => {
    const g = buildDin({ ...SMALL, attention: [4], knowledge: { dim: 5 } });
    const add = g.nodes.find(
      (n) =>
        n.op === 'add' &&
        n.inputs.some((id) => g.nodes.find((m) => m.outputs.some((o) => o.id === id))?.op === 'relu') &&
        n.inputs.some((id) => id.startsWith('plugin/')),
    )!;
    expect(add).toBeDefined();
    const [hm] = add.inputs.map((id) => g.nodes.find((m) => m.outputs.some((o) => o.id === id))!);
    expect(hm!.op).toBe('relu');
    expect(hm!.inputs[0]!.startsWith('mlp/l0/')).toBe(true); // h_1 = ReLU(x W0 + b0)
    const next = g.nodes.find((n) => n.op === 'matmul' && n.inputs.includes(add.outputs[0]!.id))!;
    expect(next.inputs[1]).toBe('mlp/l1/w');
    expect(dinSchema({ ...SMALL, attention: [4], knowledge: { dim: 5 } })['knowledge']).toEqual({ dtype: 'float32', shape: ['batch', 5] });
  });

  it('mlp hook: called once per layer with the activated output, its value replaces the layer output', () => {
    const b = new GraphBuilder('hook', { x: { dtype: 'float32', shape: ['batch', 3] } });
    const seen: Array<[number, readonly unknown[]]> = [];
    mlp(b, 'm', b.expectDtype(b.value('x'), 'float32'), [4, 2], 'relu', 'none', (i, h) => {
      seen.push([i, h.shape]);
      return h;
    });
    expect(seen).toEqual([
      [0, ['batch', 4]],
      [1, ['batch', 2]],
    ]);
  });
});

describe('KEEP config errors name the field, the expectation and the value', () => {
  it.each([
    [
      () => buildKeepTrain({ tower: [8, 4, 1] }),
      'keep config: tower must be at least 2 sizes ending with 2 (the 2-way output, s = z1 - z0), got [8,4,1]',
    ],
    [() => buildKeepTrain({ tower: [] }), 'keep config: tower must be a non-empty array of positive integers, got []'],
    [() => buildKeepTrain({ tower: [8, 0, 2] }), 'keep config: tower[1] must be a positive integer, got 0'],
    [() => buildKeepTrain({ userDim: 0 }), 'keep config: userDim must be a positive integer, got 0'],
    [() => buildKeepTrain({ alpha: -1 }), 'keep config: alpha must be a finite number >= 0, got -1'],
    [() => buildKeepTrain({ target: 'shop' as never }), "keep config: target must be 'item' or 'category', got \"shop\""],
    [
      () => buildKeepTrain({ towers: [2] } as never),
      "keep config: 'towers' is not a field (known: users, items, shops, categories, userDim, featureDim, seqLen, alpha, attention, " +
        'tower, target)',
    ],
    [
      () => buildKeepKnowledge(KEEP_DEGENERATE_TEST_CONFIG),
      "keep knowledge: K(u, i) needs target 'item', got 'category' (the degenerate extractor gives K̂_uc: buildKeepUserCategoryTable)",
    ],
    [
      () => buildKeepUserCategoryTable(KEEP_TEST_CONFIG),
      "keep config: target must be 'category' for the user-category table (the degenerate extractor), got 'item'",
    ],
    [
      () => buildKeepTwoTowerTrain({ ...KEEP_TWO_TOWER_TEST_CONFIG, itemTower: [4, 5] }),
      "keep-two-tower config: itemTower must be an array ending with the userTower's width 3 (⟨K̂_u, K̂_i⟩ and K̂_u ⊙ K̂_i need equal " +
        'widths), got [4,5]',
    ],
    [() => buildKeepServedKnowledge({ dim: 1.5 }), 'keep-served-knowledge config: dim must be a positive integer, got 1.5'],
    [
      () => buildDin({ ...SMALL, knowledge: { layer: 3 } }),
      'din config: knowledge.layer must be between 1 and 2 (the hidden layers of the MLP [8, 6]), got 3',
    ],
    [() => buildAvgPool({ ...SMALL, knowledge: { dim: 0 } }), 'avgpool config: knowledge.dim must be a positive integer, got 0'],
    [
      () => buildAvgPool({ ...SMALL, knowledge: { width: 3 } as never }),
      'avgpool config: knowledge.width is not a field (known: dim, layer, hidden)',
    ],
    [
      () => buildAvgPool({ ...SMALL, hidden: [], knowledge: {} }),
      'avgpool config: knowledge needs an MLP with at least one hidden layer to add h^k to, got hidden []',
    ],
  ])('%#', (build, message) => {
    expect(build).toThrow(message);
    try {
      build();
    } catch (e) {
      expect((e as Error).message).toBe(message);
    }
  });
});
