/** A tiny model and an in-memory sample source for the trainer tests (no dependency on the data package's builders). */
import type { SampleSource } from '@lctr/data';
import { GraphBuilder, type InputsOf, Rng, bceWithLogits, embed, hashSeed, init, mlp } from '@lctr/spec';
import { type TrainConfig, parseTrainConfig } from '../src/index.ts';

export const tinySchema = {
  user: { dtype: 'int32', shape: ['batch'] },
  x: { dtype: 'float32', shape: ['batch', 4] },
  label: { dtype: 'float32', shape: ['batch'] },
} as const;
export type TinySchema = typeof tinySchema;

export interface TinyOptions {
  users?: number;
  hidden?: number;
  userDim?: number;
}

/**
 * logit = mlp([x, emb(user)], [hidden, 1]) + userBias[user]; prob = sigmoid(logit); loss = mean BCE.
 * Parameters: emb/user [users, userDim], mlp/l0/{w,b}, mlp/l1/{w,b}, userBias [users, 1].
 */
export function tinyGraph(o: TinyOptions = {}) {
  const users = o.users ?? 16,
    hidden = o.hidden ?? 8,
    userDim = o.userDim ?? 2;
  const b = new GraphBuilder('tiny-train', tinySchema);
  const u = b.scope('emb', () => embed(b, 'user', b.inputs.user, users, userDim, init.normal(0.1)));
  const h = mlp(b, 'mlp', b.concat([b.inputs.x, u], 1), [hidden, 1]);
  const bias = b.gather(b.param('userBias', [users, 1], init.zeros()), b.inputs.user);
  const logit = b.reshape(b.add(h, bias), ['batch']);
  return b.build({ prob: b.sigmoid(logit), loss: bceWithLogits(b, logit, b.inputs.label) });
}

/** n samples: x ~ N(0, 1), user = i % users, label ~ Bernoulli(sigmoid(x . (1, -1, 0.5, 0) + 0.3 (user % 3 - 1))). */
export function tinySource(n: number, seed: number, users = 16): SampleSource<TinySchema> {
  const rng = new Rng(hashSeed(seed, 'tiny'));
  const x = new Float32Array(n * 4),
    user = new Int32Array(n),
    labels = new Uint8Array(n),
    trueP = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 4; j++) x[i * 4 + j] = rng.normal();
    user[i] = i % users;
    const z = x[i * 4]! - x[i * 4 + 1]! + 0.5 * x[i * 4 + 2]! + 0.3 * ((user[i]! % 3) - 1);
    trueP[i] = 1 / (1 + Math.exp(-z));
    labels[i] = rng.next() < trueP[i]! ? 1 : 0;
  }
  return {
    schema: tinySchema,
    size: n,
    labels,
    groups: user,
    trueProbability: trueP,
    batch(idx: Int32Array): InputsOf<TinySchema> {
      const B = idx.length;
      const bx = new Float32Array(B * 4),
        bu = new Int32Array(B),
        by = new Float32Array(B);
      idx.forEach((i, r) => {
        bx.set(x.subarray(i * 4, i * 4 + 4), r * 4);
        bu[r] = user[i]!;
        by[r] = labels[i]!;
      });
      return {
        user: { dtype: 'int32', shape: [B], data: bu },
        x: { dtype: 'float32', shape: [B, 4], data: bx },
        label: { dtype: 'float32', shape: [B], data: by },
      };
    },
  };
}

export function tinyConfig(over: Record<string, unknown> = {}): TrainConfig {
  return parseTrainConfig(
    {
      optimizer: { name: 'adam', lr: 0.01 },
      batchSize: 16,
      steps: 24,
      seed: 5,
      evalEvery: 10,
      checkpointEvery: 5,
      keep: 2,
      logEvery: 4,
      evalBatchSize: 40,
      ...over,
    },
    'test',
  );
}

/** Bit patterns of a float32 tensor's values (exact equality, NaN- and -0-aware). */
export const bits = (a: ArrayLike<number>): number[] => Array.from(new Uint32Array(Float32Array.from(a).buffer));
