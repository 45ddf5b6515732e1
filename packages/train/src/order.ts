/**
 * The sample order: epoch e visits the training samples in a permutation drawn from
 * Rng(hashSeed(seed, 'epoch', e)) (Fisher-Yates), cut into batches of `batchSize` (the last one of
 * an epoch holds the remainder). Step k's batch is therefore a pure function of (seed, k, size,
 * batchSize): a resumed run needs no random state and replays nothing.
 */
import { Rng, hashSeed } from '@lctr/spec';

/** Batches per epoch: ceil(size / batchSize). */
export function stepsPerEpoch(size: number, batchSize: number): number {
  return Math.ceil(size / batchSize);
}

/** The visiting order of epoch `epoch`: a permutation of 0..size-1. */
export function epochPermutation(seed: number, epoch: number, size: number): Int32Array {
  const perm = new Int32Array(size);
  for (let i = 0; i < size; i++) perm[i] = i;
  const rng = new Rng(hashSeed(seed, 'epoch', epoch));
  for (let i = size - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm;
}

export interface StepBatch {
  /** 0-based epoch the step belongs to */
  readonly epoch: number;
  /** sample positions of the step's batch, in order */
  readonly indices: Int32Array;
}

/** Step k (0-based) -> its batch; caches the permutation of the current epoch. */
export class BatchOrder {
  readonly perEpoch: number;
  private cachedEpoch = -1;
  private perm: Int32Array = new Int32Array(0);

  constructor(
    readonly seed: number,
    readonly size: number,
    readonly batchSize: number,
  ) {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`BatchOrder: the training source must hold at least one sample, got size ${size}`);
    this.perEpoch = stepsPerEpoch(size, batchSize);
  }

  at(step: number): StepBatch {
    const epoch = Math.floor(step / this.perEpoch);
    if (epoch !== this.cachedEpoch) {
      this.perm = epochPermutation(this.seed, epoch, this.size);
      this.cachedEpoch = epoch;
    }
    const start = (step - epoch * this.perEpoch) * this.batchSize;
    return { epoch, indices: this.perm.slice(start, Math.min(start + this.batchSize, this.size)) };
  }
}
