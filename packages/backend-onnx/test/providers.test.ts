/** Provider choice: a pure function over injected availability, and what really runs here. */
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '@lctr/spec';
import { OnnxSession, ProviderError, chooseProviders, detectProviderAvailability, exportOnnx } from '../src/index.ts';
import { expectTensor, f32 } from './helpers.ts';

const NO_LIBS =
  'the CUDA provider libraries (libonnxruntime_providers_cuda.so, libonnxruntime_providers_shared.so) are not installed next to the ' +
  'onnxruntime-node binding (its install script downloads them)';

describe('chooseProviders (pure)', () => {
  const withCuda = { backends: ['cpu', 'webgpu', 'cuda', 'tensorrt'], cudaLibraries: true };
  const listedNoLibs = { backends: ['cpu', 'webgpu', 'cuda', 'tensorrt'], cudaLibraries: false };
  const cpuOnly = { backends: ['cpu'], cudaLibraries: false };
  it("'cpu' is the CPU whatever is available", () => {
    expect(chooseProviders('cpu', withCuda)).toEqual({ candidates: ['cpu'], notes: [] });
    expect(chooseProviders('cpu', cpuOnly)).toEqual({ candidates: ['cpu'], notes: [] });
  });
  it("'auto' tries CUDA first when it looks available, then the CPU", () => {
    expect(chooseProviders('auto', withCuda)).toEqual({ candidates: ['cuda', 'cpu'], notes: [] });
  });
  it("'auto' without CUDA runs on the CPU and says why", () => {
    expect(chooseProviders('auto', listedNoLibs)).toEqual({ candidates: ['cpu'], notes: [`cuda skipped: ${NO_LIBS}`] });
    expect(chooseProviders('auto', cpuOnly)).toEqual({
      candidates: ['cpu'],
      notes: ['cuda skipped: this onnxruntime-node build has no CUDA backend (backends: cpu)'],
    });
  });
  it("'cuda' is CUDA only, and an error when CUDA is not available (never a silent CPU run)", () => {
    expect(chooseProviders('cuda', withCuda)).toEqual({ candidates: ['cuda'], notes: [] });
    expect(() => chooseProviders('cuda', listedNoLibs)).toThrow(
      new ProviderError(`provider 'cuda' was requested but ${NO_LIBS}; use provider 'auto' or 'cpu'`),
    );
  });
  it('an unknown request is an error', () => {
    expect(() => chooseProviders('tpu' as 'cpu', withCuda)).toThrow(
      new ProviderError("unknown provider 'tpu': expected 'auto', 'cuda' or 'cpu'"),
    );
  });
});

describe('sessions', () => {
  const b = new GraphBuilder('prov', { x: { dtype: 'float32', shape: [2] } });
  const g = b.build({ y: b.relu(b.inputs.x) });
  const model = exportOnnx(g, new Map());
  const here = detectProviderAvailability();

  it('availability is read from onnxruntime-node (the CPU is always there)', () => {
    expect(here.backends).toContain('cpu');
    expect(typeof here.cudaLibraries).toBe('boolean');
  });
  it("'auto' records the provider that really runs, and why CUDA was not used", async () => {
    const s = await OnnxSession.create(model, g);
    try {
      expect(['cpu', 'cuda']).toContain(s.provider);
      if (s.provider === 'cpu') expect(s.providerNotes.length).toBeGreaterThan(0);
      if (!here.cudaLibraries) expect(s.providerNotes[0]).toMatch(/^cuda skipped: /);
      expectTensor((await s.run({ x: f32([2], [-1, 2]) })).y, 'float32', [2], [0, 2]);
    } finally {
      await s.release();
    }
  });
  it.runIf(!here.cudaLibraries)("'auto' falls back to the CPU when a CUDA session fails to open, recording the failure", async () => {
    const s = await OnnxSession.create(model, g, { availability: { backends: ['cpu', 'cuda'], cudaLibraries: true } });
    try {
      expect(s.provider).toBe('cpu');
      expect(s.providerNotes).toHaveLength(1);
      expect(s.providerNotes[0]).toMatch(/^cuda failed: .*Failed to load shared library/);
    } finally {
      await s.release();
    }
  });
  it.runIf(!here.cudaLibraries)("'cuda' that fails to open is an error naming the failure", async () => {
    await expect(
      OnnxSession.create(model, g, { provider: 'cuda', availability: { backends: ['cpu', 'cuda'], cudaLibraries: true } }),
    ).rejects.toThrow(/^cannot open an ONNX Runtime session for graph 'prov': cuda failed: /);
  });
  it('a .onnx path works like bytes', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const path = join(mkdtempSync(join(tmpdir(), 'lctr-onnx-')), 'prov.onnx');
    writeFileSync(path, model);
    const s = await OnnxSession.create(path, g, { provider: 'cpu' });
    try {
      expect(s.provider).toBe('cpu');
      expect(s.providerNotes).toEqual([]);
      expectTensor((await s.run({ x: f32([2], [3, -4]) })).y, 'float32', [2], [3, 0]);
    } finally {
      await s.release();
    }
  });
});
