/** Training config checks, the sample order, progress formatting: pure functions, no tfjs. */
import { describe, expect, it } from 'vitest';
import {
  BatchOrder,
  ConfigError,
  checkSection,
  epochPermutation,
  formatDuration,
  formatProgressBar,
  formatProgressLine,
  parseJsonText,
  parseTrainConfig,
  progressPrinter,
  stepsPerEpoch,
  totalSteps,
} from '../src/index.ts';

const problems = (f: () => unknown): readonly string[] => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
};

describe('parseTrainConfig', () => {
  it('fills in the defaults', () => {
    expect(parseTrainConfig({ optimizer: { name: 'adam', lr: 0.001 }, batchSize: 256, epochs: 2, seed: 1 })).toEqual({
      optimizer: { name: 'adam', lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
      batchSize: 256,
      epochs: 2,
      evalEvery: 0,
      evalBatchSize: 1024,
      logEvery: 50,
      seed: 1,
      checkpointEvery: 0,
      keep: 3,
      model: {},
      data: {},
    });
    const c = parseTrainConfig({
      optimizer: { name: 'adam', lr: 0.5, beta1: 0, beta2: 0.5, epsilon: 1e-3 },
      batchSize: 1,
      steps: 7,
      seed: 4294967295,
      evalEvery: 3,
      checkpointEvery: 2,
      keep: 1,
      logEvery: 1,
      evalBatchSize: 9,
      model: { a: 1 },
      data: { b: [2] },
    });
    expect(c).toMatchObject({
      steps: 7,
      seed: 4294967295,
      evalEvery: 3,
      checkpointEvery: 2,
      keep: 1,
      logEvery: 1,
      evalBatchSize: 9,
      model: { a: 1 },
      data: { b: [2] },
    });
    expect(c.optimizer).toEqual({ name: 'adam', lr: 0.5, beta1: 0, beta2: 0.5, epsilon: 1e-3 });
    expect('epochs' in c).toBe(false);
  });

  it('names every unknown key, wrong type and out-of-range value with its path', () => {
    expect(
      problems(() =>
        parseTrainConfig(
          {
            optimizer: { name: 'sgd', lr: -1, beta2: 1, momentum: 0.9 },
            batchSize: '256',
            epochs: 0,
            seed: -3,
            keep: 0,
            evalEvery: 1.5,
            extra: true,
          },
          'run.json',
        ),
      ),
    ).toEqual([
      'run.json: config.extra: unknown key (expected one of optimizer, batchSize, epochs, steps, evalEvery, evalBatchSize, logEvery, ' +
        'seed, checkpointEvery, keep, model, data, shards, validation, lrSchedule, logClickLoss, summary)',
      'run.json: config.batchSize: expected an integer >= 1, got "256" (a string)',
      'run.json: config.epochs: expected an integer >= 1, got 0',
      'run.json: config.evalEvery: expected an integer >= 0 or "epoch", got 1.5',
      'run.json: config.seed: expected an integer in [0, 4294967295], got -3',
      'run.json: config.keep: expected an integer >= 1, got 0',
      'run.json: config.optimizer.momentum: unknown key (expected one of name, lr, beta1, beta2, epsilon)',
      'run.json: config.optimizer.name: expected "adam" (the only optimizer), got "sgd" (a string)',
      'run.json: config.optimizer.lr: expected a number > 0, got -1',
      'run.json: config.optimizer.beta2: expected a number >= 0 and < 1, got 1',
    ]);
  });

  it('requires optimizer, batchSize, seed and exactly one of epochs and steps', () => {
    expect(problems(() => parseTrainConfig({}, 'c.json'))).toEqual([
      'c.json: config.optimizer: missing (expected an object)',
      'c.json: config.batchSize: missing (expected an integer >= 1)',
      'c.json: config.seed: missing (expected an integer in [0, 4294967295])',
      "c.json: config: give exactly one of 'epochs' and 'steps', got neither",
    ]);
    expect(problems(() => parseTrainConfig({ optimizer: {}, batchSize: 1, seed: 1, epochs: 1, steps: 1 }, 'c.json'))).toEqual([
      "c.json: config: give exactly one of 'epochs' and 'steps', got both",
      'c.json: config.optimizer.name: missing (expected "adam")',
      'c.json: config.optimizer.lr: missing (expected a number > 0)',
    ]);
    expect(problems(() => parseTrainConfig([1], 'c.json'))).toEqual(['c.json: config: expected an object, got [1] (an array)']);
    expect(
      problems(() => parseTrainConfig({ optimizer: { name: 'adam', lr: 'NaN' }, batchSize: 1, seed: 1, steps: 1, model: [] }, 'c.json')),
    ).toEqual([
      'c.json: config.model: expected an object, got [] (an array)',
      'c.json: config.optimizer.lr: expected a number > 0, got "NaN" (a string)',
    ]);
  });

  it('reports a JSON syntax error with file, line and column', () => {
    expect(problems(() => parseJsonText('{\n  "a": 1,\n  }', 'x.json'))[0]).toMatch(/^x\.json:3:3: not valid JSON \(/);
    expect(parseJsonText('{"a": [1]}', 'x.json')).toEqual({ a: [1] });
  });

  it('checks free-form sections by rules (checkSection)', () => {
    const rules = { n: { kind: 'int', min: 1 }, sizes: { kind: 'ints', min: 1 } } as const;
    expect(checkSection<{ n: number; sizes: number[] }>({ n: 3 }, rules, { n: 1, sizes: [4] }, 'config.model', 'm.json')).toEqual({
      n: 3,
      sizes: [4],
    });
    expect(problems(() => checkSection({ n: 0, sizes: [], k: 1 }, rules, { n: 1, sizes: [4] }, 'config.model', 'm.json'))).toEqual([
      'm.json: config.model.k: unknown key (expected one of n, sizes)',
      'm.json: config.model.n: expected an integer >= 1, got 0',
      'm.json: config.model.sizes: expected a non-empty array of integers >= 1, got [] (an array)',
    ]);
  });

  it('counts steps: steps, or epochs x ceil(size / batchSize)', () => {
    const c = parseTrainConfig({ optimizer: { name: 'adam', lr: 1 }, batchSize: 4, epochs: 3, seed: 0 });
    expect(stepsPerEpoch(10, 4)).toBe(3);
    expect(totalSteps(c, 10)).toBe(9);
    expect(totalSteps({ ...c, epochs: undefined, steps: 5 }, 10)).toBe(5);
  });
});

describe('the sample order', () => {
  it('visits every sample once per epoch, in a different seeded order each epoch', () => {
    const p0 = epochPermutation(3, 0, 50),
      p1 = epochPermutation(3, 1, 50);
    expect([...p0].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect([...p1].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect([...p0]).not.toEqual([...p1]);
    expect([...epochPermutation(3, 0, 50)]).toEqual([...p0]);
    expect([...epochPermutation(4, 0, 50)]).not.toEqual([...p0]);
  });

  it("makes step k's batch a pure function of (seed, k): 10 samples in batches of 4 are 3 steps per epoch, the last of 2", () => {
    const a = new BatchOrder(7, 10, 4);
    const straight = Array.from({ length: 7 }, (_, k) => a.at(k));
    expect(straight.map((s) => s.indices.length)).toEqual([4, 4, 2, 4, 4, 2, 4]);
    expect(straight.map((s) => s.epoch)).toEqual([0, 0, 0, 1, 1, 1, 2]);
    const perm1 = epochPermutation(7, 1, 10);
    expect([...straight[4]!.indices]).toEqual([...perm1.slice(4, 8)]);
    // a fresh order asked for step 5 first (as after a resume) gives the same batch
    const b = new BatchOrder(7, 10, 4);
    expect([...b.at(5).indices]).toEqual([...straight[5]!.indices]);
    expect([...b.at(1).indices]).toEqual([...straight[1]!.indices]);
  });
});

describe('progress', () => {
  const p = { step: 300, totalSteps: 1000, epoch: 0.46875, loss: 0.693147, samplesPerSec: 1234.4, etaSeconds: 65 };

  it('formats durations, lines and bars', () => {
    expect([formatDuration(9.4), formatDuration(75), formatDuration(3725), formatDuration(NaN), formatDuration(-1)]).toEqual([
      '9s',
      '1m15s',
      '1h02m',
      '?',
      '?',
    ]);
    expect(formatProgressLine(p)).toBe('step 300/1000 (30.0%) epoch 0.47 loss 0.6931 1,234 samples/s ETA 1m05s');
    expect(formatProgressBar(p, 10)).toBe('[###-------] 30% 300/1000 | epoch 0.47 | loss 0.6931 | 1,234 samples/s | ETA 1m05s');
    expect(formatProgressLine({ ...p, loss: NaN, samplesPerSec: NaN, etaSeconds: NaN })).toBe(
      'step 300/1000 (30.0%) epoch 0.47 loss - - samples/s ETA ?',
    );
  });

  it('prints a line every interval when not on a terminal', () => {
    const out: string[] = [];
    let t = 0;
    const pr = progressPrinter({ isTTY: false, write: (s) => out.push(s) }, { intervalSeconds: 10, now: () => t });
    pr.update({ ...p, step: 1 });
    t = 5000;
    pr.update({ ...p, step: 2 });
    pr.log('eval at step 2');
    t = 10_000;
    pr.update({ ...p, step: 3 });
    t = 12_000;
    pr.update({ ...p, step: 4 });
    pr.done();
    expect(out.map((s) => s.split(' (')[0])).toEqual(['step 1/1000', 'eval at step 2\n', 'step 3/1000', 'step 4/1000']);
  });

  it('redraws one bar in place on a terminal and keeps log lines above it', () => {
    const out: string[] = [];
    let t = 0;
    const pr = progressPrinter({ isTTY: true, write: (s) => out.push(s) }, { now: () => t });
    pr.update({ ...p, step: 100 });
    t = 50;
    pr.update({ ...p, step: 101 }); // too soon: not drawn
    pr.log('checkpoint');
    pr.done();
    const bar = (step: number) => `\r${formatProgressBar({ ...p, step })}\x1b[K`;
    expect(out).toEqual([bar(100), '\r\x1b[Kcheckpoint\n', bar(101), '\n']);
  });
});
