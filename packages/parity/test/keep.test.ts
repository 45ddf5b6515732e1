/**
 * KEEP across backends (ref-cpu float64 vs tfjs cpu / wasm vs ONNX Runtime), forward and gradients
 * against a seeded cotangent: the extractor's training graph (gradients of the summed loss), its
 * knowledge graph (gradients of K(u, i)), the degenerate extractor and its user-category table, the
 * two-tower extractor and its user / item tables, the served knowledge assembly, and DIN / AvgPooling
 * with the plug-in (training and serving graphs; the plug-in's last layer given non-zero values so
 * every plug-in parameter receives gradient).
 */
import { describe, expect, it } from 'vitest';
import {
  type Graph,
  type HostTensor,
  Rng,
  buildAvgPool,
  buildAvgPoolTrain,
  buildDin,
  buildDinTrain,
  buildKeepItemTable,
  buildKeepKnowledge,
  buildKeepServedKnowledge,
  buildKeepTrain,
  buildKeepTwoTowerTrain,
  buildKeepUserCategoryTable,
  buildKeepUserTable,
  initWeights,
  weightsFor,
} from '@lctr/spec';
import {
  KEEP_DEGENERATE_TEST_CONFIG,
  KEEP_TEST_CONFIG,
  KEEP_TWO_TOWER_TEST_CONFIG,
  gen,
  keepGens,
  keepPluggedWeights,
  keepSpreadWeights,
  nestKeepLabels,
  randomFeeds,
} from '@lctr/spec/testing';
import { checkParity, formatParityLine } from '../src/index.ts';

type Feeds = Record<string, HostTensor>;
const B = 10;

async function parity(name: string, graph: Graph, weights: Map<string, HostTensor<'float32'>>, inputs: Feeds, gradOutput: string | null) {
  const r = await checkParity({ name, graph, weights, inputs, gradOutput });
  console.log(formatParityLine(r));
  expect(r.failures).toEqual([]);
  const grads = r.entries.filter((e) => e.kind === 'grad').length;
  expect(grads).toBe(gradOutput ? 2 * graph.params.length : 0);
  return r;
}

const spreadWeights = keepSpreadWeights;

describe('KEEP extractor parity', () => {
  it('training graph: three task losses and probabilities, gradients of the summed loss', async () => {
    const g = buildKeepTrain(KEEP_TEST_CONFIG);
    const feeds = nestKeepLabels(randomFeeds(g, { batch: B }, 31, keepGens()) as Feeds);
    await parity('keep-train', g, spreadWeights(g, 12), feeds, 'loss');
  });

  it('knowledge graph: K(u, i) and its gradients', async () => {
    const t = buildKeepTrain(KEEP_TEST_CONFIG),
      g = buildKeepKnowledge(KEEP_TEST_CONFIG);
    await parity(
      'keep-knowledge',
      g,
      weightsFor(g, spreadWeights(t, 12)),
      randomFeeds(g, { batch: B }, 32, keepGens()) as Feeds,
      'knowledge',
    );
  });

  it('degenerate extractor: training graph and the user-category table', async () => {
    const t = buildKeepTrain(KEEP_DEGENERATE_TEST_CONFIG),
      uc = buildKeepUserCategoryTable(KEEP_DEGENERATE_TEST_CONFIG);
    const w = spreadWeights(t, 13);
    await parity('keep-degenerate-train', t, w, nestKeepLabels(randomFeeds(t, { batch: B }, 33, keepGens()) as Feeds), 'loss');
    await parity(
      'keep-user-category-table',
      uc,
      weightsFor(uc, w),
      randomFeeds(uc, { batch: B }, 34, keepGens()) as Feeds,
      'userCategoryKnowledge',
    );
  });
});

describe('KEEP decomposition parity', () => {
  it('two-tower training graph, user and item tables, served knowledge assembly', async () => {
    const cfg = KEEP_TWO_TOWER_TEST_CONFIG;
    const t = buildKeepTwoTowerTrain(cfg),
      u = buildKeepUserTable(cfg),
      i = buildKeepItemTable(cfg);
    const w = spreadWeights(t, 14);
    await parity('keep-two-tower-train', t, w, randomFeeds(t, { batch: B }, 35, keepGens(cfg)) as Feeds, 'loss');
    await parity('keep-user-table', u, weightsFor(u, w), randomFeeds(u, { batch: B }, 36, keepGens(cfg)) as Feeds, 'userKnowledge');
    await parity('keep-item-table', i, weightsFor(i, w), randomFeeds(i, { batch: B }, 37, keepGens(cfg)) as Feeds, 'itemKnowledge');
    const s = buildKeepServedKnowledge({ dim: 3, userCategoryDim: 3 });
    await parity('keep-served-knowledge', s, new Map(), randomFeeds(s, { batch: B }, 38) as Feeds, null);
  });
});

const BASE = {
  dim: 4,
  categoryDim: 2,
  seqLen: 6,
  users: 12,
  targetItems: 30,
  sourceItems: 50,
  categories: 7,
  profile: [3, 5],
  hidden: [10, 6],
};
const KNOWLEDGE = { dim: 18, layer: 1, hidden: 8 };
const GENS = {
  user: gen.ints(BASE.users),
  profile: gen.ints(3),
  candidate: gen.ints(BASE.targetItems),
  candidateCategory: gen.ints(BASE.categories),
  targetSeq: gen.ints(BASE.targetItems),
  targetSeqCategory: gen.ints(BASE.categories),
  targetSeqMask: gen.prefixMask(),
  sourceSeq: gen.ints(BASE.sourceItems),
  sourceSeqCategory: gen.ints(BASE.categories),
  sourceSeqMask: gen.prefixMask(),
  label: gen.ints(2),
};
const pluggedWeights = keepPluggedWeights;

describe.each([
  [
    'din',
    { ...KNOWLEDGE },
    () => buildDinTrain({ ...BASE, attention: [6], knowledge: KNOWLEDGE }),
    () => buildDin({ ...BASE, attention: [6], knowledge: KNOWLEDGE }),
  ],
  [
    'avgpool',
    { ...KNOWLEDGE, layer: 2 },
    () => buildAvgPoolTrain({ ...BASE, knowledge: { ...KNOWLEDGE, layer: 2 } }),
    () => buildAvgPool({ ...BASE, knowledge: { ...KNOWLEDGE, layer: 2 } }),
  ],
] as const)('KEEP plug-in parity: %s', (name, k, train, serve) => {
  it(`training graph (plug-in at layer ${k.layer}) forward and gradients of the loss; serving graph forward`, async () => {
    const t = train(),
      s = serve();
    const w = pluggedWeights(t, 15);
    await parity(`${name}-plugin-train`, t, w, randomFeeds(t, { batch: B }, 39, GENS) as Feeds, 'loss');
    await parity(`${name}-plugin-serve`, s, weightsFor(s, w), randomFeeds(s, { batch: B }, 40, GENS) as Feeds, 'prob');
  });
});

describe('KEEP at the paper widths', () => {
  it(
    'extractor (48/16 embeddings, x = 144, towers 512-256-128-64-2): K(u, i) is 288 wide and agrees across backends; DIN takes it ' +
      'through a 288 → 128 → h_1 plug-in',
    async () => {
      const cfg = { users: 9, items: 20, shops: 6, categories: 5, seqLen: 8 };
      const t = buildKeepTrain(cfg),
        k = buildKeepKnowledge(cfg);
      const w = spreadWeights(t, 16);
      const gens = keepGens({ ...cfg });
      await parity('keep-train-paper-widths', t, w, nestKeepLabels(randomFeeds(t, { batch: 6 }, 41, gens) as Feeds), 'loss');
      const r = await parity('keep-knowledge-paper-widths', k, weightsFor(k, w), randomFeeds(k, { batch: 6 }, 42, gens) as Feeds, null);
      expect(r.entries.find((e) => e.kind === 'output' && e.backend === 'onnx')!.comparison.ok).toBe(true);
      const din = buildDin({ ...BASE, attention: [6], knowledge: { dim: 288 } });
      expect(din.params.find((p) => p.name === 'plugin/l0/w')!.shape).toEqual([288, 128]);
      await parity('din-plugin-288', din, pluggedWeights(din, 17), randomFeeds(din, { batch: 6 }, 43, GENS) as Feeds, 'prob');
    },
  );
});
