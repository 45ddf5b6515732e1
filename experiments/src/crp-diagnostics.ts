#!/usr/bin/env tsx
/**
 * Why CRP hurts LCN (issue 19 item 1): trains LCN with one CRP form per variant and measures, on a
 * fixed training batch, at step 0 and every --diag-every steps:
 *   - the click loss (mean BCE) and each CRP term (pt, ps, pc) as the model computes them;
 *   - the gradient each loss puts on the item tables CSA/MSA/FSA and DIN read (emb/targetItem,
 *     emb/sourceItem): Frobenius norms of g_click and of λ·w_k·g_k per term, their cosine, and the
 *     share of touched table entries where |λ g_crp| > |g_click| (Adam normalises each entry's step,
 *     so where CRP's gradient is the larger one it sets that entry's direction);
 * and, with model selection on a validation split carved from the training period (the last
 * --val-fraction of training samples by time; the trainer has no validation split), the val and
 * test AUC after each epoch. The selected epoch is the best by val AUC; test AUC is reported there.
 *
 *   npx tsx experiments/src/crp-diagnostics.ts --data ml100k --variants paper,infonce,lambda0 --epochs 1 --seeds 1,2,3
 *   npx tsx experiments/src/crp-diagnostics.ts --data small --init-only --variants paper,m64,m1024,tau1,infonce
 *
 * Variants (patches of the paper's printed form, λ 0.1, M 256, τ 0.1; `default` is the spec's CRP_DEFAULTS): --list.
 *   npx tsx experiments/src/crp-diagnostics.ts --summarize out/experiments/crp/ml100k.jsonl   (the selection table)
 * Output: one JSON line per measurement in <out>/<data>.jsonl and a summary on stdout.
 * Exit codes (spec EXIT_CODES): 0 done, 1 a training error, 2 bad flags, 3 storage refusal.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { scriptArgs } from '@lctr/spec/cli';
import {
  CRP_DEFAULTS,
  CRP_LAMBDA_SCALE,
  CRP_PAPER,
  crpLambdaScaleAt,
  crpWarmupSteps,
  type CrpOptions,
  type FeatureSchema,
  type HostTensor,
  type LifelongConfig,
  EXIT_CODES,
  GraphBuilder,
  StorageError,
  asStorageError,
  buildLifelongTrain,
  crpInputsOf,
  crpLoss,
  crpSchema,
  init,
  lifelongConfig,
  lifelongSchema,
  sequenceLength,
  withoutCrpFeatures,
} from '@lctr/spec';
import { Adam, type TfjsModel, compileTfjs, initTfjs } from '@lctr/backend-tfjs';
import { type SampleSource, createSampleSource, withCrpPairs } from '@lctr/data';
import { BatchOrder, evaluate, lifelongArch, prepareData } from '@lctr/train';
import { type EvalRecord, summarize } from './crp-select.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/** A CRP variant: a patch of the paper's printed form (λ 0.1, M 256 as the configs; `default` is the spec's default instead). */
type CrpPatch = Partial<Omit<LifelongConfig['crp'], 'weights'>> & {
  weights?: Partial<CrpOptions['weights']>;
  /** λ's linear warm-up in epochs of this data's training split (crp.warmupSteps = round(epochs x steps per epoch)) */
  warmupEpochs?: number;
};
export const VARIANTS: Readonly<Record<string, CrpPatch>> = {
  // no warm-up unless a variant says so (the lcn preset's default has one)
  paper: { ...CRP_PAPER, negatives: 256, warmupSteps: 0 },
  default: { ...CRP_DEFAULTS, negatives: 256, warmupSteps: 0 },
  lambda0: { lambda: 0 },
  'lambda0.01': { lambda: 0.01 },
  lambda1: { lambda: 1 },
  m64: { negatives: 64 },
  m1024: { negatives: 1024 },
  tau1: { temperature: 1 },
  'tau0.5': { temperature: 0.5 },
  infonce: { infoNce: true },
  lme: { meanNegatives: true },
  'infonce-lme': { infoNce: true, meanNegatives: true },
  'tau-scaled': { scaleByTemperature: true },
  'infonce-lme-tau': { infoNce: true, meanNegatives: true, scaleByTemperature: true },
  'lme-tau': { meanNegatives: true, scaleByTemperature: true },
  'lme-tau-lambda0.01': { meanNegatives: true, scaleByTemperature: true, lambda: 0.01 },
  'pc-only': { weights: { pt: 0, ps: 0, pc: 1 } },
  // the paper's push, λ ramped linearly from 0 over one epoch / half an epoch (issue 19 item 2)
  warmup1: { warmupEpochs: 1 },
  'warmup0.5': { warmupEpochs: 0.5 },
  'no-pc': { weights: { pt: 1, ps: 1, pc: 0 } },
};

interface DataSetup {
  name: string;
  data: Record<string, unknown>;
  model: Record<string, unknown>;
  batchSize: number;
  lr: number;
}

function dataSetup(which: string): DataSetup {
  const cfg = JSON.parse(readFileSync(join(ROOT, 'packages/train/configs/lcn-ml100k.json'), 'utf8')) as {
    model: Record<string, unknown>;
    batchSize: number;
    optimizer: { lr: number };
  };
  const base = {
    dataset: 'synthetic',
    world: 'small',
    worldSeed: 1,
    worldUsers: 0,
    sharedCategories: true,
    dir: '../shared/data/ml-100k',
    testFraction: 0.2,
  };
  if (which === 'ml100k')
    return { name: which, data: { ...base, dataset: 'ml-100k' }, model: cfg.model, batchSize: cfg.batchSize, lr: cfg.optimizer.lr };
  // the small world's histories hold at most 400 source events (SMALL_WORLD_CONFIG)
  if (which === 'small')
    return { name: which, data: base, model: { ...cfg.model, lifelongLen: 400 }, batchSize: cfg.batchSize, lr: cfg.optimizer.lr };
  throw new UsageError(`--data must be ml100k or small, got '${which}'`);
}

class UsageError extends Error {}

interface Prepared {
  log: Awaited<ReturnType<typeof prepareData>>['log'];
  train: Int32Array;
  val: Int32Array;
  test: Int32Array;
  truth?: Float32Array;
}

/** The trainer's train/test split, and a validation split: the last `fraction` of training samples by timestamp. */
async function splits(d: DataSetup, fraction: number): Promise<Prepared> {
  const p = await prepareData(d.data as Parameters<typeof prepareData>[0]);
  const times = Array.from(p.train, (i) => p.log.timestamp[i]!).sort((a, b) => a - b);
  const cut = times[Math.floor(times.length * (1 - fraction))]!;
  const train = p.train.filter((i) => p.log.timestamp[i]! < cut),
    val = p.train.filter((i) => p.log.timestamp[i]! >= cut);
  return { log: p.log, train, val, test: p.eval, ...(p.trueProbability ? { truth: p.trueProbability } : {}) };
}

/** The crp section of a variant: every key given (the paper's form under the patch), so the spec's defaults never leak in. */
function variantCrp(name: string): CrpPatch {
  const v = VARIANTS[name]!,
    paper = VARIANTS['paper']!;
  return name === 'default' ? v : { ...paper, ...v, weights: { ...paper.weights, ...v.weights } };
}

function configOf(d: DataSetup, p: Prepared, variant: CrpPatch): LifelongConfig {
  const { warmupEpochs, ...patch } = variant;
  if (warmupEpochs !== undefined) patch.warmupSteps = Math.round(warmupEpochs * new BatchOrder(0, p.train.length, d.batchSize).perEpoch);
  const arch = lifelongArch('lcn', d.model, 'crp-diagnostics');
  const m = p.log.meta;
  const base = lifelongConfig({
    ...arch,
    users: 0,
    targetItems: m.items.target,
    sourceItems: m.items.source,
    categories: m.categories,
    profile: m.profile.map((c) => c.cardinality),
    context: m.context.map((c) => c.cardinality),
  });
  return lifelongConfig({ ...base, crp: { ...base.crp, ...patch, weights: { ...base.crp.weights, ...patch.weights } } });
}

function source(c: LifelongConfig, p: Prepared, idx: Int32Array, seed: number): SampleSource<FeatureSchema> {
  const inner = createSampleSource(p.log, idx, withoutCrpFeatures(lifelongSchema(c, 'train')), {
    targetLength: sequenceLength(c, 'target'),
    sourceLength: sequenceLength(c, 'source'),
    lifelongLength: c.lifelongLen,
    ...(p.truth ? { eventProbability: p.truth } : {}),
  });
  return c.crp.lambda > 0 ? withCrpPairs(inner, { negatives: c.crp.negatives, seed }) : inner;
}

/** A graph of the CRP terms alone over the two item tables (same parameter names as LCN's), outputs pt, ps, pc. */
function crpTermsModel(c: LifelongConfig): TfjsModel<FeatureSchema, 'pt' | 'ps' | 'pc'> {
  const b = new GraphBuilder<FeatureSchema>('crp-terms', crpSchema(c.crp.negatives));
  const t = b.scope('emb', () => ({
    target: b.param('targetItem', [c.targetItems, c.dim], init.normal(0.05)),
    source: b.param('sourceItem', [c.sourceItems, c.dim], init.normal(0.05)),
  }));
  const { terms } = crpLoss(b, crpInputsOf(b.inputs as never, t.target, t.source), c.crp);
  return compileTfjs(b.build({ pt: terms.pt, ps: terms.ps, pc: terms.pc }));
}

const TABLES = ['emb/targetItem', 'emb/sourceItem'] as const;
const only = (w: ReadonlyMap<string, HostTensor<'float32'>>, names: readonly string[]) => new Map(names.map((n) => [n, w.get(n)!]));
const feedsFor = (graphInputs: readonly { name: string }[], batch: Record<string, HostTensor>) =>
  Object.fromEntries(graphInputs.map((i) => [i.name, batch[i.name]!]));

function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

/** Table gradients of the click loss and of λ·w_k·L_k per term; norms, cosine, and where CRP's entry is the larger. */
function diagnose(
  click: TfjsModel,
  crp: TfjsModel<FeatureSchema, 'pt' | 'ps' | 'pc'>,
  c: LifelongConfig,
  weights: Map<string, HostTensor<'float32'>>,
  batch: Record<string, HostTensor>,
) {
  click.setWeights(
    only(
      weights,
      click.graph.params.map((p) => p.name),
    ),
  );
  crp.setWeights(only(weights, [...TABLES]));
  const gc = click.gradients(feedsFor(click.graph.inputs, batch) as never, 'loss');
  const out: Record<string, number> = { click: gc.value.data[0] as number };
  const crpSum = new Map(TABLES.map((t) => [t, new Float32Array(gc.grads.get(t)!.data.length)]));
  for (const k of ['pt', 'ps', 'pc'] as const) {
    const g = crp.gradients(feedsFor(crp.graph.inputs, batch) as never, k);
    out[k] = g.value.data[0] as number;
    const scale = c.crp.lambda * c.crp.weights[k];
    for (const t of TABLES) {
      const gk = g.grads.get(t)?.data;
      if (!gk) continue;
      const acc = crpSum.get(t)!;
      for (let i = 0; i < gk.length; i++) acc[i]! += scale * gk[i]!;
      out[`${k}.${t}.norm`] = scale * norm(gk);
    }
  }
  for (const t of TABLES) {
    const a = gc.grads.get(t)!.data,
      r = crpSum.get(t)!;
    // entries either loss touches / entries CRP touches (CRP reads ~3 B rows, the click loss every sequence row)
    // Adam's first step is -lr·sign(g) per entry: clickSignKept is the share of entries the click loss moves
    // whose step still goes the click loss's way once CRP is added
    let dot = 0,
      touched = 0,
      crpWins = 0,
      crpTouched = 0,
      crpWinsOwn = 0,
      clickTouched = 0,
      clickKept = 0;
    for (let i = 0; i < a.length; i++) {
      dot += a[i]! * r[i]!;
      if (a[i] !== 0) {
        clickTouched++;
        if (Math.sign(a[i]! + r[i]!) === Math.sign(a[i]!)) clickKept++;
      }
      const wins = Math.abs(r[i]!) > Math.abs(a[i]!);
      if (a[i] !== 0 || r[i] !== 0) {
        touched++;
        if (wins) crpWins++;
      }
      if (r[i] !== 0) {
        crpTouched++;
        if (wins) crpWinsOwn++;
      }
    }
    const na = norm(a),
      nr = norm(r);
    Object.assign(out, {
      [`click.${t}.norm`]: na,
      [`crp.${t}.norm`]: nr,
      [`ratio.${t}`]: nr / na,
      [`cos.${t}`]: dot / (na * nr || 1),
      [`crpWins.${t}`]: touched ? crpWins / touched : 0,
      [`crpWinsOwn.${t}`]: crpTouched ? crpWinsOwn / crpTouched : 0,
      [`clickSignKept.${t}`]: clickTouched ? clickKept / clickTouched : 0,
    });
  }
  // negatives naming one item twice (two users who share an item): cosine 1, the largest exp in the denominator, no gradient
  for (const [k, f] of [
    ['pt', 'crpPtNeg'],
    ['ps', 'crpPsNeg'],
  ] as const) {
    const ids = batch[f]!.data,
      mask = batch[`${f}Mask`]!.data;
    let same = 0,
      valid = 0;
    for (let j = 0; j < mask.length; j++)
      if (mask[j]) {
        valid++;
        if (ids[2 * j] === ids[2 * j + 1]) same++;
      }
    out[`${k}.sameItemNegatives`] = valid ? same / valid : 0;
  }
  out['total'] = out['click']! + c.crp.lambda * (['pt', 'ps', 'pc'] as const).reduce((s, k) => s + c.crp.weights[k] * out[k]!, 0);
  return out;
}

async function main(): Promise<void> {
  const { values } = scriptArgs(import.meta.filename, {
    options: {
      data: { type: 'string', default: 'ml100k' },
      variants: { type: 'string', default: 'paper,lambda0' },
      seeds: { type: 'string', default: '1' },
      epochs: { type: 'string', default: '1' },
      'diag-every': { type: 'string', default: '0' },
      'init-only': { type: 'boolean', default: false },
      'val-fraction': { type: 'string', default: '0.15' },
      out: { type: 'string', default: 'out/experiments/crp' },
      backend: { type: 'string' },
      'max-steps': { type: 'string', default: '0' },
      list: { type: 'boolean', default: false },
      summarize: { type: 'string' },
    },
  });
  if (values.summarize !== undefined) {
    const records = readFileSync(values.summarize, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { kind: string })
      .filter((r): r is EvalRecord => r.kind === 'eval');
    console.log(summarize(records));
    return;
  }
  if (values.list) {
    for (const [k, v] of Object.entries(VARIANTS)) console.log(`${k.padEnd(16)} ${JSON.stringify(v)}`);
    return;
  }
  const names = values.variants
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names)
    if (!(n in VARIANTS)) throw new UsageError(`--variants: unknown variant '${n}' (known: ${Object.keys(VARIANTS).join(', ')})`);
  const int = (flag: string, v: string, min: number) => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) throw new UsageError(`--${flag} must be an integer >= ${min}, got '${v}'`);
    return x;
  };
  const seeds = values.seeds.split(',').map((s) => int('seeds', s, 0));
  const epochs = int('epochs', values.epochs, 1),
    diagEvery = int('diag-every', values['diag-every'], 0),
    maxSteps = int('max-steps', values['max-steps'], 0);
  const valFraction = Number(values['val-fraction']);
  if (!(valFraction > 0 && valFraction < 1)) throw new UsageError(`--val-fraction must be in (0, 1), got '${values['val-fraction']}'`);
  await initTfjs(values.backend ? { backend: values.backend as 'wasm' | 'cpu' } : {});
  const d = dataSetup(values.data);
  const p = await splits(d, valFraction);
  const outDir = resolve(values.out);
  mkdirSync(outDir, { recursive: true });
  const jsonl = join(outDir, `${d.name}.jsonl`);
  const record = (r: object) => {
    try {
      appendFileSync(jsonl, JSON.stringify(r) + '\n');
    } catch (e) {
      throw asStorageError(e, 'write', jsonl) ?? e;
    }
  };
  console.log(
    `${d.name}: train ${p.train.length}, val ${p.val.length} (last ${valFraction} of the training period), test ${p.test.length} ` +
      `samples; batch ${d.batchSize}, lr ${d.lr}`,
  );

  for (const name of names) {
    for (const seed of seeds) {
      const c = configOf(d, p, variantCrp(name));
      const graph = buildLifelongTrain(c);
      const model = compileTfjs(graph, { seed });
      const clickCfg = lifelongConfig({ ...c, crp: { ...c.crp, lambda: 0 } });
      const click = c.crp.lambda > 0 ? compileTfjs(buildLifelongTrain(clickCfg)) : model;
      // diagnostics always measure CRP, also for λ = 0 (with the paper's weights and λ 0.1 for scale)
      const diagCfg = c.crp.lambda > 0 ? c : lifelongConfig({ ...c, crp: { ...c.crp, lambda: 0.1 } });
      const crpModel = crpTermsModel(diagCfg);
      const train = source(c, p, p.train, seed);
      const diagSrc = source(diagCfg, p, p.train, seed);
      const order = new BatchOrder(seed, train.size, d.batchSize);
      const diagBatch = diagSrc.batch(order.at(0).indices) as Record<string, HostTensor>;
      const adam = new Adam(model.variables, { name: 'adam', lr: d.lr, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 });
      const base = { data: d.name, variant: name, seed, crp: c.crp };
      const diag = (step: number) => {
        const r = diagnose(click, crpModel, diagCfg, model.getWeights(), diagBatch);
        record({ kind: 'diag', ...base, step, ...r });
        const f = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(3));
        console.log(
          `${name} seed ${seed} step ${step}: click ${f(r.click)} pt ${f(r.pt)} ps ${f(r.ps)} pc ${f(r.pc)} | ‖λg_crp‖/‖g_click‖ target ` +
            `${f(r['ratio.emb/targetItem'])} source ${f(r['ratio.emb/sourceItem'])} | crp-larger entries target ` +
            `${f(r['crpWins.emb/targetItem'])} source ${f(r['crpWins.emb/sourceItem'])} (of CRP's: ${f(r['crpWinsOwn.emb/targetItem'])}, ` +
            `${f(r['crpWinsOwn.emb/sourceItem'])}) | cos target ${f(r['cos.emb/targetItem'])} source ${f(r['cos.emb/sourceItem'])} | ` +
            `click-signed steps kept target ${f(r['clickSignKept.emb/targetItem'])} source ` +
            `${f(r['clickSignKept.emb/sourceItem'])}` +
            `${step === 0 ? ` | same-item negatives pt ${f(r['pt.sameItemNegatives'])} ps ${f(r['ps.sameItemNegatives'])}` : ''}`,
        );
      };
      diag(0);
      if (!values['init-only']) {
        const evalSrc = (idx: Int32Array) => source(clickCfg, p, idx, seed);
        const val = evalSrc(p.val),
          test = evalSrc(p.test);
        const steps = maxSteps > 0 ? Math.min(maxSteps, epochs * order.perEpoch) : epochs * order.perEpoch;
        let lossSum = 0;
        for (let step = 1; step <= steps; step++) {
          const feeds: Record<string, HostTensor> = { ...(train.batch(order.at(step - 1).indices) as Record<string, HostTensor>) };
          // λ's warm-up: the graph takes the scale as an input, a pure function of the step (as the trainer feeds it)
          if (crpWarmupSteps(c) > 0)
            feeds[CRP_LAMBDA_SCALE] = { dtype: 'float32', shape: [], data: Float32Array.of(crpLambdaScaleAt(crpWarmupSteps(c), step - 1)) };
          const loss = model.trainStep(feeds as never, 'loss', adam);
          if (!Number.isFinite(loss)) throw new Error(`${name} seed ${seed}: the loss is ${loss} at step ${step}`);
          lossSum += loss;
          if (diagEvery > 0 && step % diagEvery === 0) diag(step);
          if (step % order.perEpoch === 0 || step === steps) {
            if (click !== model)
              click.setWeights(
                only(
                  model.getWeights(),
                  click.graph.params.map((q) => q.name),
                ),
              );
            const v = evaluate(click, val, 1024),
              t = evaluate(click, test, 1024);
            const r = {
              kind: 'eval',
              ...base,
              step,
              epoch: step / order.perEpoch,
              trainLoss: lossSum / step,
              valAuc: v.auc,
              valLogloss: v.logloss,
              testAuc: t.auc,
              testGauc: t.gauc,
              testLogloss: t.logloss,
              ...(t.bayesAuc !== undefined ? { bayesAuc: t.bayesAuc } : {}),
            };
            record(r);
            console.log(
              `${name} seed ${seed} epoch ${r.epoch.toFixed(2)}: val auc ${v.auc.toFixed(4)} test auc ${t.auc.toFixed(4)} gauc ` +
                `${t.gauc.toFixed(4)}${t.bayesAuc !== undefined ? ` (Bayes ${t.bayesAuc.toFixed(4)})` : ''} (mean train loss ` +
                `${r.trainLoss.toFixed(4)})`,
            );
          }
        }
      }
      adam.dispose();
      crpModel.dispose();
      if (click !== model) click.dispose();
      model.dispose();
    }
  }
}

main().catch((e: unknown) => {
  const err = e instanceof Error ? e : new Error(String(e));
  console.error(err instanceof UsageError || err instanceof StorageError ? err.message : (err.stack ?? err.message));
  process.exit(err instanceof UsageError ? EXIT_CODES.usage : err instanceof StorageError ? EXIT_CODES.storage : EXIT_CODES.failure);
});
