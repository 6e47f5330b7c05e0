"""Gradient clipping by the global norm over all parameters (Pascanu et al., 2013)."""

import math
import numbers
import types
import warnings

from minillm.tensor import Tensor
from minillm.tensor.backend import array_module


def _grad_norm(g, norm_type):
    """||g||_p of one gradient array, as a 0-d array of g's module."""
    xp = array_module(g)
    a = xp.abs(g)
    if math.isinf(norm_type):
        return a.max() if a.size else xp.zeros((), dtype=g.dtype)
    if norm_type == 2.0:
        return xp.sqrt((a * a).sum())
    return (a**norm_type).sum() ** (1.0 / norm_type)


def clip_grad_norm_(params, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients in place so that their global norm is at most max_norm; return the norm.

        total_norm = || (||g_1||_p, ||g_2||_p, ...) ||_p       (= ||concat(g_1, g_2, ...)||_p)
        g_i <- g_i * max_norm / (total_norm + 1e-6)          only when that factor is < 1

    as PyTorch's `torch.nn.utils.clip_grad_norm_`. Parameters whose grad is None are skipped. The
    returned total_norm (a Python float) is the norm *before* clipping; 0.0 when no gradient exists.
    norm_type is a p > 0 or math.inf (the largest |g|). A nan/inf total norm raises RuntimeError
    when error_if_nonfinite is True; otherwise the gradients are scaled by nan (PyTorch's
    behaviour) and the caller sees the non-finite norm. An empty generator (model.parameters()
    already consumed) warns, as PyTorch 2.13, instead of clipping nothing in silence.
    """
    if isinstance(params, Tensor):
        params = [params]
    is_generator = isinstance(params, types.GeneratorType)
    params = list(params)  # a generator is read once: keep what it gave
    if is_generator and not params:
        warnings.warn(
            "`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=2
        )
    try:
        norm_type = float(norm_type)  # "inf" too, as torch
    except (TypeError, ValueError):
        raise ValueError(f"norm_type={norm_type!r} must be a number > 0 or math.inf") from None
    if not (norm_type > 0):
        raise ValueError(f"norm_type={norm_type} must be > 0 or math.inf")
    if isinstance(max_norm, bool) or not isinstance(max_norm, numbers.Real) or not max_norm >= 0:
        raise ValueError(f"max_norm={max_norm!r} must be a number >= 0")
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norms = [_grad_norm(g, norm_type) for g in grads]
    xp = array_module(grads[0])
    total_norm = float(_grad_norm(xp.stack([xp.asarray(n) for n in norms]), norm_type))
    if error_if_nonfinite and not math.isfinite(total_norm):
        raise RuntimeError(
            f"the total norm of order {norm_type} of the gradients of {len(grads)} parameters is "
            f"non-finite ({total_norm}), so it cannot be clipped; pass error_if_nonfinite=False "
            "to clip anyway"
        )
    coef = max_norm / (total_norm + 1e-6)
    if not coef < 1.0 and not math.isnan(coef):
        return total_norm
    for g in grads:
        g *= coef
    return total_norm
