/**
 * Parity report: every lifelong-family model (training and serving graphs), the IFA request model per
 * module, KEEP's extractors, tables and plug-in, and every case of the op catalogue through ref-cpu, tfjs (cpu, wasm) and ONNX Runtime;
 * writes the worst scaled error per
 * case and backend as markdown tables.
 *   lctr parity-report [--out PARITY.md]
 */
import { writeFileSync } from 'node:fs';
import { runCommand } from '@lctr/spec/cli';
import {
  type Graph,
  type HostTensor,
  type Weights,
  IFA_WIRED_MODULES,
  buildAvgPool,
  buildAvgPoolTrain,
  buildDin,
  buildDinTrain,
  buildIfa,
  buildIfaTrain,
  buildKeepItemTable,
  buildKeepKnowledge,
  buildKeepTrain,
  buildKeepTwoTowerTrain,
  buildKeepUserCategoryTable,
  buildKeepUserTable,
  buildLifelong,
  buildLifelongTrain,
  hashSeed,
  initWeights,
  weightsFor,
} from '@lctr/spec';
import {
  IFA_TEST_CONFIG,
  KEEP_DEGENERATE_TEST_CONFIG,
  KEEP_TEST_CONFIG,
  KEEP_TWO_TOWER_TEST_CONFIG,
  LIFELONG_TEST_CONFIG,
  OP_CASES,
  gen,
  ifaGens,
  keepGens,
  keepPluggedWeights,
  keepSpreadWeights,
  lifelongGens,
  nestKeepLabels,
  randomFeeds,
} from '@lctr/spec/testing';
import { type ParityBackend, DEFAULT_TOLERANCE, checkParity } from '@lctr/parity';

export const PARITY_REPORT = {
  name: 'lctr parity-report',
  usage: `usage: lctr parity-report [--out PARITY.md]
  Runs every model and every op-catalogue case through ref-cpu, tfjs (cpu, wasm) and ONNX Runtime and writes
  the worst scaled error per case and backend as markdown tables (several minutes). Exit 1 when any case fails.`,
  options: { out: { type: 'string' } },
} as const;

export function main(argv: readonly string[]): Promise<number> {
  return runCommand(PARITY_REPORT, argv, async ({ values }) => {
    const out = values.out ?? 'PARITY.md';
    const backends: ParityBackend[] = ['tfjs-cpu', 'tfjs-wasm', 'onnx'];
    const rows: string[] = [];
    let failures = 0;
    const worstOverall: Record<string, number> = {};
    for (const c of OP_CASES) {
      for (const [k, dims] of c.dims.entries()) {
        const weights = initWeights(c.graph, hashSeed(c.name));
        const inputs = randomFeeds(c.graph, dims, hashSeed(c.name, k), c.gens);
        const label = `${c.name}${c.dims.length > 1 ? ` ${JSON.stringify(dims)}` : ''}`;
        const r = await checkParity({ name: label, graph: c.graph, weights, inputs, ...(c.tol ? { tol: c.tol } : {}) });
        if (!r.ok) failures++;
        const cells = backends.map((b) => {
          const w = r.worst[b];
          if (!w) return '-';
          worstOverall[`${b} fwd`] = Math.max(worstOverall[`${b} fwd`] ?? 0, w.forward);
          if (b !== 'onnx') worstOverall[`${b} grad`] = Math.max(worstOverall[`${b} grad`] ?? 0, w.grad);
          return b === 'onnx' ? w.forward.toExponential(1) : `${w.forward.toExponential(1)} / ${w.grad.toExponential(1)}`;
        });
        rows.push(`| ${label} | ${cells.join(' | ')} | ${r.ok ? 'ok' : 'FAIL'}${c.tol ? ` (tolerance exception: ${c.tol.reason})` : ''} |`);
      }
    }
    // model level: every lifelong-family model, training graph (forward + gradients of the loss, CRP
    // included for LCN) and serving graph (one request of 6 candidates), random weights, padding; the
    // IFA request model per module; KEEP's extractors, table graphs and the plug-in on DIN / AvgPooling
    type Feeds = Record<string, HostTensor>;
    interface ModelCase {
      family: string;
      name: string;
      graph: Graph;
      weights: Weights;
      inputs: Feeds;
      gradOutput?: string | null;
    }
    const modelCases: ModelCase[] = [];
    for (const [label, module] of [
      ['LCN (LAP + CRP)', 'lap'],
      ['SIM soft', 'simSoft'],
      ['SIM hard', 'simHard'],
      ['TWIN', 'twin'],
      ['DIN base only', 'none'],
    ] as const) {
      const cfg = { ...LIFELONG_TEST_CONFIG, module };
      const train = buildLifelongTrain(cfg),
        serve = buildLifelong(cfg);
      const weights = initWeights(train, hashSeed(label));
      modelCases.push(
        {
          family: 'lifelong',
          name: `${label}: training graph`,
          graph: train,
          weights,
          inputs: randomFeeds(train, { batch: 5 }, hashSeed(label, 1), lifelongGens()) as Feeds,
          gradOutput: 'loss',
        },
        {
          family: 'lifelong',
          name: `${label}: serving graph`,
          graph: serve,
          weights: weightsFor(serve, weights),
          inputs: randomFeeds(serve, { cand: 6 }, hashSeed(label, 2), lifelongGens()) as Feeds,
        },
      );
    }
    for (const module of IFA_WIRED_MODULES) {
      const cfg = { ...IFA_TEST_CONFIG, module };
      const train = buildIfaTrain(cfg),
        serve = buildIfa(cfg);
      const weights = initWeights(train, hashSeed('ifa', module));
      modelCases.push(
        {
          family: 'ifa',
          name: `IFA request model, module ${module}: training graph`,
          graph: train,
          weights,
          inputs: randomFeeds(train, { batch: 4 }, hashSeed('ifa', module, 1), ifaGens(cfg)) as Feeds,
          gradOutput: 'loss',
        },
        {
          family: 'ifa',
          name: `IFA request model, module ${module}: serving graph`,
          graph: serve,
          weights: weightsFor(serve, weights),
          inputs: randomFeeds(serve, { cand: 6, seq: 12 }, hashSeed('ifa', module, 2), ifaGens(cfg)) as Feeds,
          gradOutput: 'prob',
        },
      );
    }
    {
      const extractor = buildKeepTrain(KEEP_TEST_CONFIG),
        knowledge = buildKeepKnowledge(KEEP_TEST_CONFIG);
      const w = keepSpreadWeights(extractor, 11);
      const degenerate = buildKeepTrain(KEEP_DEGENERATE_TEST_CONFIG),
        uc = buildKeepUserCategoryTable(KEEP_DEGENERATE_TEST_CONFIG);
      const wd = keepSpreadWeights(degenerate, 13);
      const twoTower = buildKeepTwoTowerTrain(KEEP_TWO_TOWER_TEST_CONFIG),
        users = buildKeepUserTable(KEEP_TWO_TOWER_TEST_CONFIG),
        items = buildKeepItemTable(KEEP_TWO_TOWER_TEST_CONFIG);
      const wt = keepSpreadWeights(twoTower, 14);
      const feeds = (g: Graph, seed: number, gens = keepGens()) => nestKeepLabels(randomFeeds(g, { batch: 8 }, seed, gens) as Feeds);
      modelCases.push(
        {
          family: 'keep',
          name: 'KEEP extractor: training graph (three tasks)',
          graph: extractor,
          weights: w,
          inputs: feeds(extractor, 1),
          gradOutput: 'loss',
        },
        {
          family: 'keep',
          name: 'KEEP knowledge K(u, i)',
          graph: knowledge,
          weights: weightsFor(knowledge, w),
          inputs: feeds(knowledge, 2),
          gradOutput: 'knowledge',
        },
        {
          family: 'keep',
          name: 'KEEP degenerate (category) extractor: training graph',
          graph: degenerate,
          weights: wd,
          inputs: feeds(degenerate, 3),
          gradOutput: 'loss',
        },
        {
          family: 'keep',
          name: 'KEEP user-category table',
          graph: uc,
          weights: weightsFor(uc, wd),
          inputs: feeds(uc, 4),
          gradOutput: 'userCategoryKnowledge',
        },
        {
          family: 'keep',
          name: 'KEEP two-tower extractor: training graph',
          graph: twoTower,
          weights: wt,
          inputs: feeds(twoTower, 5, keepGens(KEEP_TWO_TOWER_TEST_CONFIG)),
          gradOutput: 'loss',
        },
        {
          family: 'keep',
          name: 'KEEP user table',
          graph: users,
          weights: weightsFor(users, wt),
          inputs: feeds(users, 6, keepGens(KEEP_TWO_TOWER_TEST_CONFIG)),
          gradOutput: 'userKnowledge',
        },
        {
          family: 'keep',
          name: 'KEEP item table',
          graph: items,
          weights: weightsFor(items, wt),
          inputs: feeds(items, 7, keepGens(KEEP_TWO_TOWER_TEST_CONFIG)),
          gradOutput: 'itemKnowledge',
        },
      );
      const base = { ...LIFELONG_TEST_CONFIG, sequences: ['target', 'source'] as const };
      const { lifelongLen: _n, context: _c, contextDim: _cd, lap: _l, simSoft: _s, simHard: _h, twin: _t, crp: _r, ...dinBase } = base;
      const knowledge2 = { dim: 7, layer: 1, hidden: 5 };
      for (const [label, train, serve] of [
        [
          'DIN + KEEP plug-in (layer 1)',
          buildDinTrain({ ...dinBase, knowledge: knowledge2 }),
          buildDin({ ...dinBase, knowledge: knowledge2 }),
        ],
        [
          'AvgPooling + KEEP plug-in (layer 1)',
          buildAvgPoolTrain({ ...dinBase, knowledge: knowledge2 }),
          buildAvgPool({ ...dinBase, knowledge: knowledge2 }),
        ],
      ] as const) {
        const pw = keepPluggedWeights(train as Graph, hashSeed(label));
        const gens = { ...lifelongGens(), knowledge: gen.normal() };
        modelCases.push(
          {
            family: 'keep',
            name: `${label}: training graph`,
            graph: train as Graph,
            weights: pw,
            inputs: randomFeeds(train as Graph, { batch: 6 }, hashSeed(label, 1), gens) as Feeds,
            gradOutput: 'loss',
          },
          {
            family: 'keep',
            name: `${label}: serving graph`,
            graph: serve as Graph,
            weights: weightsFor(serve as Graph, pw),
            inputs: randomFeeds(serve as Graph, { batch: 6 }, hashSeed(label, 2), gens) as Feeds,
            gradOutput: 'prob',
          },
        );
      }
    }
    const modelRows: Record<string, string[]> = { lifelong: [], ifa: [], keep: [] };
    for (const c of modelCases) {
      const r = await checkParity({
        name: c.name,
        graph: c.graph,
        weights: c.weights,
        inputs: c.inputs,
        ...(c.gradOutput !== undefined ? { gradOutput: c.gradOutput } : {}),
      });
      if (!r.ok) failures++;
      const cells = backends.map((b) => {
        const w = r.worst[b];
        return !w ? '-' : b === 'onnx' ? w.forward.toExponential(1) : `${w.forward.toExponential(1)} / ${w.grad.toExponential(1)}`;
      });
      modelRows[c.family]!.push(`| ${c.name} (${c.graph.params.length} parameters) | ${cells.join(' | ')} | ${r.ok ? 'ok' : 'FAIL'} |`);
    }
    const header = ['| model | tfjs-cpu fwd / grad | tfjs-wasm fwd / grad | onnx fwd | result |', '|---|---|---|---|---|'];

    const text = [
      '# Parity',
      '',
      '## Models',
      '',
      'The lifelong family (packages/spec/src/models/lifelong.ts) on `LIFELONG_TEST_CONFIG` (N = 12, K1 = 6, K2 = 3, K = 4, M = 5; ' +
        'prefix masks, so short and empty histories occur), random weights; same metric and tolerances as below.',
      '',
      ...header,
      ...modelRows['lifelong']!,
      '',
      'IFA (packages/spec/src/models/ifa.ts) on `IFA_TEST_CONFIG` (C = 5, N = 12; prefix masks on candidates and sequences, so padded ' +
        'candidates and empty sequences occur), every module; the serving graph with symbolic cand (6) and seq.',
      '',
      ...header,
      ...modelRows['ifa']!,
      '',
      'KEEP (packages/spec/src/models/keep.ts, blocks/keep.ts) on `KEEP_TEST_CONFIG` and its degenerate and two-tower variants ' +
        '(embedding tables drawn N(0, 1): `keepSpreadWeights`), and the plug-in on DIN and AvgPooling (its zero-initialised last layer ' +
        'replaced by seeded values so every plug-in parameter has a gradient: `keepPluggedWeights`).',
      '',
      ...header,
      ...modelRows['keep']!,
      '',
      '## Ops',
      '',
      `Command: \`npx lctr parity-report\`. Written ${new Date().toISOString().slice(0, 10)} on ${process.platform}/${process.arch}, ` +
        `Node ${process.version}.`,
      `Error metric: max_i |a_i - r_i| / max(|r_i|, rms(r)) against ref-cpu (float64); ints and bools must match exactly (shown as 0).`,
      `Tolerances: forward ${DEFAULT_TOLERANCE.forward.toExponential(0)}, gradients ${DEFAULT_TOLERANCE.grad.toExponential(0)}, unless ` +
        `the row states an exception (${OP_CASES.filter((c) => c.tol).length} cases do).`,
      '',
      `Worst over all cases: ${Object.entries(worstOverall)
        .map(([k, v]) => `${k} ${v.toExponential(1)}`)
        .join(', ')}. Failing cases: ` + `${failures}.`,
      '',
      '| case | tfjs-cpu fwd / grad | tfjs-wasm fwd / grad | onnx fwd | result |',
      '|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n');
    writeFileSync(out, text);
    console.log(`wrote ${values.out}: ${modelCases.length} model and ${rows.length} op runs, ${failures} failing`);
    return failures ? 1 : 0;
  });
}
