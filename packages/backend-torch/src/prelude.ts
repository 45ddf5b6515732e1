/**
 * The helpers every generated module carries (Python source, pasted after the imports): each one
 * is an op whose torch spelling differs from the spec in its forward value or its gradient, and
 * says how. Kept in one block so a generated module is a single self-contained file.
 */
import { FLOAT32_LOWEST } from '@lctr/spec';
import { pyFloat } from './lower/context.ts';

export const PRELUDE = String.raw`
FLOAT32_LOWEST = ${pyFloat(FLOAT32_LOWEST)}  # top-k ranks a valid -inf or NaN here, above padding (-inf)


def _softplus(x):
    # log(e^x + e^0) = max(x, 0) + log1p(e^-|x|) in torch, with gradient sigmoid(x) (also at 0).
    # F.softplus switches to x above 20 (off by 2e-9 there), the spec's form does not.
    return torch.logaddexp(x, torch.zeros_like(x))


class _Pow(torch.autograd.Function):
    # The spec's gradient for the exponent is y * log(a) where a > 0 and 0 elsewhere; torch's is
    # NaN for a < 0, and a NaN times a zero cotangent would still leak through a where().
    @staticmethod
    def forward(ctx, a, b):
        y = torch.pow(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, dy):
        a, b, y = ctx.saved_tensors
        positive = a > 0
        da = dy * b * torch.pow(a, b - 1)
        db = dy * torch.where(positive, y * torch.log(torch.where(positive, a, torch.ones_like(a))), torch.zeros_like(y))
        return da.sum_to_size(a.shape), db.sum_to_size(b.shape)


def _pow(a, b):
    return _Pow.apply(a, b)


def _maximum(a, b):
    # max(a, b) with a NaN propagated; on ties the gradient goes to a (torch.maximum splits it).
    return torch.where((a >= b) | torch.isnan(a), a, b)


def _minimum(a, b):
    return torch.where((a <= b) | torch.isnan(a), a, b)


class _ReduceMax(torch.autograd.Function):
    # Every position equal to the max receives the full gradient (torch.amax splits it among
    # ties); the max over an empty axis is -inf (torch.amax raises).
    @staticmethod
    def forward(ctx, x, axes, keep):
        if any(x.shape[a] == 0 for a in axes):
            y = torch.full([1 if i in axes else n for i, n in enumerate(x.shape)], -math.inf, dtype=x.dtype)
        else:
            y = torch.amax(x, dim=axes, keepdim=True)
        ctx.save_for_backward(x, y)
        ctx.axes = axes
        return y if keep else y.reshape([n for i, n in enumerate(y.shape) if i not in axes])

    @staticmethod
    def backward(ctx, dy):
        x, y = ctx.saved_tensors
        dy = dy.reshape(y.shape).expand_as(x)
        return torch.where(x == y, dy, torch.zeros_like(dy)), None, None


def _reduce_max(x, axes, keep):
    return _ReduceMax.apply(x, axes, keep)


def _lookup(table, ids, axis, node):
    # Rows of table by ids along axis. An id outside [0, rows) is an error naming the node:
    # torch would read -1 from the end. Padded ids were set to 0 at the top of forward.
    rows = table.shape[axis]
    if ids.numel() > 0 and (int(ids.min()) < 0 or int(ids.max()) >= rows):
        bad = ids[(ids < 0) | (ids >= rows)].flatten()[0]
        raise IndexError(f"node '{node}': index {int(bad)} is out of range for {rows} entries along axis {axis} (valid 0..{rows - 1})")
    return table[(slice(None),) * axis + (ids.long(),)]


def _gather_along(x, ids, axis):
    # out[.., j, ..] = x[.., ids[.., j], ..]: ids is x.shape[:axis] + [k], broadcast over the dims after axis.
    ids = ids.long().reshape(tuple(ids.shape) + (1,) * (x.dim() - axis - 1))
    return torch.gather(x, axis, ids.expand(tuple(ids.shape[:axis + 1]) + tuple(x.shape[axis + 1:])))


def _scatter_along(u, ids, axis, size):
    # The adjoint of _gather_along: u added into zeros of size entries along axis; repeats sum.
    ids = ids.long().reshape(tuple(ids.shape) + (1,) * (u.dim() - axis - 1)).expand(u.shape)
    out = torch.zeros(tuple(u.shape[:axis]) + (size,) + tuple(u.shape[axis + 1:]), dtype=u.dtype)
    return out.scatter_add(axis, ids, u)


def _topk(x, mask, k):
    # The spec's order: valid positions first, then the key descending, then the lower index.
    # The key is x clamped to >= FLOAT32_LOWEST (a valid NaN counts as FLOAT32_LOWEST), -inf at
    # padding; a stable descending sort keeps equal keys in index order (torch.topk does not
    # promise a tie order). No gradient: callers gather what they need by the indices.
    x = x.detach()
    lowest = torch.tensor(FLOAT32_LOWEST, dtype=x.dtype)
    key = torch.where(torch.isnan(x), lowest, torch.maximum(x, lowest))
    if mask is not None:
        key = torch.where(mask, key, torch.tensor(-math.inf, dtype=x.dtype))
    order = torch.sort(key, dim=-1, descending=True, stable=True).indices[..., :k]
    return torch.gather(key, -1, order), order.to(torch.int32)


def _float_to_int(x, dtype):
    # Truncate toward zero; NaN and +-inf become 0 (as in ref-cpu; runtimes disagree there).
    return torch.where(torch.isfinite(x), x, torch.zeros_like(x)).to(dtype)


def _ids_padding_to_zero(ids, mask):
    # SPEC: ids at padded positions may hold anything (-1, a stale id) and read row 0.
    # mask holds the leading dims of ids' shape.
    valid = mask.reshape(tuple(mask.shape) + (1,) * (ids.dim() - mask.dim()))
    return torch.where(valid, ids, torch.zeros_like(ids))
`;
