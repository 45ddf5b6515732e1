/**
 * The ONNX reference checker, through Debian's python3-onnx (onnx 1.12: IR 8, opset 17):
 * onnx.checker.check_model(full_check=True) plus strict, type-checking shape inference.
 * Many models are checked by one python process (starting python and importing onnx is the
 * costly part).
 */
import { spawnSync } from 'node:child_process';

export interface CheckResult {
  readonly ok: boolean;
  /** 'ok', or the checker's exception type and message. */
  readonly message: string;
}

export interface CheckerOptions {
  /** The python that has Debian's onnx package; /usr/bin/python3 by default (not a pyenv python first on PATH). */
  python?: string;
  timeoutMs?: number;
}

export const DEFAULT_CHECKER_PYTHON = '/usr/bin/python3';
const INSTALL_HINT = 'install with apt-get install -y python3-onnx';

/** Thrown when the checker cannot run at all (no python, no onnx module). */
export class OnnxCheckerUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxCheckerUnavailableError';
  }
}

// stdin: for each model an 8-byte little-endian length, then the bytes. stdout: one JSON object.
const SCRIPT = String.raw`
import json, struct, sys
try:
    import onnx
    from onnx import checker, shape_inference
except Exception as e:
    sys.stdout.write(json.dumps({"unavailable": "%s: %s" % (type(e).__name__, e)}))
    sys.exit(0)
data = sys.stdin.buffer.read()
off, results = 0, []
while off < len(data):
    (n,) = struct.unpack_from("<Q", data, off)
    off += 8
    blob = data[off:off + n]
    off += n
    try:
        m = onnx.load_model_from_string(blob)
        checker.check_model(m, full_check=True)
        shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
        results.append({"ok": True, "message": "ok"})
    except Exception as e:
        results.append({"ok": False, "message": "%s: %s" % (type(e).__name__, str(e).strip())})
sys.stdout.write(json.dumps({"onnx": onnx.__version__, "results": results}))
`;

/** Check many models with one python process; results are in the order of `models`. */
export function checkOnnxModels(models: readonly Uint8Array[], opts: CheckerOptions = {}): CheckResult[] {
  const python = opts.python ?? DEFAULT_CHECKER_PYTHON;
  const parts: Buffer[] = [];
  for (const m of models) {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(m.length));
    parts.push(len, Buffer.from(m.buffer, m.byteOffset, m.byteLength));
  }
  const r = spawnSync(python, ['-c', SCRIPT], {
    input: Buffer.concat(parts),
    maxBuffer: 64 * 1024 * 1024,
    timeout: opts.timeoutMs ?? 120_000,
  });
  if (r.error) {
    throw new OnnxCheckerUnavailableError(`cannot run the ONNX checker with ${python}: ${r.error.message}; ${INSTALL_HINT}`);
  }
  const stdout = r.stdout.toString('utf8');
  let parsed: { unavailable?: string; results?: CheckResult[] };
  try {
    parsed = JSON.parse(stdout) as typeof parsed;
  } catch {
    throw new Error(
      `the ONNX checker (${python}) exited with ${r.status ?? r.signal} and no result: ${r.stderr.toString('utf8').trim().slice(-2000)}`,
    );
  }
  if (parsed.unavailable !== undefined) {
    throw new OnnxCheckerUnavailableError(`python3-onnx is missing for ${python} (${parsed.unavailable}); ${INSTALL_HINT}`);
  }
  const results = parsed.results ?? [];
  if (results.length !== models.length) throw new Error(`the ONNX checker returned ${results.length} results for ${models.length} models`);
  return results;
}

/** Check one model (one python process); see checkOnnxModels to check many at once. */
export function checkOnnxModel(bytes: Uint8Array, opts: CheckerOptions = {}): CheckResult {
  return checkOnnxModels([bytes], opts)[0]!;
}
