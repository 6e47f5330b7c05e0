"""Tensor methods that reduce along dims, with PyTorch's names and arguments and NumPy's aliases:
sum, mean, max/min, amax/amin, argmax/argmin, var, std, softmax, log_softmax, logsumexp.

Each takes `dim`/`keepdim` (PyTorch) or `axis`/`keepdims` (NumPy), one spelling per argument.
The one place where the spelling changes the answer is max/min along an axis:

    x.max()                      a 0-d tensor, the largest element (ties share the gradient)
    x.max(dim), x.max(dim=d)     PyTorch's (values, indices) named tuple; the gradient goes to the
                                 one index returned, the first maximum, as in torch.max(dim)
    x.max(axis=a)                NumPy's values alone (= x.amax(a)); ties share the gradient

var and std follow PyTorch: the unbiased estimate (correction=1) by default, whichever spelling
names the axis. No new primitive: max/min along a dim are gathers (getitem); var, std and the
softmax family are built from add, mul, pow, exp, log, sum and max.
"""

from typing import NamedTuple

import numpy as np

from . import primitives_shape as S
from .args import alias, check_dim, check_dims, dim_and_keepdim
from .backend import array_module


class ValuesIndices(NamedTuple):
    """What x.max(dim) and x.min(dim) return, as torch.return_types.max: the extreme values and
    their indices along dim (int64, no gradient)."""

    values: object  # Tensor
    indices: object  # Tensor


def _count(shape, dims):
    """How many elements each output of a reduction over `dims` (None: all) combines."""
    axes = range(len(shape)) if dims is None else (dims if isinstance(dims, tuple) else (dims,))
    return int(np.prod([shape[a] for a in axes]))


def _dropped(shape, dims):
    """shape without the axes in dims (what keepdim=False leaves)."""
    axes = range(len(shape)) if dims is None else (dims if isinstance(dims, tuple) else (dims,))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _check_not_empty(method, shape, dims):
    """ValueError when max/min/argmax would reduce over no elements (torch raises too): NumPy's
    "zero-size array to reduction operation maximum" names neither the op nor the shape."""
    axes = range(len(shape)) if dims is None else (dims if isinstance(dims, tuple) else (dims,))
    empty = [a for a in axes if shape[a] == 0]
    if empty:
        where = "over all dims" if dims is None else f"over dim {empty[0]} of size 0"
        raise ValueError(
            f"{method}: cannot reduce shape {tuple(shape)} {where}: there is no element to "
            "pick (torch raises too); pass a dim of non-zero size"
        )


def _correction(method, correction, unbiased, ddof):
    """The divisor's correction N - c: torch's correction=, its older unbiased=, NumPy's ddof=."""
    args = {"correction": correction, "unbiased": unbiased, "ddof": ddof}
    given = {k: v for k, v in args.items() if v is not None}
    if len(given) > 1:
        raise TypeError(f"{method}() got {' and '.join(given)}: pass one (all set the correction)")
    if unbiased is not None:
        return 1 if unbiased else 0
    c = 1 if not given else next(iter(given.values()))
    if isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating)):
        raise TypeError(f"{method}() {next(iter(given))}={c!r}: expected a number (1: unbiased)")
    return c


class ReductionMethods:
    """Mixed into Tensor; uses only Tensor's operators, _unary, _lift and __getitem__."""

    __slots__ = ()

    def sum(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """y = sum_i x_i over dim (an int, a tuple, or None for every axis)."""
        dim, keepdim = dim_and_keepdim("sum", dim, axis, keepdim, keepdims)
        dim = check_dims("sum", dim, self.shape)
        return self._unary(S.sum_forward, S.sum_backward, "sum", dim, keepdim)

    def mean(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """y = (1/N) sum_i x_i over dim."""
        dim, keepdim = dim_and_keepdim("mean", dim, axis, keepdim, keepdims)
        dim = check_dims("mean", dim, self.shape)
        n = _count(self.shape, dim)
        return self.sum(dim, keepdim) * (1.0 / n if n else float("nan"))

    def amax(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """y = max_i x_i over dim (int, tuple or None), values only; ties share the gradient
        equally, as in torch.amax."""
        dim, keepdim = dim_and_keepdim("amax", dim, axis, keepdim, keepdims)
        dim = check_dims("amax", dim, self.shape)
        _check_not_empty("amax", self.shape, dim)
        return self._unary(S.max_forward, S.max_backward, "max", dim, keepdim)

    def amin(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """y = min_i x_i = -max_i (-x_i) over dim, values only (torch.amin)."""
        dim, keepdim = dim_and_keepdim("amin", dim, axis, keepdim, keepdims)
        dim = check_dims("amin", dim, self.shape)
        _check_not_empty("amin", self.shape, dim)
        return -(-self).amax(dim, keepdim)

    def max(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """The largest element: x.max() of all; x.max(dim) -> (values, indices) as torch.max;
        x.max(axis=a) -> values as np.max. See the module docstring."""
        return self._extreme("max", dim, keepdim, axis, keepdims)

    def min(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """The smallest element; the same three forms as max."""
        return self._extreme("min", dim, keepdim, axis, keepdims)

    def _extreme(self, op, dim, keepdim, axis, keepdims):
        values_only = self.amax if op == "max" else self.amin
        if dim is None:  # everything, or NumPy's axis= spelling: values alone
            keepdim = alias(op, "keepdim", keepdim, "keepdims", keepdims, False)
            _check_not_empty(op, self.shape, check_dims(op, axis, self.shape))
            return values_only(axis=axis, keepdims=keepdim)
        if axis is not None:
            alias(op, "dim", dim, "axis", axis)  # raises: both spellings given
        keepdim = bool(alias(op, "keepdim", keepdim, "keepdims", keepdims, False))
        if isinstance(dim, (tuple, list)):
            raise TypeError(f"{op}: dim must be one int for (values, indices); use a{op}(dim)")
        d = check_dim(op, dim, self.shape)
        _check_not_empty(op, self.shape, d)
        xp = array_module(self.data)
        pick = xp.argmax if op == "max" else xp.argmin
        idx = pick(self.data, axis=d, keepdims=True)  # (..., 1, ...) the first extreme along d
        index = tuple(  # take_along_axis as an integer index: idx at d, every position elsewhere
            idx if i == d else xp.arange(n).reshape([n if j == i else 1 for j in range(self.ndim)])
            for i, n in enumerate(self.shape)
        )
        values = self[index]  # (..., 1, ...) a gather: the gradient reaches that one index
        if not keepdim:
            values, idx = values.reshape(_dropped(self.shape, d)), idx.squeeze(d)
        return ValuesIndices(values, self._lift(idx))

    def argmax(self, dim=None, keepdim=False):
        """The index of the first maximum along dim (of the flattened tensor when None); int64."""
        d = None if dim is None else check_dim("argmax", dim, self.shape)
        _check_not_empty("argmax", self.shape, d)
        xp = array_module(self.data)
        return self._lift(xp.asarray(xp.argmax(self.data, axis=d, keepdims=keepdim)))

    def argmin(self, dim=None, keepdim=False):
        """The index of the first minimum along dim (of the flattened tensor when None); int64."""
        d = None if dim is None else check_dim("argmin", dim, self.shape)
        _check_not_empty("argmin", self.shape, d)
        xp = array_module(self.data)
        return self._lift(xp.asarray(xp.argmin(self.data, axis=d, keepdims=keepdim)))

    def var(
        self,
        dim=None,
        unbiased=None,
        keepdim=None,
        *,
        correction=None,
        axis=None,
        keepdims=None,
        ddof=None,
    ):
        """s^2 = sum_i (x_i - mean x)^2 / (N - correction) over dim, as torch.var.

        correction = 1 by default (Bessel's correction: the unbiased estimate); unbiased=False,
        correction=0 or NumPy's ddof=0 give the biased (1/N) variance that layer norm uses.
        Deviation from NumPy: np.var defaults to ddof=0, also when the axis is spelled axis=.
        N - correction <= 0 gives nan (or inf), as in torch. float32 input is summed in float64
        (as torch on the CPU), so that values of 1e30 do not overflow when squared."""
        if isinstance(dim, bool):  # torch's var(unbiased) overload
            dim, unbiased = None, dim
        v = self._variance("var", dim, unbiased, keepdim, correction, axis, keepdims, ddof)
        return v if v.dtype == self.dtype else v.astype(self.dtype)

    def _variance(self, method, dim, unbiased, keepdim, correction, axis, keepdims, ddof):
        """var, in float64 for float32 input (the caller casts back)."""
        dim, keepdim = dim_and_keepdim(method, dim, axis, keepdim, keepdims)
        dim = check_dims(method, dim, self.shape)
        c = _correction(method, correction, unbiased, ddof)
        x = self.double() if self.dtype == np.float32 else self  # float64 sums, as torch's CPU
        # the mean as a constant: sum_i (x_i - mean) = 0, so no gradient flows through it (torch's
        # var_backward), and an inf in the row cannot send inf - inf = nan to every x_i through it
        mean = x.mean(dim, keepdim=True).detach()
        sq = ((x - mean) ** 2).sum(dim, keepdim)  # sum (x_i - mean)^2
        denom = _count(self.shape, dim) - c
        if denom > 0:
            return sq * (1.0 / denom)
        with np.errstate(invalid="ignore"):  # torch: sum / max(0, N - c), so 0/0 = nan, s/0 = inf
            return sq * float("inf")

    def std(
        self,
        dim=None,
        unbiased=None,
        keepdim=None,
        *,
        correction=None,
        axis=None,
        keepdims=None,
        ddof=None,
    ):
        """s = sqrt(var): the same arguments and the same unbiased default as var. Where var = 0
        the gradient is 0, as torch (sqrt'(0) = inf times a zero d var / dx would be nan)."""
        if isinstance(dim, bool):
            dim, unbiased = None, dim
        v = self._variance("std", dim, unbiased, keepdim, correction, axis, keepdims, ddof)
        zero = v.data == 0
        if zero.any():  # sqrt of 1 there instead of 0, then 0 as a constant: gradient 0
            s = (v.masked_fill(zero, 1.0) ** 0.5).masked_fill(zero, 0.0)
        else:
            s = v**0.5
        return s if s.dtype == self.dtype else s.astype(self.dtype)

    def _max_const(self, dim, infinite_to_zero=False):
        """max x along dim (kept), as a constant: softmax, log_softmax and logsumexp do not
        change under a shift, so no gradient needs to flow through it. 0 for an empty x. With
        infinite_to_zero (logsumexp, torch's rule) also 0 where the max is infinite: a row of
        -inf gives -inf and a +inf entry +inf, not nan; softmax and log_softmax keep the
        infinite max, which makes such a row nan, as in torch."""
        xp = array_module(self.data)
        if self.data.size == 0:
            return self._lift(self.data.sum(axis=dim, keepdims=True))  # (..., 1) zeros
        m = self.data.max(axis=dim, keepdims=True)  # (..., 1)
        return self._lift(xp.where(xp.isinf(m), 0, m) if infinite_to_zero else m)

    def _shifted(self, method, dim, axis):
        """(x - max x along d, d), max-subtracted for stability (F17)."""
        d = check_dim(method, alias(method, "dim", dim, "axis", axis, -1), self.shape)
        return self - self._max_const(d), d

    def softmax(self, dim=None, *, axis=None):
        """s_i = exp(x_i - max x) / sum_j exp(x_j - max x) along dim (default -1) (F17).

        Built from primitives here (the tensor layer sits below minillm.ops); F.softmax runs the
        hand-written pair, and the GPU kernels. Equal to it up to rounding."""
        z, d = self._shifted("softmax", dim, axis)
        e = z.exp()
        return e / e.sum(d, keepdim=True)

    def log_softmax(self, dim=None, *, axis=None):
        """y_i = x_i - logsumexp(x) along dim (default -1) (F3); from primitives, as softmax."""
        z, d = self._shifted("log_softmax", dim, axis)
        with np.errstate(divide="ignore"):  # a row of -inf: log 0 = -inf, as torch, no warning
            return z - z.exp().sum(d, keepdim=True).log()

    def logsumexp(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """lse = m + log sum_j exp(x_j - m), m = max x, along dim (default -1); from primitives.

        Deviation: the gradient is the exact softmax, also for maxima of 1e30 in float32, where
        torch (and F.logsumexp) compute exp(x - lse) with lse = 1e30 + log 2 rounded to 1e30."""
        dim, keepdim = dim_and_keepdim("logsumexp", dim, axis, keepdim, keepdims, -1)
        dim = check_dims("logsumexp", dim, self.shape)
        m = self._max_const(dim, infinite_to_zero=True)  # (..., 1)
        with np.errstate(divide="ignore"):  # a row of -inf: log 0 = -inf, as torch, no warning
            lse = (self - m).exp().sum(dim, keepdim=True).log() + m  # (..., 1)
        return lse if keepdim else lse.reshape(_dropped(self.shape, dim))
