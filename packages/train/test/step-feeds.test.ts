/**
 * Per-step inputs (train({ stepFeeds }), TrainModel.stepFeeds): the value a step's graph sees is
 * the schedule's at that step, evaluations run with them, a run resumed in the middle of a
 * warm-up continues bit for bit, and bad feeds are named. The lcn recipe feeds crpLambdaScale
 * only with crp.warmupSteps > 0.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CRP_LAMBDA_SCALE,
  GraphBuilder,
  type HostTensor,
  type InputsOf,
  bceWithLogits,
  crpLambdaScaleAt,
  embed,
  init,
  mlp,
} from '@lctr/spec';
import { type MetricsRecord, type StepFeeds, type TrainResult, getTrainModel, train } from '../src/index.ts';
import { useBackend } from './helpers.ts';
import { bits, tinyConfig, tinySchema, tinySource } from './fixtures.ts';

const root = mkdtempSync(join(tmpdir(), 'lctr-step-feeds-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const fresh = () => join(root, `run${++dirs}`);
const quiet = { log: () => {} };
const readMetrics = (dir: string): MetricsRecord[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as MetricsRecord);

const scaledSchema = { ...tinySchema, auxScale: { dtype: 'float32', shape: [] } } as const;

/**
 * The tiny model (fixtures' tinyGraph, without the user bias) plus an auxiliary term weighed by the
 * scalar input auxScale: `aux` = 'constant' adds auxScale x 5 (the fed value is readable from the
 * loss), 'l2' adds auxScale x sum(emb/user^2) (the feed changes the gradients).
 */
function scaledGraph(aux: 'constant' | 'l2') {
  const b = new GraphBuilder('scaled-train', scaledSchema);
  const u = b.scope('emb', () => embed(b, 'user', b.inputs.user, 16, 2, init.normal(0.1)));
  const logit = b.reshape(mlp(b, 'mlp', b.concat([b.inputs.x, u], 1), [8, 1]), ['batch']);
  const term =
    aux === 'constant' ? b.scalar(5) : b.reduceSum(b.mul(b.value('emb/user') as typeof u, b.value('emb/user') as typeof u), [0, 1]);
  return b.build({ prob: b.sigmoid(logit), loss: b.add(bceWithLogits(b, logit, b.inputs.label), b.mul(b.inputs.auxScale, term)) });
}

const scalar = (v: number): HostTensor<'float32'> => ({ dtype: 'float32', shape: [], data: Float32Array.of(v) });
/** a linear warm-up over W steps, as LCN's crpLambdaScale */
const warmup =
  (W: number): StepFeeds =>
  (step) => ({ auxScale: scalar(crpLambdaScaleAt(W, step)) });

// the sources lack auxScale: the trainer feeds it
const trainSrc = tinySource(72, 1) as unknown as ReturnType<typeof tinySource> & { schema: typeof scaledSchema };
const evalSrc = tinySource(40, 2) as unknown as typeof trainSrc;

beforeAll(() => useBackend('cpu'));

function expectSameState(a: TrainResult, b: TrainResult): void {
  for (const [k, t] of a.weights) expect(bits(b.weights.get(k)!.data), `weights '${k}'`).toEqual(bits(t.data));
  for (const [k, t] of a.optimizer.m) expect(bits(b.optimizer.m.get(k)!.data), `m '${k}'`).toEqual(bits(t.data));
  for (const [k, t] of a.optimizer.v) expect(bits(b.optimizer.v.get(k)!.data), `v '${k}'`).toEqual(bits(t.data));
}

describe('train with stepFeeds', () => {
  it("each step's graph sees the schedule's value at that step (loss - click loss = 5 x scale); evaluations run", async () => {
    const calls: number[] = [];
    const feeds: StepFeeds = (step, total) => {
      calls.push(step);
      expect(total).toBe(24);
      return warmup(10)(step, total);
    };
    const dir = fresh();
    const res = await train({
      graph: scaledGraph('constant'),
      train: trainSrc,
      eval: evalSrc,
      config: tinyConfig({ logEvery: 1, logClickLoss: true }),
      outDir: dir,
      stepFeeds: feeds,
      ...quiet,
    });
    expect(res.finished).toBe(true);
    const lines = readMetrics(dir).filter((r): r is Extract<MetricsRecord, { kind: 'train' }> => r.kind === 'train');
    expect(lines.map((r) => r.step)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    // line `step` logs the step that ran with index step - 1: scale (step - 1) / 10, 1 from index 10 on
    for (const r of lines) expect(r.auxLoss!, `step ${r.step}`).toBeCloseTo(5 * Math.min(1, (r.step - 1) / 10), 5);
    for (const s of [0, 3, 9, 10, 23]) expect(calls).toContain(s);
    expect(
      readMetrics(dir)
        .filter((r) => r.kind === 'eval')
        .map((r) => r.step),
    ).toEqual([10, 20, 24]);
  });

  it('a run resumed in the middle of the warm-up equals a straight run bit for bit; another schedule does not', async () => {
    const graph = scaledGraph('l2'),
      config = tinyConfig(),
      stepFeeds = warmup(10);
    const straight = await train({ graph, train: trainSrc, eval: evalSrc, config, outDir: fresh(), stepFeeds, ...quiet });
    const split = fresh();
    const first = await train({ graph, train: trainSrc, eval: evalSrc, config, outDir: split, stepFeeds, stopAt: 6, ...quiet });
    expect([first.step, first.finished]).toEqual([6, false]);
    const second = await train({ graph, train: trainSrc, eval: evalSrc, config, outDir: split, stepFeeds, resume: true, ...quiet });
    expect([second.step, second.resumedFrom]).toEqual([24, 6]);
    expectSameState(straight, second);
    const other = await train({ graph, train: trainSrc, eval: evalSrc, config, outDir: fresh(), stepFeeds: warmup(20), ...quiet });
    expect(bits(other.weights.get('emb/user')!.data)).not.toEqual(bits(straight.weights.get('emb/user')!.data));
  });

  it('names a feed the graph lacks, a non-scalar input, a feed the source also gives, and a bad value', async () => {
    const graph = scaledGraph('constant'),
      config = tinyConfig({ steps: 2 });
    const run = (stepFeeds: StepFeeds, src = trainSrc) => train({ graph, train: src, config, outDir: fresh(), stepFeeds, ...quiet });
    await expect(run(() => ({ auxScale: scalar(1), other: scalar(1) }))).rejects.toThrow(
      "stepFeeds: graph 'scaled-train' has no input 'other' (inputs: user, x, label, auxScale)",
    );
    await expect(run(() => ({ label: scalar(1) }))).rejects.toThrow(
      "stepFeeds: input 'label' of graph 'scaled-train' must be a float32 scalar [] to be fed per step, got float32[batch]",
    );
    const withScale = {
      ...trainSrc,
      schema: scaledSchema,
      batch: (i: Int32Array) => ({ ...trainSrc.batch(i), auxScale: scalar(1) }) as InputsOf<typeof scaledSchema>,
    };
    await expect(run(warmup(2), withScale)).rejects.toThrow(
      "stepFeeds: the training source also has feature 'auxScale'; an input fed per step must come from stepFeeds only",
    );
    await expect(run((step) => ({ auxScale: scalar(step === 1 ? NaN : 0) }))).rejects.toThrow(
      "stepFeeds at step 1: 'auxScale' must be one finite float32 value with shape [], got float32[] holding NaN",
    );
    // without stepFeeds the graph's input is simply missing from the source
    await expect(train({ graph, train: trainSrc, config, outDir: fresh(), ...quiet })).rejects.toThrow(
      "training source has no feature(s) auxScale that graph 'scaled-train' takes",
    );
  });
});

describe("the lcn recipe's stepFeeds", () => {
  const lcn = getTrainModel('lcn');
  it('crpLambdaScale on the linear schedule with crp.warmupSteps > 0; none without, or with CRP off', () => {
    const feeds = lcn.stepFeeds!({ crp: { warmupSteps: 4 } }, 'test.json')!;
    expect([0, 1, 2, 4, 9].map((s) => feeds(s, 100)[CRP_LAMBDA_SCALE]!.data[0])).toEqual([0, 0.25, 0.5, 1, 1]);
    expect(lcn.stepFeeds!({}, 'test.json')).toBeUndefined();
    expect(lcn.stepFeeds!({ crp: { warmupSteps: 0 } }, 'test.json')).toBeUndefined();
    expect(lcn.stepFeeds!({ crp: { warmupSteps: 4, lambda: 0 } }, 'test.json')).toBeUndefined();
    expect(getTrainModel('sim-soft').stepFeeds!({}, 'test.json')).toBeUndefined();
  });
});
