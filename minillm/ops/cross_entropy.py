"""Cross-entropy of logits against class ids (F8, F9, and F6's causal-LM loss)."""

from ..tensor import Tensor
from ..tensor.backend import array_module
from . import dispatch as _dispatch


def check_ids(ids, n, what):
    """Raise IndexError naming the first id outside [0, n)."""
    bad = (ids < 0) | (ids >= n)
    if bad.any():
        i = int(bad.reshape(-1).argmax())
        raise IndexError(
            f"{what}: id {int(ids.reshape(-1)[i])} at flat position {i} is out of range [0, {n})"
        )


def cross_entropy_forward(logits, targets, ignore_index=-100, reduction="mean"):
    """l_n = -log p(y_n | x_n) = logsumexp(z_n) - z_{n, y_n}   (F8: -sum_c y_c log p(c|x))

    reduction "mean" averages over the non-ignored rows (PyTorch: all rows ignored gives nan),
    "sum" adds them, "none" returns l of shape (N,) with 0 at ignored rows.
    Shapes: logits (N, V), targets (N,) of ints."""
    xp = array_module(logits)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        )
    if logits.ndim != 2 or targets.shape != logits.shape[:1]:
        raise ValueError(
            f"cross_entropy: expected logits (N, V) and targets (N,), got {logits.shape} and "
            f"{targets.shape}; reshape (B, T, V) logits to (B*T, V) first"
        )
    valid = targets != ignore_index  # (N,)
    safe = xp.where(valid, targets, 0)  # (N,) ignored rows point at class 0, then get masked
    check_ids(safe, logits.shape[1], "cross_entropy target")  # positions as in targets
    m = logits.max(axis=1, keepdims=True)  # (N, 1)
    e = xp.exp(logits - m)  # (N, V)
    z = e.sum(axis=1, keepdims=True)  # (N, 1)
    rows = xp.arange(logits.shape[0])
    nll = (xp.log(z[:, 0]) + m[:, 0] - logits[rows, safe]) * valid  # (N,)
    n = valid.sum()
    if reduction == "mean":
        loss = nll.sum() / n
    else:
        loss = nll.sum() if reduction == "sum" else nll
    return xp.asarray(loss, dtype=logits.dtype), (e / z, safe, valid, n, reduction)


def cross_entropy_backward(dloss, cache):
    """dz_n = (softmax(z_n) - onehot(y_n)) * dl_n, zero for ignored rows (divided by the count
    of non-ignored rows for "mean")."""
    p, safe, valid, n, reduction = cache
    xp = array_module(p)
    scale = dloss / n if reduction == "mean" else dloss
    scale = xp.asarray(scale, dtype=p.dtype) * valid  # (N,) or scalar * (N,)
    dz = p * scale[:, None]  # (N, V)
    dz[xp.arange(p.shape[0]), safe] -= scale
    return dz


def cross_entropy(logits: Tensor, targets, ignore_index=-100, reduction="mean") -> Tensor:
    t = targets.data if isinstance(targets, Tensor) else array_module(logits.data).asarray(targets)
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class ids, got dtype {t.dtype}")
    reference = (cross_entropy_forward, cross_entropy_backward)
    fwd, bwd = _dispatch.cross_entropy_pair(reference, logits.data, t, reduction)
    loss, cache = fwd(logits.data, t, ignore_index, reduction)
    back = lambda d: (bwd(d, cache),)  # noqa: E731
    return Tensor.from_op(loss, (logits,), back, "cross_entropy")
