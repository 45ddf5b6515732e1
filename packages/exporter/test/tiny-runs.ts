/**
 * Tiny training runs for the exporter tests: a few steps on the small synthetic world, trained
 * through the trainer API into `base/runs/<model>`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getTrainModel, parseTrainConfig, train } from '@lctr/train';

export const small = { dataset: 'synthetic', world: 'small', worldSeed: 3 };
export const shortArch = { dim: 4, categoryDim: 2, seqLen: 8, hidden: [8], attention: [4] };
export const lifelongArch = {
  ...shortArch,
  lifelongLen: 40,
  contextDim: 2,
  lap: { k1: 10, k2: 4, attentionDim: 4, heads: 2, headDim: 2, ffnDim: 8, outDim: 4 },
  simSoft: { k: 6, gsuDim: 4, attentionDim: 4 },
  crp: { negatives: 16 },
};
export const STEPS = 4;

export interface Run {
  readonly runDir: string;
  readonly configPath: string;
}

/** The config JSON of a tiny run of `STEPS` steps. */
export const tinyConfig = (model: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  optimizer: { name: 'adam', lr: 0.01 },
  batchSize: 32,
  steps: STEPS,
  seed: 1,
  model,
  data: small,
  ...extra,
});

/** Train `name` (a trainer model) for STEPS steps into base/runs/<name>; the config goes to base/<name>.json. */
export async function trainTiny(base: string, name: string, model: Record<string, unknown>): Promise<Run> {
  const configPath = join(base, `${name}.json`);
  const json = tinyConfig(model);
  writeFileSync(configPath, JSON.stringify(json));
  const config = parseTrainConfig(json, configPath);
  const m = getTrainModel(name);
  const graph = await m.buildTrain(config.model, configPath, config.data);
  const src = await m.source({ split: 'train', seed: config.seed, data: config.data, model: config.model, where: configPath });
  const runDir = join(base, 'runs', name);
  await train({ graph, train: src, config, outDir: runDir });
  return { runDir, configPath };
}

export const stepDir = (r: Run) => join(r.runDir, 'checkpoints', `step-${STEPS}`);
