/**
 * The lowering table: every op of the vocabulary with its versions keyed by the first opset they
 * are written for. Only opset 17 exists (pinned); a lowering for opset 18 (e.g. ReduceMean with
 * axes as an input) is added as a new key next to 17 and picked for targets >= 18.
 */
import type { OpName } from '@lctr/spec';
import type { Lowering, LoweringTable, ResolvedLowerings, VersionedLowering } from './context.ts';
import { opset17 } from './opset17.ts';

/** Target opsets this package writes and has checked (onnx 1.12 checker, onnxruntime-node 1.30). */
export const SUPPORTED_OPSETS: readonly number[] = [17];

function versions<N extends OpName>(v17: Lowering<N>): VersionedLowering<N> {
  return { 17: v17 };
}

function buildTable(): LoweringTable {
  const table = {} as Record<OpName, VersionedLowering<OpName>>;
  for (const op of Object.keys(opset17) as OpName[]) table[op] = versions(opset17[op] as Lowering<OpName>);
  return table as LoweringTable;
}

export const LOWERINGS: LoweringTable = buildTable();

/** The version of one op's lowering for a target opset: the highest `since` not above it. */
export function pickVersion<N extends OpName>(op: N, versionsOfOp: VersionedLowering<N>, opset: number): Lowering<N> {
  const since = Object.keys(versionsOfOp)
    .map(Number)
    .filter((v) => v <= opset)
    .sort((a, b) => b - a)[0];
  if (since === undefined) {
    throw new Error(
      `op '${op}' has no ONNX lowering for opset ${opset} (lowerings exist from opset ${Object.keys(versionsOfOp).join(', ')})`,
    );
  }
  return versionsOfOp[since]!;
}

/** All lowerings for a target opset; throws for an opset this package does not write. */
export function loweringsFor(opset: number, table: LoweringTable = LOWERINGS): ResolvedLowerings {
  if (!SUPPORTED_OPSETS.includes(opset)) {
    throw new Error(`ONNX opset ${opset} is not supported: this exporter writes opset ${SUPPORTED_OPSETS.join(', ')} (IR version 8)`);
  }
  const out = {} as Record<OpName, Lowering<OpName>>;
  for (const op of Object.keys(table) as OpName[]) out[op] = pickVersion(op, table[op] as VersionedLowering<OpName>, opset);
  return out as ResolvedLowerings;
}
