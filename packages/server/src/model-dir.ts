/**
 * Loading a serving directory written by the exporter (a model directory of a Triton model
 * repository): `<dir>/graph.json` (the serving graph's spec JSON) and `<dir>/<version>/model.onnx`
 * (the highest numeric version directory holding a model.onnx, as Triton's default version policy
 * picks). Every way a directory can fail to be one gets its own message: missing, not a directory,
 * a model repository given instead of one of its models, a missing file, a graph file of another
 * format or version, a graph the server cannot serve, an export whose report.json says it failed.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { type Graph, graphFromJSON } from '@lctr/spec';
import { type FeaturePipeline, FEATURES_FILE, FEATURES_FORMAT, FEATURES_VERSION } from '@lctr/data';

export class ModelDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelDirError';
  }
}

export const GRAPH_FILE = 'graph.json';
export const REPORT_FILE = 'report.json';
export const ONNX_FILE_NAME = 'model.onnx';

export interface ModelDir {
  /** absolute path of the model directory */
  readonly dir: string;
  /** the model name: the directory's name (Triton's model name) */
  readonly name: string;
  /** the numeric version directory the ONNX model was taken from */
  readonly version: number;
  /** absolute path of <dir>/<version>/model.onnx */
  readonly onnxPath: string;
  readonly onnx: Uint8Array;
  readonly graph: Graph;
  /** what report.json says of the export's checks; null: the directory has no report.json */
  readonly exportChecks: ExportChecks | null;
  /** features.json: the feature pipeline raw requests go through; null: none exported (raw requests refused) */
  readonly features: FeaturePipeline | null;
}

export interface ExportChecks {
  /** parity of ONNX Runtime (and tfjs) against ref-cpu: always true here (a failed one is refused) */
  readonly parity: true;
  /** the python ONNX checker: true passed, null not run (no python3-onnx); a failed one is refused */
  readonly checker: true | null;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The export's own verdict, from report.json: a directory whose parity check or ONNX checker
 * failed is refused. An export that failed parity still writes its files (so the failure can be
 * inspected), and serving it answered `{"scores": [null, ...]}` (issue 17, item 2).
 */
function exportChecksOf(dir: string): ExportChecks | null {
  const path = join(dir, REPORT_FILE);
  if (!existsSync(path)) return null;
  let report: unknown;
  try {
    report = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ModelDirError(`model dir ${dir}: cannot load ${REPORT_FILE}: not valid JSON (${(e as Error).message})`);
  }
  const refuse = (field: string, actual: string) =>
    new ModelDirError(
      `model dir ${dir}: ${REPORT_FILE} says the export failed: ${field}: expected true, got ${actual}; refusing to serve it (re-export, ` +
        `and check the exporter's log)`,
    );
  const parity = isRecord(report) && isRecord(report['parity']) ? report['parity'] : undefined;
  if (parity?.['ok'] !== true) {
    const failures = Array.isArray(parity?.['failures']) ? (parity['failures'] as unknown[]).map(String) : [];
    const shown = failures.length
      ? ` (${failures.slice(0, 2).join('; ')}${failures.length > 2 ? `; ${failures.length - 2} more` : ''})`
      : '';
    throw refuse('parity.ok', `${parity === undefined ? 'nothing (no parity record)' : JSON.stringify(parity['ok'])}${shown}`);
  }
  const onnx = isRecord(report) && isRecord(report['onnx']) ? report['onnx'] : undefined;
  const checker = isRecord(onnx?.['checker']) ? (onnx['checker'] as Record<string, unknown>) : undefined;
  const checkerOk = checker?.['ok'];
  if (checkerOk !== true && checkerOk !== null) {
    const message = typeof checker?.['message'] === 'string' ? ` (${checker['message']})` : '';
    throw refuse('onnx.checker.ok', `${checker === undefined ? 'nothing (no checker record)' : JSON.stringify(checkerOk)}${message}`);
  }
  return { parity: true, checker: checkerOk };
}

const isModelDir = (d: string): boolean => existsSync(join(d, GRAPH_FILE)) && versionsOf(d).length > 0;

/** Numeric version directories of `dir` that hold a model.onnx, highest first. */
function versionsOf(dir: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries
    .filter((e) => /^[0-9]+$/.test(e) && existsSync(join(dir, e, ONNX_FILE_NAME)))
    .map(Number)
    .sort((a, b) => b - a);
}

/** Read and check a model directory; throws ModelDirError (or spec's GraphFormatError wrapped in it). */
export function loadModelDir(path: string): ModelDir {
  const dir = resolve(path);
  const layout = `expected a model directory written by the exporter (nx run exporter:onnx): ${GRAPH_FILE} and 1/${ONNX_FILE_NAME}`;
  if (!existsSync(dir)) throw new ModelDirError(`model dir ${dir} does not exist; ${layout}`);
  if (!statSync(dir).isDirectory()) throw new ModelDirError(`model dir ${dir} is a file, not a directory; ${layout}`);
  const hasGraph = existsSync(join(dir, GRAPH_FILE));
  const versions = versionsOf(dir);
  if (!hasGraph && versions.length === 0) {
    const models = readdirSync(dir).filter((e) => {
      try {
        return statSync(join(dir, e)).isDirectory() && isModelDir(join(dir, e));
      } catch {
        return false;
      }
    });
    if (models.length > 0) {
      throw new ModelDirError(
        `model dir ${dir} is a model repository, not a model directory: pass one of its models, e.g. --model-dir ` +
          `${join(path, models[0]!)} (models there: ${models.sort().join(', ')})`,
      );
    }
    throw new ModelDirError(
      `model dir ${dir} is not a model directory (it holds ${readdirSync(dir).slice(0, 6).join(', ') || 'nothing'}); ${layout}`,
    );
  }
  if (!hasGraph) throw new ModelDirError(`model dir ${dir} has no ${GRAPH_FILE} (the serving graph's spec JSON); ${layout}`);
  if (versions.length === 0)
    throw new ModelDirError(`model dir ${dir} has no <version>/${ONNX_FILE_NAME} (expected 1/${ONNX_FILE_NAME}); ${layout}`);
  const graphPath = join(dir, GRAPH_FILE);
  let graph: Graph;
  try {
    graph = graphFromJSON(readFileSync(graphPath, 'utf8'), graphPath);
  } catch (e) {
    throw new ModelDirError(`model dir ${dir}: cannot load ${GRAPH_FILE}: ${(e as Error).message}`);
  }
  const exportChecks = exportChecksOf(dir);
  const version = versions[0]!;
  const onnxPath = join(dir, String(version), ONNX_FILE_NAME);
  return { dir, name: basename(dir), version, onnxPath, onnx: readFileSync(onnxPath), graph, exportChecks, features: featuresOf(dir) };
}

/** features.json (the exporter's features.ts), checked for its format and version; null when absent. */
function featuresOf(dir: string): FeaturePipeline | null {
  const path = join(dir, FEATURES_FILE);
  if (!existsSync(path)) return null;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ModelDirError(`model dir ${dir}: cannot load ${FEATURES_FILE}: not valid JSON (${(e as Error).message})`);
  }
  const r = isRecord(json) ? json : {};
  if (r['format'] !== FEATURES_FORMAT || r['version'] !== FEATURES_VERSION) {
    throw new ModelDirError(
      `model dir ${dir}: ${FEATURES_FILE}: expected format '${FEATURES_FORMAT}' version ${FEATURES_VERSION}, got ` +
        `${JSON.stringify(r['format'])} version ${JSON.stringify(r['version'])}; re-export the model`,
    );
  }
  return json as FeaturePipeline;
}
