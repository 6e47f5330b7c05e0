"""GELU(x) = x * Phi(x), exact (erf) and GPT-2's tanh approximation (C14)."""

import math

from ..tensor import Tensor
from ..tensor.backend import array_module
from . import dispatch as _dispatch

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def erf(x):
    """erf(x) = sign(x) (1 - p(t) exp(-x^2)), t = 1 / (1 + 0.3275911 |x|), p a degree-5 polynomial
    (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7): NumPy has no erf.

    Deviation: an approximation, within float32 rounding; float64 results carry the same 1.5e-7."""
    xp = array_module(x)
    x = xp.asarray(x)
    if x.ndim == 0:  # ufuncs turn 0-d arrays into scalars: compute on a (1,) view, return 0-d
        return erf(x.reshape(1)).reshape(())
    a = xp.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    p = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return xp.copysign(1.0 - p * xp.exp(-a * a), x)


def gelu_forward(x, approximate="none"):
    """none: y = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2))   (Hendrycks & Gimpel; C14)
    tanh: y = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)   (GPT-2, BERT)

    Returns (y, cache): cache = (x, tanh(u)) for the tanh form, so that the backward reuses tanh(u)
    instead of computing it again (PyTorch recomputes it), and (x, None) for the erf form.
    Deviation: the erf form uses erf() above (Abramowitz & Stegun), within 1.5e-7 of the exact."""
    if x.ndim == 0:  # ufuncs turn 0-d arrays into scalars: compute on a (1,) view, return 0-d
        y, cache = gelu_forward(x.reshape(1), approximate)
        return y.reshape(()), cache
    xp = array_module(x)
    if approximate == "tanh":
        u = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)  # (...)
        t = xp.tanh(u)  # (...)
        return 0.5 * x * (1.0 + t), (x, t)
    if approximate == "none":
        return 0.5 * x * (1.0 + erf(x * _INV_SQRT_2)), (x, None)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def gelu_backward(dout, cache, approximate="none"):
    """dx = dout * dy/dx, by the product rule on y = x * Phi(x):

    none: (1) Phi(x) = 0.5 (1 + erf(x / sqrt 2))
          (2) x phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    tanh: (1) 0.5 (1 + t),  t = tanh(u)
          (2) 0.5 x (1 - t^2) du/dx,  du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
    dx = dout * ((1) + (2))"""
    x, t = cache
    xp = array_module(x)
    d = dout.reshape(x.shape)  # a 0-d gelu ran on a (1,) view (gelu_forward)
    if approximate == "tanh":
        term1 = 0.5 * (1.0 + t)  # (1)
        du = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)  # du/dx
        term2 = 0.5 * x * (1.0 - t * t) * du  # (2)
    else:
        term1 = 0.5 * (1.0 + erf(x * _INV_SQRT_2))  # (1)
        term2 = x * xp.exp(-0.5 * x * x) * _INV_SQRT_2PI  # (2)
    return (d * (term1 + term2)).reshape(dout.shape)


def gelu(x: Tensor, approximate="none") -> Tensor:
    fwd, bwd = _dispatch.gelu_pair((gelu_forward, gelu_backward), x.data, approximate)
    y, cache = fwd(x.data, approximate)
    return Tensor.from_op(y, (x,), lambda d: (bwd(d, cache, approximate),), "gelu")
