"""Cross-entropy of logits against class ids (F8, F9, and F6's causal-LM loss)."""

import numpy as np

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

    reduction "mean" averages over the non-ignored rows (PyTorch: all rows ignored, or no rows,
    give nan, and a zero gradient), "sum" adds them, "none" returns l of shape (N,) with 0 at
    ignored rows, whatever their logits hold (a nan row that is ignored adds nothing).
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
    lse = xp.log(z[:, 0]) + m[:, 0]  # (N,) logsumexp(z_n)
    nll = xp.where(valid, lse - logits[xp.arange(logits.shape[0]), safe], 0)  # (N,) 0 if ignored
    n = valid.sum()
    if reduction == "mean":
        with np.errstate(invalid="ignore"):  # no valid row: 0 / 0 = nan, as torch, no warning
            loss = nll.sum() / n
    else:
        loss = nll.sum() if reduction == "sum" else nll
    return xp.asarray(loss, dtype=logits.dtype), (e / z, safe, valid, n, reduction)


def cross_entropy_backward(dloss, cache):
    """dl_n/dz_n = softmax(z_n) - onehot(y_n), from l_n = logsumexp(z_n) - z_{n, y_n}:

    (1) w_n  = dl_n (/ n_valid for "mean"), 0 for an ignored row  (the upstream weight of row n;
             0 when no row is valid, as torch: the loss is nan, the gradient is not)
    (2) dz_n = w_n * softmax(z_n)                                    (through logsumexp)
    (3) dz_{n, y_n} -= w_n                                           (through -z_{n, y_n})"""
    p, safe, valid, n, reduction = cache
    xp = array_module(p)
    w = dloss / xp.maximum(n, 1) if reduction == "mean" else dloss  # n = 0: every row ignored
    w = xp.where(valid, xp.asarray(w, dtype=p.dtype), 0)  # (1) (N,) where: an inf dl times 0
    dz = p * w[:, None]  # (2) (N, V)
    dz[xp.arange(p.shape[0]), safe] -= w  # (3)
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
