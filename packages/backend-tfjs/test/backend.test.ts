import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  BACKEND_ENV,
  BackendChoiceError,
  TFJS_BACKENDS,
  type TfjsBackendName,
  chooseBackend,
  hasFastKernels,
  initTfjs,
  normalizeBackendName,
  parseBackendFlag,
} from '../src/index.ts';
import './helpers.ts';

/** Every subset of the four backends. */
function subsets(): Array<Set<TfjsBackendName>> {
  const out: Array<Set<TfjsBackendName>> = [];
  for (let mask = 0; mask < 1 << TFJS_BACKENDS.length; mask++) {
    out.push(new Set(TFJS_BACKENDS.filter((_, i) => mask & (1 << i))));
  }
  return out;
}

describe('chooseBackend', () => {
  it('picks the first available in the order tensorflow-gpu, tensorflow, wasm, cpu, for every combination', () => {
    const seen: string[] = [];
    for (const available of subsets()) {
      if (available.size === 0) {
        expect(() => chooseBackend({ available })).toThrow('no tfjs backend is available (tried tensorflow-gpu, tensorflow, wasm, cpu)');
        continue;
      }
      const expected = TFJS_BACKENDS.find((b) => available.has(b))!;
      const choice = chooseBackend({ available });
      expect(choice.backend).toBe(expected);
      seen.push(`${[...available].join('+')} -> ${choice.backend}`);
    }
    expect(seen).toHaveLength(15);
  });

  it('says why a preferred backend was skipped', () => {
    const why = new Map<TfjsBackendName, string>([['tensorflow-gpu', '@tensorflow/tfjs-node-gpu is not installed (MODULE_NOT_FOUND)']]);
    const c = chooseBackend({ available: new Set(['tensorflow', 'cpu']), why });
    expect(c).toEqual({
      backend: 'tensorflow',
      reason:
        'first available in the preference order; skipped tensorflow-gpu (@tensorflow/tfjs-node-gpu is not installed (MODULE_NOT_FOUND))',
    });
    expect(chooseBackend({ available: new Set(TFJS_BACKENDS) }).reason).toBe('first in the preference order');
  });

  it('an explicit request overrides the order whenever it is available', () => {
    for (const available of subsets()) {
      for (const requested of TFJS_BACKENDS) {
        if (available.has(requested)) {
          expect(chooseBackend({ requested, requestedFrom: '--backend', available })).toEqual({
            backend: requested,
            reason: 'requested by --backend',
          });
        } else {
          expect(() => chooseBackend({ requested, requestedFrom: '--backend', available })).toThrow(BackendChoiceError);
        }
      }
    }
  });

  it('an unavailable request is an error naming the reason and the choices', () => {
    const why = new Map<TfjsBackendName, string>([['tensorflow', '@tensorflow/tfjs-node is not installed (MODULE_NOT_FOUND)']]);
    expect(() =>
      chooseBackend({ requested: 'tensorflow', requestedFrom: 'LCTR_TFJS_BACKEND', available: new Set(['wasm', 'cpu']), why }),
    ).toThrow(
      "tfjs backend 'tensorflow' was requested (LCTR_TFJS_BACKEND) but is not available here: @tensorflow/tfjs-node is not installed (MODULE_NOT_FOUND); " +
        'available: wasm, cpu (choices: tensorflow-gpu, tensorflow, wasm, cpu)',
    );
  });

  it('an unknown name is an error listing the choices', () => {
    expect(() => chooseBackend({ requested: 'webgl', requestedFrom: '--backend', available: new Set(['cpu']) })).toThrow(
      "unknown tfjs backend 'webgl' (--backend); choose one of: tensorflow-gpu, tensorflow, wasm, cpu",
    );
  });

  it('accepts package names and any case; an empty request means no request', () => {
    expect(normalizeBackendName('tfjs-node-gpu')).toBe('tensorflow-gpu');
    expect(normalizeBackendName('@tensorflow/tfjs-node'.replace('@tensorflow/', ''))).toBe('tensorflow');
    expect(normalizeBackendName(' WASM ')).toBe('wasm');
    expect(chooseBackend({ requested: '', available: new Set(['wasm', 'cpu']) }).backend).toBe('wasm');
  });
});

describe('parseBackendFlag', () => {
  it('reads --backend NAME and --backend=NAME, the flag winning over the env', () => {
    expect(parseBackendFlag(['train', '--backend', 'cpu'], {})).toEqual({ value: 'cpu', source: '--backend' });
    expect(parseBackendFlag(['--backend=wasm', '--epochs', '3'], { [BACKEND_ENV]: 'cpu' })).toEqual({ value: 'wasm', source: '--backend' });
    expect(parseBackendFlag(['--epochs', '3'], { [BACKEND_ENV]: 'cpu' })).toEqual({ value: 'cpu', source: 'LCTR_TFJS_BACKEND' });
    expect(parseBackendFlag([], { [BACKEND_ENV]: '  ' })).toBeUndefined();
    expect(parseBackendFlag([], {})).toBeUndefined();
  });
  it('rejects a flag without a value', () => {
    expect(() => parseBackendFlag(['--backend'], {})).toThrow(
      '--backend needs a value; choose one of: tensorflow-gpu, tensorflow, wasm, cpu',
    );
    expect(() => parseBackendFlag(['--backend', '--epochs', '3'], {})).toThrow('--backend needs a value');
    expect(() => parseBackendFlag(['--backend='], {})).toThrow('--backend needs a value');
  });
});

describe('initTfjs', () => {
  it('switches between cpu and wasm for real and registers the fast kernels', async () => {
    const lines: string[] = [];
    const wasm = await initTfjs({ backend: 'wasm', log: (l) => lines.push(l) });
    expect(wasm).toMatchObject({ backend: 'wasm', engineBackend: 'wasm', reason: 'requested by --backend' });
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.backend().constructor.name).toBe('BackendWasm');
    const cpu = await initTfjs({ backend: 'cpu', log: (l) => lines.push(l) });
    expect(cpu.backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(tf.backend().constructor.name).toBe('MathBackendCPU');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^tfjs backend: wasm \(engine 'wasm', WebAssembly .*SIMD (on|off), threads (on|off)\) - requested by --backend$/,
    );
    expect(lines[1]).toBe("tfjs backend: cpu (engine 'cpu', pure JavaScript) - requested by --backend");
    expect(hasFastKernels('cpu')).toBe(true);
    expect(hasFastKernels('wasm')).toBe(true);
  });

  it('without a request, skips the node packages that are not installed here and says so', async () => {
    const lines: string[] = [];
    const r = await initTfjs({ log: (l) => lines.push(l), env: {} });
    // this machine has neither tfjs-node package (optional dependencies whose install needs the internet)
    expect(r.backend).toBe('wasm');
    expect(r.reason).toContain('skipped tensorflow-gpu (@tensorflow/tfjs-node-gpu is not installed (MODULE_NOT_FOUND))');
    expect(r.reason).toContain('tensorflow (@tensorflow/tfjs-node is not installed (MODULE_NOT_FOUND))');
    expect(lines[0]).toContain('tfjs backend: wasm');
  });

  it('reads LCTR_TFJS_BACKEND when no backend is passed', async () => {
    const r = await initTfjs({ log: () => {}, env: { [BACKEND_ENV]: 'cpu' } });
    expect(r).toMatchObject({ backend: 'cpu', reason: `requested by ${BACKEND_ENV}` });
    expect(tf.getBackend()).toBe('cpu');
  });

  it('an explicit request for a missing package is a clear error, not a fallback', async () => {
    await expect(initTfjs({ backend: 'tensorflow-gpu', log: () => {} })).rejects.toThrow(
      "tfjs backend 'tensorflow-gpu' was requested (--backend) but is not available here: @tensorflow/tfjs-node-gpu is not installed " +
        '(MODULE_NOT_FOUND)',
    );
    await expect(initTfjs({ backend: 'gpu', log: () => {} })).rejects.toThrow(
      "unknown tfjs backend 'gpu' (--backend); choose one of: tensorflow-gpu, tensorflow, wasm, cpu",
    );
    expect(tf.getBackend()).toBe('cpu'); // unchanged
  });
});
