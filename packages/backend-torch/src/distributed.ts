/**
 * Data-parallel form of a generated module (torchSource with `distributed: true`).
 *
 * Under DDP every rank runs the module on its rows of the global batch and DDP averages the
 * parameter gradients over the ranks. That equals the whole batch's gradient only when the loss
 * is a plain mean over samples of equal-size shards; LCN's loss is not (CRP's terms are means over
 * the valid positives of the batch, a count that differs between shards, and shards of a batch
 * that does not divide evenly differ in size). So every reduction over the batch axis
 * (reduceSum, reduceMean) is made global: the rank's partial sum is summed over the ranks by an
 * all-reduce whose gradient is again an all-reduce (sum). Every rank then computes the whole
 * batch's loss value; rank r's parameter gradient is W x (its samples' part of the whole batch's
 * gradient) + the part every rank computes alike (CRP's negatives, which every rank holds whole),
 * and DDP's average over the W ranks is exactly the whole batch's gradient (float summation order
 * aside). A graph that mixes samples any other way (a softmax or top-k across the batch, a lookup
 * indexed by batch rows) cannot be split this way and is refused, naming the node.
 */
import { type Dim, type Graph, type NodeDecl, canonicalDim, valueInfo } from '@lctr/spec';

/** The symbolic dim the data layer splits over ranks (as backend-tfjs's DataParallel). */
export const BATCH_DIM = 'batch';

const holdsBatch = (d: Dim): boolean => String(canonicalDim(d)).split('*').includes(BATCH_DIM);

/** How a node of the graph treats the batch axis under data parallelism. */
export type BatchUse = 'rowwise' | 'batch-reduce';

/** The axes of its first input a node combines values along (undefined: elementwise or shape-only). */
function mixedAxes(graph: Graph, node: NodeDecl): { axes: number[]; input: number }[] {
  const info = (k: number) => valueInfo(graph, node.inputs[k]!);
  const rank = (k: number) => info(k).shape.length;
  const norm = (a: number, k = 0) => (a < 0 ? a + rank(k) : a);
  const attrs = node.attrs as Record<string, unknown>;
  switch (node.op) {
    case 'reduceMax':
      return [{ input: 0, axes: (attrs['axes'] as number[]).map((a) => norm(a)) }];
    case 'softmax':
    case 'logSoftmax':
    case 'l2Normalize':
    case 'gatherAlongAxis':
    case 'scatterAlongAxis':
      return [{ input: 0, axes: [norm(attrs['axis'] as number)] }];
    case 'gather':
      return [{ input: 0, axes: [norm(attrs['axis'] as number)] }];
    case 'topk':
    case 'layerNorm':
      return [{ input: 0, axes: [rank(0) - 1] }];
    case 'matmul':
      return [
        { input: 0, axes: [rank(0) - 1] },
        { input: 1, axes: [rank(1) - 2] },
      ];
    default:
      return [];
  }
}

/**
 * The nodes whose reduction runs over the batch axis (they become global reductions), after
 * checking that no other node combines values across samples. Throws naming the first such node.
 */
export function batchReductions(graph: Graph): Set<string> {
  const out = new Set<string>();
  for (const node of graph.nodes) {
    if (node.op === 'reduceSum' || node.op === 'reduceMean') {
      const shape = valueInfo(graph, node.inputs[0]!).shape;
      const axes = (node.attrs as unknown as { axes: number[] }).axes.map((a) => (a < 0 ? a + shape.length : a));
      if (axes.some((a) => holdsBatch(shape[a]!))) out.add(node.id);
      continue;
    }
    for (const { input, axes } of mixedAxes(graph, node)) {
      const shape = valueInfo(graph, node.inputs[input]!).shape;
      const bad = axes.find((a) => shape[a] !== undefined && holdsBatch(shape[a]!));
      if (bad !== undefined) {
        throw new Error(
          `graph '${graph.name}' cannot be trained data-parallel: node '${node.id}' (${node.op}) combines values along axis ${bad} of ` +
            `input ${input}, which holds the '${BATCH_DIM}' dim (${String(shape[bad])}); only reduceSum and reduceMean may run across ` +
            `samples (they become all-reduces)`,
        );
      }
    }
  }
  return out;
}

/** The helpers a distributed module carries: the global (all-reduced) batch sum and mean. */
export const DISTRIBUTED_PRELUDE = String.raw`
import torch.distributed as dist

# The process group of every rank; set by the training script when WORLD_SIZE > 1 (it uses a
# group of its own, so these all-reduces never interleave with DDP's gradient buckets). None: one
# process, the reductions are plain torch.sum / torch.mean.
BATCH_GROUP = None


class _AllReduceSum(torch.autograd.Function):
    # Sum over the ranks; the gradient is summed over the ranks too. Every rank holds the same
    # value downstream, so rank r's gradient is W x its samples' share, and DDP's average over the
    # W ranks gives the whole batch's gradient (see @lctr/backend-torch src/distributed.ts).
    @staticmethod
    def forward(ctx, x):
        y = x.detach().clone().contiguous()
        dist.all_reduce(y, group=BATCH_GROUP)
        return y

    @staticmethod
    def backward(ctx, dy):
        g = dy.detach().clone().contiguous()
        dist.all_reduce(g, group=BATCH_GROUP)
        return g


def _batch_sum(x, axes, keep):
    s = torch.sum(x, dim=axes, keepdim=keep)
    return s if BATCH_GROUP is None else _AllReduceSum.apply(s)


def _batch_mean(x, axes, keep):
    if BATCH_GROUP is None:
        return torch.mean(x, dim=axes, keepdim=keep)
    n = torch.tensor(float(math.prod(x.shape[a] for a in axes)), dtype=torch.float64)
    dist.all_reduce(n, group=BATCH_GROUP)
    return _AllReduceSum.apply(torch.sum(x, dim=axes, keepdim=keep)) / n.to(x.dtype)
`;
