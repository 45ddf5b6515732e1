/**
 * The learning-rate schedule (config.lrSchedule): a linear warm-up, then cosine or step decay.
 * It is a pure function of the step, so a resumed run sets Adam's rate from the step alone and
 * continues bit for bit (nothing of the schedule is saved in a checkpoint).
 */

export interface LrSchedule {
  /** steps of linear warm-up: step s (0-based, the update it makes is the (s+1)-th) uses lr * (s + 1) / warmupSteps */
  readonly warmupSteps: number;
  /**
   * after the warm-up: 'none' keeps lr; 'cosine' goes from lr to minLr over the rest of the run; 'step' multiplies by gamma every stepEvery
   * steps
   */
  readonly decay: 'none' | 'cosine' | 'step';
  /** cosine: the floor the rate approaches at the end of the run (default 0) */
  readonly minLr: number;
  /** step: steps between two multiplications by gamma */
  readonly stepEvery: number;
  /** step: the factor (default 0.1) */
  readonly gamma: number;
}

export const LR_SCHEDULE_DEFAULTS: Omit<LrSchedule, 'stepEvery'> & { readonly stepEvery: number } = {
  warmupSteps: 0,
  decay: 'none',
  minLr: 0,
  stepEvery: 0,
  gamma: 0.1,
};

/**
 * The rate of the update made at step `step` (0-based: the number of updates already done) of a
 * run of `total` steps whose peak rate is `lr`:
 * - warm-up, step < W: lr * (step + 1) / W;
 * - cosine: minLr + (lr - minLr) * (1 + cos(pi * (step - W) / (total - W))) / 2, so the first step
 *   after the warm-up uses lr and the last one a rate just above minLr;
 * - step: lr * gamma ^ floor((step - W) / stepEvery).
 */
export function learningRateAt(s: LrSchedule, lr: number, step: number, total: number): number {
  const w = s.warmupSteps;
  if (step < w) return (lr * (step + 1)) / w;
  if (s.decay === 'cosine') {
    const span = total - w;
    if (span <= 0) return lr;
    return s.minLr + ((lr - s.minLr) * (1 + Math.cos((Math.PI * (step - w)) / span))) / 2;
  }
  if (s.decay === 'step') return lr * s.gamma ** Math.floor((step - w) / s.stepEvery);
  return lr;
}
