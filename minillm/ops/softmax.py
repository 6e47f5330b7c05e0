"""softmax, log_softmax and logsumexp, computed max-subtracted (F17, F3)."""

import numpy as np

from ..tensor import Tensor
from ..tensor.args import alias, check_dims, dim_and_keepdim
from ..tensor.backend import array_module
from . import dispatch as _dispatch


def row_max(x, axis=-1):
    """max x along axis (kept), the shift of F17; 0 for an empty x (no element to take it from).
    A row of -inf or one with a +inf entry then gives nan in softmax and log_softmax, as torch."""
    if x.size == 0:
        return x.sum(axis=axis, keepdims=True)  # (..., 1) zeros; x.max would raise
    return x.max(axis=axis, keepdims=True)  # (..., 1)


def softmax_forward(x, axis=-1):
    """s_i = exp(x_i - max x) / sum_j exp(x_j - max x)   (F17, max-subtracted)"""
    xp = array_module(x)
    e = xp.exp(x - row_max(x, axis))  # (..., N) shift for stability
    s = e / e.sum(axis=axis, keepdims=True)  # (..., N)
    return s, s


def softmax_backward(dout, s, axis=-1):
    """dx_i = sum_j (ds_j/dx_i) dout_j with ds_j/dx_i = s_j ([i = j] - s_i):

    (1) dout_i s_i              (the diagonal)
    (2) - s_i sum_j dout_j s_j  (every output's share of the normaliser)
    dx = s * (dout - sum(dout * s))"""
    # BEGIN EXERCISE F17: return dx = s * (dout - sum_j dout_j s_j), the sum over `axis` with
    # keepdims=True
    return s * (dout - (dout * s).sum(axis=axis, keepdims=True))  # (1) + (2), (..., N)
    # END EXERCISE


def log_softmax_forward(x, axis=-1):
    """y_i = x_i - logsumexp(x) = (x_i - m) - log sum_j exp(x_j - m), m = max x
    (F3: log softmax(W_o h_t + b_o)); x - m first, so that m = 1e30 does not absorb log sum"""
    xp = array_module(x)
    z = x - row_max(x, axis)  # (..., N)
    with np.errstate(divide="ignore"):  # an empty axis: log 0, of no consequence
        y = z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))  # (..., N)
    return y, y


def log_softmax_backward(dout, y, axis=-1):
    """dx = dout - softmax(x) * sum(dout), with softmax(x) = exp(y)"""
    return dout - array_module(y).exp(y) * dout.sum(axis=axis, keepdims=True)


def logsumexp_forward(x, axis=-1, keepdims=False):
    """lse = m + log sum_j exp(x_j - m), m = max x (finite for logits of +-1e4).

    m = 0 where the max is infinite (torch's rule): a row of -inf gives -inf, a +inf entry
    +inf, and no elements -inf (log 0), not inf - inf = nan."""
    xp = array_module(x)
    m = row_max(x, axis)  # (..., 1)
    m = xp.where(xp.isinf(m), 0, m)  # (..., 1) an infinite max shifts by 0
    with np.errstate(divide="ignore"):  # log 0 = -inf for a row of -inf, as torch, no warning
        lse = m + xp.log(xp.exp(x - m).sum(axis=axis, keepdims=True))  # (..., 1)
    out = lse if keepdims else lse.squeeze(axis)
    return out, (x, lse)


def logsumexp_backward(dout, cache, axis=-1, keepdims=False):
    """dx = dout * softmax(x) = dout * exp(x - lse)"""
    x, lse = cache
    d = dout if keepdims else array_module(x).expand_dims(dout, axis)
    return d * array_module(x).exp(x - lse)


def _dim(method, x, dim, axis):
    """PyTorch's dim or NumPy's axis (one of them; default -1), checked against x's shape."""
    axis = alias(method, "dim", dim, "axis", axis, -1)
    check_dims(method, axis, x.shape)
    return axis


def softmax(x: Tensor, dim=None, *, axis=None) -> Tensor:
    axis = _dim("softmax", x, dim, axis)
    fwd, bwd = _dispatch.softmax_pair((softmax_forward, softmax_backward), x.data, axis)
    s, cache = fwd(x.data, axis)
    return Tensor.from_op(s, (x,), lambda d: (bwd(d, cache, axis),), "softmax")


def log_softmax(x: Tensor, dim=None, *, axis=None) -> Tensor:
    axis = _dim("log_softmax", x, dim, axis)
    y, cache = log_softmax_forward(x.data, axis)
    return Tensor.from_op(y, (x,), lambda d: (log_softmax_backward(d, cache, axis),), "log_softmax")


def logsumexp(x: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
    axis, keepdims = dim_and_keepdim("logsumexp", dim, axis, keepdim, keepdims, -1)
    check_dims("logsumexp", axis, x.shape)
    out, cache = logsumexp_forward(x.data, axis, keepdims)
    back = lambda d: (logsumexp_backward(d, cache, axis, keepdims),)  # noqa: E731
    return Tensor.from_op(out, (x,), back, "logsumexp")
