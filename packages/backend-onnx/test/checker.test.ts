/** The python3-onnx checker wrapper: batches, reports failures, and fails loudly when missing. */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '@lctr/spec';
import { OnnxCheckerUnavailableError, checkOnnxModel, checkOnnxModels, onnx, toModelProto } from '../src/index.ts';

const HINT = 'install with apt-get install -y python3-onnx';

function valid(): Uint8Array {
  const b = new GraphBuilder('checked', { x: { dtype: 'float32', shape: ['batch', 2] } });
  return onnx.ModelProto.encode(toModelProto(b.build({ y: b.relu(b.inputs.x) }), new Map())).finish();
}
function danglingInput(): Uint8Array {
  const b = new GraphBuilder('dangling', { x: { dtype: 'float32', shape: ['batch', 2] } });
  const m = toModelProto(b.build({ y: b.relu(b.inputs.x) }), new Map());
  m.graph!.node![0]!.input = ['nope'];
  return onnx.ModelProto.encode(m).finish();
}
function typeMismatch(): Uint8Array {
  const b = new GraphBuilder('mismatch', { x: { dtype: 'float32', shape: [2] }, i: { dtype: 'int32', shape: [2] } });
  const m = toModelProto(b.build({ y: b.neg(b.inputs.x) }), new Map());
  m.graph!.node![0]!.opType = 'Add';
  m.graph!.node![0]!.input = ['x', 'i'];
  return onnx.ModelProto.encode(m).finish();
}

describe('checkOnnxModels', () => {
  it('checks many models in one process, in order, with the checker message for failures', () => {
    const [a, b, c, d] = checkOnnxModels([valid(), danglingInput(), valid(), typeMismatch()]);
    expect(a).toEqual({ ok: true, message: 'ok' });
    expect(b!.ok).toBe(false);
    expect(b!.message).toMatch(/nope/);
    expect(c).toEqual({ ok: true, message: 'ok' });
    expect(d!.ok).toBe(false);
    expect(d!.message).toMatch(/Add/);
  });
  it('checkOnnxModel checks one', () => {
    expect(checkOnnxModel(valid())).toEqual({ ok: true, message: 'ok' });
  });
  it('a python that does not exist is an error with the install hint', () => {
    expect(() => checkOnnxModel(valid(), { python: '/nonexistent/python3' })).toThrow(OnnxCheckerUnavailableError);
    expect(() => checkOnnxModel(valid(), { python: '/nonexistent/python3' })).toThrow(HINT);
  });
  it('a python without the onnx module is an error with the install hint', () => {
    // /usr/bin/python3 -S skips site-packages, where Debian's python3-onnx lives.
    const fake = join(mkdtempSync(join(tmpdir(), 'lctr-py-')), 'python3');
    writeFileSync(fake, '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n');
    chmodSync(fake, 0o755);
    expect(() => checkOnnxModel(valid(), { python: fake })).toThrow(
      /^python3-onnx is missing for .*ModuleNotFoundError: No module named 'onnx'\); install with apt-get install -y python3-onnx$/,
    );
  });
});
