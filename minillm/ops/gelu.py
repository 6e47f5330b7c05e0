"""GELU(x) = x * Phi(x), exact (erf) and GPT-2's tanh approximation (C14)."""

import math

from ..tensor import Tensor
from ..tensor.backend import array_module

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def erf(x):
    """erf(x) by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7): NumPy has no erf.

    Deviation: an approximation, within float32 rounding; float64 results carry the same 1.5e-7."""
    xp = array_module(x)
    a = xp.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return xp.sign(x) * (1.0 - poly * xp.exp(-a * a))


def gelu_forward(x, approximate="none"):
    """none: y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
    tanh: y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)   (GPT-2, BERT)"""
    xp = array_module(x)
    if approximate == "tanh":
        return 0.5 * x * (1.0 + xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))), x
    if approximate == "none":
        return 0.5 * x * (1.0 + erf(x * _INV_SQRT_2)), x
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def gelu_backward(dout, x, approximate="none"):
    """none: dx = dout * (Phi(x) + x phi(x)), phi(x) = exp(-x^2/2) / sqrt(2 pi)
    tanh: dx = dout * (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2))"""
    xp = array_module(x)
    if approximate == "tanh":
        t = xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
        du = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
        return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
    cdf = 0.5 * (1.0 + erf(x * _INV_SQRT_2))
    return dout * (cdf + x * _INV_SQRT_2PI * xp.exp(-0.5 * x * x))


def gelu(x: Tensor, approximate="none") -> Tensor:
    y, cache = gelu_forward(x.data, approximate)
    return Tensor.from_op(y, (x,), lambda d: (gelu_backward(d, cache, approximate),), "gelu")
