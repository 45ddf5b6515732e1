/**
 * Seeded random VALID request bodies for a served model, built from its GET /health answer alone
 * (inputs, shapes, id ranges), so a client, a test or the load benchmark can talk to any server:
 * ids drawn within their tables, masks a valid prefix of random length (at least one valid
 * position), floats in [-1, 1), other symbolic dims `symbolLength` long.
 */
import { Rng, hashSeed } from '@lctr/spec';
import type { HealthReport } from './server.ts';

export interface ExampleOptions {
  /** candidates (batch layout: samples) in the request */
  readonly candidates: number;
  readonly seed: number;
  /** length of symbolic dims other than the leading one (default 8) */
  readonly symbolLength?: number;
}

type Json = number | boolean | Json[];

export function exampleRequest(health: Pick<HealthReport, 'layout' | 'inputs'>, opts: ExampleOptions): Record<string, unknown> {
  const rng = new Rng(hashSeed(opts.seed, 'server', 'example'));
  const symbolLength = opts.symbolLength ?? 8;
  const valueFor = (input: HealthReport['inputs'][number]): Json => {
    const dims = input.valueShape.map((d) => (typeof d === 'number' ? d : symbolLength));
    const rowsOf = (col: number | undefined) => {
      let rows = Infinity;
      for (const r of input.ids) if (r.column === undefined || r.column === col) rows = Math.min(rows, r.rows);
      return rows === Infinity ? 2 : rows;
    };
    const build = (depth: number, col: number | undefined): Json => {
      if (depth === dims.length) {
        if (input.dtype === 'float32') return Math.fround(rng.uniform(-1, 1));
        return rng.int(rowsOf(col));
      }
      const n = dims[depth]!;
      if (input.dtype === 'bool' && depth === dims.length - 1) {
        const valid = 1 + rng.int(n);
        return Array.from({ length: n }, (_, i) => i < valid);
      }
      return Array.from({ length: n }, (_, i) => build(depth + 1, depth === dims.length - 1 ? i : col));
    };
    if (input.dtype === 'bool' && dims.length === 0) return rng.next() < 0.5;
    return build(0, undefined);
  };
  const objectOf = (side: string) =>
    Object.fromEntries(health.inputs.filter((i) => i.side === side && !i.filled).map((i) => [i.name, valueFor(i)]));
  if (health.layout === 'request' || health.layout === 'candidateSet') {
    const user = objectOf('user');
    const candidates = Array.from({ length: opts.candidates }, () => objectOf('candidate'));
    return { user, candidates };
  }
  return { samples: Array.from({ length: opts.candidates }, () => objectOf('sample')) };
}
