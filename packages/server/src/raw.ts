/**
 * Raw requests (POST /score with `{"raw": {...}}`): the log's own ids, mapped through the model
 * directory's features.json by @lctr/data's RawRequestMapper (the one mapping the tests check
 * against the sample builder) into the pre-mapped request of the graph's layout, which then takes
 * every check of a pre-mapped request (spec's parseScoreRequest):
 *
 * {"raw": {"user": "1000", "history": [{"item_id": "2268318", "category_id": "2520377", "behavior_type": "pv", "timestamp": 1511544070},
 * ...],
 *            "candidates": [{"item_id": "3607361", "category_id": "4756105"}]}}
 *
 * History rows and candidates are keyed by the event file's column names (those the dataset
 * config names); the history may have any length and any order (sorted by timestamp, ties in the
 * order listed).
 */
import { type MappedRawRequest, type FeaturePipeline, RawRequestMapper, nestValues } from '@lctr/data';
import { type RequestSchema, RequestError, describeJson } from '@lctr/spec';

export interface RawScoring {
  /** the pre-mapped request body, and what the mapping met */
  map(body: Readonly<Record<string, unknown>>): { body: unknown; unknown: MappedRawRequest['unknown']; dropped: number };
}

export function rawScoring(pipeline: FeaturePipeline, schema: RequestSchema): RawScoring {
  const mapper = new RawRequestMapper(pipeline);
  const side = schema.layout === 'batch' ? 'sample' : 'user';
  const userSide = schema.features.filter((f) => f.side === side && f.name !== 'candidate' && f.name !== 'candidateCategory');
  return {
    map(body) {
      for (const k of Object.keys(body))
        if (k !== 'raw') throw new RequestError(k, 'no such field beside \'raw\' (a raw request is {"raw": {...}})', describeJson(body[k]));
      const m = mapper.map(body['raw']);
      const user: Record<string, unknown> = {};
      for (const f of userSide) {
        const values = m.user[f.name];
        if (!values) throw new Error(`features.json fills no '${f.name}', an input of the graph`);
        user[f.name] = nestValues(values, f.shape as number[], f.dtype === 'bool');
      }
      const cands = Array.from(m.candidate, (c, i) => ({ candidate: c, candidateCategory: m.candidateCategory[i]! }));
      const out =
        schema.layout === 'batch'
          ? { samples: cands.map((c) => pick({ ...user, ...c }, schema)) }
          : { user, candidates: cands.map((c) => pick(c, schema)) };
      return { body: out, unknown: m.unknown, dropped: m.dropped };
    },
  };
}

/** only the features the graph reads (a model without a category input gets none) */
function pick(o: Record<string, unknown>, schema: RequestSchema): Record<string, unknown> {
  const names = new Set(schema.features.map((f) => f.name));
  return Object.fromEntries(Object.entries(o).filter(([k]) => names.has(k)));
}
