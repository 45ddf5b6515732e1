/**
 * POST /explain (issue 21, item 5): what each level of LCN's attention pyramid picked for each
 * candidate of a request. The exporter writes the explain variant of the serving graph beside the
 * scoring model (`explain/graph.json`, `explain/1/model.onnx`: spec's buildLifelongExplain, same
 * inputs, outputs `prob` plus `<level>Positions|Weights|Valid` [cand, K]); the server opens a
 * second ONNX Runtime session on it, so the scoring file stays as fast as it was.
 *
 * The answer per candidate: its score and, per level (csa, msa, fsa), the valid picks in rank order
 * (SPEC's top-k order) with their sequence position, the lifelong id at that position (from the
 * request's own `lifelongSeq`) and the level's weight. Padding picks (fewer valid positions than K)
 * are left out: they are not items.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Graph, type HostData, type HostTensor, type LIFELONG_EXPLAIN_LEVELS, RequestError, graphFromJSON } from '@lctr/spec';
import { OnnxSession, type Provider, type ProviderRequest } from '@lctr/backend-onnx';
import { type ModelDir, ModelDirError } from './model-dir.ts';

/** Where the exporter puts the explain files (the exporter's EXPLAIN_GRAPH_FILE / EXPLAIN_ONNX_FILE; the server does not depend on it). */
export const EXPLAIN_GRAPH_FILE = 'explain/graph.json';
export const EXPLAIN_ONNX_FILE = 'explain/1/model.onnx';
/** The lifelong id input the picked positions index. */
const SEQUENCE_INPUT = 'lifelongSeq';

export type ExplainLevel = (typeof LIFELONG_EXPLAIN_LEVELS)[number];

export interface ExplainPick {
  /** position in the request's lifelong sequence (0-based) */
  readonly position: number;
  /** the lifelong id at that position (the request's `user.lifelongSeq[position]`) */
  readonly id: number;
  /** the level's weight: CSA's softmax over the sequence, MSA's over the K1 picks, FSA's head-mean attention */
  readonly weight: number;
}

export interface ExplainCandidate {
  readonly score: number;
  readonly picks: Readonly<Partial<Record<ExplainLevel, readonly ExplainPick[]>>>;
}

export interface ExplainResponse {
  readonly model: string;
  readonly provider: Provider;
  /** each level present and its K (at most K picks per candidate) */
  readonly levels: Readonly<Partial<Record<ExplainLevel, number>>>;
  /** the request's lifelong sequence length (the time axis of the page) */
  readonly sequenceLength: number;
  readonly candidates: readonly ExplainCandidate[];
}

/** The refusal of /explain on a model without a pyramid: 404 that says which models have one. */
export function noExplainError(model: ModelDir): RequestError {
  const kind =
    model.graph.meta['model'] === 'lifelong'
      ? `lifelong module '${String((model.graph.meta['config'] as { module?: unknown } | undefined)?.module ?? '?')}'`
      : `graph '${model.graph.name}'`;
  return new RequestError(
    'model',
    `a model exported with an explain variant (${EXPLAIN_GRAPH_FILE}: only LCN, lifelong module 'lap' with K1 or K2 on, has an attention ` +
      `pyramid to explain)`,
    `model '${model.name}' (${kind}) without one`,
    404,
  );
}

const numbers = (d: HostData): number[] => Array.from(d as ArrayLike<number | bigint>, Number);

/** The second session of a model directory that has `explain/`: opened beside the scoring session. */
export class Explainer {
  private constructor(
    readonly graph: Graph,
    readonly session: OnnxSession,
    readonly levels: Readonly<Partial<Record<ExplainLevel, number>>>,
  ) {}

  /** Open the explain session of `model`; undefined when the directory has no explain/ folder. */
  static async open(
    model: ModelDir,
    opts: { readonly provider: ProviderRequest; readonly intraOpNumThreads?: number },
  ): Promise<Explainer | undefined> {
    const graphPath = join(model.dir, EXPLAIN_GRAPH_FILE),
      onnxPath = join(model.dir, EXPLAIN_ONNX_FILE);
    if (!existsSync(graphPath) && !existsSync(onnxPath)) return undefined;
    for (const p of [graphPath, onnxPath])
      if (!existsSync(p))
        throw new ModelDirError(
          `model dir ${model.dir}: has ${existsSync(graphPath) ? EXPLAIN_GRAPH_FILE : EXPLAIN_ONNX_FILE} but no ` +
            `${p === graphPath ? EXPLAIN_GRAPH_FILE : EXPLAIN_ONNX_FILE}; re-export the model`,
        );
    let graph: Graph;
    try {
      graph = graphFromJSON(readFileSync(graphPath, 'utf8'), graphPath);
    } catch (e) {
      throw new ModelDirError(`model dir ${model.dir}: cannot load ${EXPLAIN_GRAPH_FILE}: ${(e as Error).message}`);
    }
    // the explain graph takes the scoring graph's inputs: the request is parsed once, against the scoring schema
    const want = model.graph.inputs.map((i) => i.name).join(', '),
      got = graph.inputs.map((i) => i.name).join(', ');
    if (want !== got)
      throw new ModelDirError(
        `model dir ${model.dir}: ${EXPLAIN_GRAPH_FILE}: expected the inputs of graph.json (${want}), got ${got}; re-export the model`,
      );
    const levels = (graph.meta['explain'] ?? {}) as Partial<Record<ExplainLevel, number>>;
    const session = await OnnxSession.create(readFileSync(onnxPath), graph, {
      provider: opts.provider,
      ...(opts.intraOpNumThreads === undefined ? {} : { intraOpNumThreads: opts.intraOpNumThreads }),
    });
    return new Explainer(graph, session, levels);
  }

  /** The answer for one run's outputs on `feeds` (the parsed request). */
  answer(feeds: Readonly<Record<string, HostTensor>>, out: Readonly<Record<string, HostTensor>>, model: string): ExplainResponse {
    const ids = numbers(feeds[SEQUENCE_INPUT]!.data);
    const scores = numbers(out['prob']!.data);
    const levels = Object.entries(this.levels) as Array<[ExplainLevel, number]>;
    const columns = Object.fromEntries(
      levels.map(([l]) => [
        l,
        {
          positions: numbers(out[`${l}Positions`]!.data),
          weights: numbers(out[`${l}Weights`]!.data),
          valid: numbers(out[`${l}Valid`]!.data),
        },
      ]),
    );
    return {
      model,
      provider: this.session.provider,
      levels: this.levels,
      sequenceLength: ids.length,
      candidates: scores.map((score, c) => ({
        score,
        picks: Object.fromEntries(
          levels.map(([l, k]) => {
            const col = columns[l]!;
            const picks: ExplainPick[] = [];
            for (let j = c * k; j < (c + 1) * k; j++) {
              if (!col.valid[j]) continue;
              const position = col.positions[j]!;
              picks.push({ position, id: ids[position]!, weight: col.weights[j]! });
            }
            return [l, picks];
          }),
        ),
      })),
    };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

let page: string | undefined;
/** GET /explain.html: the static page of src/ui/ (read once; it fetches /explain and /explain/example itself). */
export function explainPageHtml(): string {
  page ??= readFileSync(new URL('./ui/explain.html', import.meta.url), 'utf8');
  return page;
}
