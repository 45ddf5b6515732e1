/**
 * Adam whose whole state is ours, so a checkpoint restores it exactly.
 *
 * tf.train.adam keeps its moments in variables indexed by the position of each gradient in the
 * call, and its setWeights() recomputes the beta powers as pow(beta, iterations + 1) in float32,
 * which is not the product the running optimizer accumulated: a restored tfjs Adam takes a
 * slightly different next step. This optimizer does the same arithmetic as tf.train.adam (same
 * tfjs ops in the same order, float32 tensors):
 *
 *   m <- beta1 m + (1 - beta1) g
 *   v <- beta2 v + (1 - beta2) g^2
 *   w <- w - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
 *
 * with the moments keyed by parameter path and the beta powers beta^t kept as float64 JS numbers
 * (one multiplication per step, each rounded to float32 only where it enters a tensor op). The state
 * is m and v per parameter, the step count t and the two powers; getState/setState move it
 * to and from the host exactly (JS numbers round-trip through their decimal text), so the step
 * after a restore is bit-identical to the step the uninterrupted run takes.
 *
 * It is a tf.Optimizer, so `model.trainStep(inputs, 'loss', adam)` drives it. Parameters the loss
 * does not reach get no gradient and stay as they are (their moments too).
 */
import * as tf from '@tensorflow/tfjs-core';
import { type HostTensor, formatShape, sizeOf } from '@lctr/spec';

export interface AdamConfig {
  readonly name: 'adam';
  /** learning rate, > 0 */
  readonly lr: number;
  /** first-moment decay in [0, 1), default 0.9 */
  readonly beta1: number;
  /** second-moment decay in [0, 1), default 0.999 */
  readonly beta2: number;
  /** added to sqrt(v-hat), > 0, default 1e-8 */
  readonly epsilon: number;
}

export interface AdamState {
  /** optimizer steps taken (t) */
  readonly step: number;
  /** beta1^t and beta2^t as float64 (1 at t = 0) */
  readonly beta1Power: number;
  readonly beta2Power: number;
  /** first and second moments, keyed by parameter path */
  readonly m: ReadonlyMap<string, HostTensor<'float32'>>;
  readonly v: ReadonlyMap<string, HostTensor<'float32'>>;
}

let adamCounter = 0;

export class Adam extends tf.Optimizer {
  static get className(): string {
    return 'LctrAdam';
  }

  readonly config: AdamConfig;
  private step = 0;
  /** the rate the next step uses: config.lr until setLearningRate (a schedule sets it before every step) */
  private lr: number;
  private beta1Power = 1;
  private beta2Power = 1;
  private readonly params: ReadonlyMap<string, tf.Variable>;
  /** tfjs variable name -> parameter path */
  private readonly byVarName = new Map<string, string>();
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private disposed = false;

  /** `params`: the model's variables keyed by parameter path (TfjsModel.variables). */
  constructor(params: ReadonlyMap<string, tf.Variable>, config: AdamConfig) {
    super();
    this.config = config;
    this.lr = config.lr;
    this.params = params;
    const id = ++adamCounter;
    tf.tidy(() => {
      for (const [path, w] of params) {
        this.byVarName.set(w.name, path);
        this.m.set(path, tf.variable(tf.zerosLike(w), false, `lctrAdam${id}/m/${path}`));
        this.v.set(path, tf.variable(tf.zerosLike(w), false, `lctrAdam${id}/v/${path}`));
      }
    });
  }

  /** optimizer steps taken so far */
  get steps(): number {
    return this.step;
  }

  /** the learning rate the next step uses */
  get learningRate(): number {
    return this.lr;
  }

  /**
   * Set the rate of the following steps (a schedule calls it before each step). Not part of the
   * state: a schedule is a pure function of the step, so a resume sets it again from the step.
   */
  setLearningRate(lr: number): void {
    if (typeof lr !== 'number' || !(lr >= 0) || !Number.isFinite(lr))
      throw new Error(`Adam.setLearningRate: expected a finite number >= 0, got ${lr}`);
    this.lr = lr;
  }

  override applyGradients(grads: tf.NamedTensorMap | Array<{ name: string; tensor: tf.Tensor }>): void {
    if (this.disposed) throw new Error('Adam: the optimizer was disposed');
    const list = Array.isArray(grads) ? grads : Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
    const { beta1, beta2, epsilon } = this.config;
    const lr = this.lr;
    const b1p = this.beta1Power * beta1;
    const b2p = this.beta2Power * beta2;
    tf.tidy(() => {
      const oneMinusB1p = tf.scalar(1 - b1p);
      const oneMinusB2p = tf.scalar(1 - b2p);
      for (const { name, tensor: g } of list) {
        if (g == null) continue;
        const path = this.byVarName.get(name);
        if (path === undefined) throw new Error(`Adam: got a gradient for variable '${name}', which is not one of the model's parameters`);
        const w = this.params.get(path)!;
        const m = this.m.get(path)!;
        const v = this.v.get(path)!;
        const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
        const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
        const mHat = tf.div(m1, oneMinusB1p);
        const vHat = tf.div(v1, oneMinusB2p);
        m.assign(m1);
        v.assign(v1);
        w.assign(tf.add(tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), epsilon)), -lr), w));
      }
    });
    this.beta1Power = b1p;
    this.beta2Power = b2p;
    this.step++;
    this.incrementIterations();
  }

  /** Copies of the whole state on the host. */
  getState(): AdamState {
    const host = (vars: Map<string, tf.Variable>) => {
      const out = new Map<string, HostTensor<'float32'>>();
      for (const [k, t] of vars)
        out.set(k, { dtype: 'float32', shape: [...t.shape], data: Float32Array.from(t.dataSync() as Float32Array) });
      return out;
    };
    return { step: this.step, beta1Power: this.beta1Power, beta2Power: this.beta2Power, m: host(this.m), v: host(this.v) };
  }

  /** Restore a state taken by getState (exactly one m and v of the right shape per parameter). */
  setState(s: AdamState, source = 'optimizer state'): void {
    if (!Number.isInteger(s.step) || s.step < 0) throw new Error(`${source}: step must be a non-negative integer, got ${s.step}`);
    for (const [k, p] of [
      ['beta1Power', s.beta1Power],
      ['beta2Power', s.beta2Power],
    ] as const) {
      if (typeof p !== 'number' || !(p > 0 && p <= 1)) throw new Error(`${source}: ${k} must be a number in (0, 1], got ${p}`);
    }
    for (const [which, moments] of [
      ['m', s.m],
      ['v', s.v],
    ] as const) {
      const missing = [...this.params.keys()].filter((k) => !moments.has(k));
      const extra = [...moments.keys()].filter((k) => !this.params.has(k));
      if (missing.length) throw new Error(`${source}: no '${which}' moment for parameter(s) ${missing.join(', ')}`);
      if (extra.length) throw new Error(`${source}: '${which}' moment(s) for unknown parameter(s) ${extra.join(', ')}`);
      for (const [k, t] of moments) {
        const want = this.params.get(k)!.shape;
        if (
          t.dtype !== 'float32' ||
          t.shape.length !== want.length ||
          t.shape.some((d, i) => d !== want[i]) ||
          t.data.length !== sizeOf(want)
        ) {
          throw new Error(
            `${source}: '${which}' moment of '${k}' must be float32${formatShape(want)}, got ${t.dtype}${formatShape(t.shape)}`,
          );
        }
      }
    }
    tf.tidy(() => {
      for (const [k, t] of s.m) this.m.get(k)!.assign(tf.tensor(Float32Array.from(t.data), [...t.shape], 'float32'));
      for (const [k, t] of s.v) this.v.get(k)!.assign(tf.tensor(Float32Array.from(t.data), [...t.shape], 'float32'));
    });
    this.step = s.step;
    this.beta1Power = s.beta1Power;
    this.beta2Power = s.beta2Power;
    this.iterations_ = s.step;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.lr, beta1: this.config.beta1, beta2: this.config.beta2, epsilon: this.config.epsilon };
  }

  override dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.m.values()) t.dispose();
    for (const t of this.v.values()) t.dispose();
  }
}
