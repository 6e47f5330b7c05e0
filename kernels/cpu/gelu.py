"""GELU forward/backward as one fused loop over the elements, on the CPU (Numba).

  erf form  ("none"): y = 0.5 x (1 + erf(x / sqrt 2)),  dy/dx = Phi(x) + x phi(x)
  tanh form ("tanh"): y = 0.5 x (1 + tanh u), u = sqrt(2/pi)(x + 0.044715 x^3),
                      dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi)(1 + 3*0.044715 x^2)

Versions:
  v1_libm      the equation element by element, with math.tanh / math.erf / math.exp: one pass
               instead of NumPy's ~8, but each libm call keeps the loop scalar (slower than
               NumPy at the demo's size: kept as the lesson).
  v2_vector    the same loop over exp_f32 (kernels/cpu/_math.py), all arithmetic, so AVX2 runs 8
               elements at a time: the tanh form as 0.5 (1 + tanh u) = sigma(2u), which keeps
               1 - sigma accurate where tanh u rounds to +-1, and erf as in the reference
               (Abramowitz & Stegun). The backward computes sigma again instead of reading a
               cached array: the arithmetic costs less than the memory traffic.
  v3_keep_exp  v2's loops, but the forward also writes the one exp of each element (e^(-2|u|),
               or erf's e^(-x^2/2)) and the backward reads it instead of computing it: one more
               array written and read, one exp fewer per element.
v1 and v2 keep (x,) as the cache, v3 (x, exp).
Reference: minillm.ops.gelu.gelu_forward / gelu_backward. Deviation: v1's math.erf is exact;
the reference's erf is A&S 7.1.26 (|error| <= 1.5e-7), as is v2's.
"""

import math

import numpy as np
from numba import njit

from .._pair import KernelPair
from .._shapes import gelu_form, same_shape
from ._math import JIT, exp_f32, f32, float32_rows

_SQRT_2_OVER_PI = f32(math.sqrt(2.0 / math.pi))
_INV_SQRT_2 = f32(1.0 / math.sqrt(2.0))
_INV_SQRT_2PI = f32(1.0 / math.sqrt(2.0 * math.pi))
_C = f32(0.044715)
_HALF = f32(0.5)
_ONE = f32(1.0)


@njit(**JIT)
def _erf_given_exp(x, exp_minus_x2):
    """erf by Abramowitz & Stegun 7.1.26, as minillm.ops.gelu.erf, with exp(-x^2) given"""
    a = abs(x)
    t = _ONE / (_ONE + f32(0.3275911) * a)
    p = f32(1.061405429)
    p = p * t + f32(-1.453152027)
    p = p * t + f32(1.421413741)
    p = p * t + f32(-0.284496736)
    p = p * t + f32(0.254829592)
    e = _ONE - p * t * exp_minus_x2
    return e if x >= 0 else -e


@njit(**JIT)
def _v1_libm(x, dy, out, tanh_form, backward):
    """backward=False: out = gelu(x); True: out = dy * gelu'(x); x, dy, out flat"""
    for i in range(x.size):
        xi = x[i]
        if tanh_form:
            t = f32(math.tanh(_SQRT_2_OVER_PI * (xi + _C * xi * xi * xi)))
            if backward:
                du = _SQRT_2_OVER_PI * (_ONE + f32(3.0) * _C * xi * xi)
                out[i] = dy[i] * (_HALF * (_ONE + t) + _HALF * xi * (_ONE - t * t) * du)
            else:
                out[i] = _HALF * xi * (_ONE + t)
        else:
            cdf = _HALF * (_ONE + f32(math.erf(xi * _INV_SQRT_2)))
            if backward:
                out[i] = dy[i] * (cdf + xi * f32(math.exp(-_HALF * xi * xi)) * _INV_SQRT_2PI)
            else:
                out[i] = xi * cdf


@njit(**JIT)
def _v2_tanh(x, dy, out, backward):
    """0.5 (1 + tanh u) = sigma(2u) = 1 / (1 + e^(-2u)), 0.5 (1 - tanh^2 u) = 2 sigma (1 - sigma):
    both from e = e^(-2|u|), so that 1 - sigma keeps its relative precision where tanh u rounds
    to +-1 (a float32 tanh there gives gelu'(x) = 0 at x = -4.8 instead of -4e-6)."""
    for i in range(x.size):
        xi = x[i]
        u = _SQRT_2_OVER_PI * (xi + _C * xi * xi * xi)
        e = exp_f32(f32(-2.0) * abs(u))  # in (0, 1]
        r = _ONE / (_ONE + e)
        s = r if u >= 0 else e * r  # sigma(2u) = 0.5 (1 + tanh u)
        s_c = e * r if u >= 0 else r  # 1 - sigma(2u)
        if backward:
            du = _SQRT_2_OVER_PI * (_ONE + f32(3.0) * _C * xi * xi)
            out[i] = dy[i] * (s + f32(2.0) * xi * s * s_c * du)
        else:
            out[i] = xi * s


@njit(**JIT)
def _v2_erf(x, dy, out, backward):
    for i in range(x.size):
        xi = x[i]
        k = exp_f32(-_HALF * xi * xi)  # exp(-(x / sqrt 2)^2): erf's and phi's
        cdf = _HALF * (_ONE + _erf_given_exp(xi * _INV_SQRT_2, k))
        if backward:
            out[i] = dy[i] * (cdf + xi * k * _INV_SQRT_2PI)
        else:
            out[i] = xi * cdf


@njit(**JIT)
def _v3_tanh_forward(x, y, e):
    """y = x sigma(2u), keeping e = exp(-2|u|) for the backward"""
    for i in range(x.size):
        xi = x[i]
        u = _SQRT_2_OVER_PI * (xi + _C * xi * xi * xi)
        ei = exp_f32(f32(-2.0) * abs(u))
        e[i] = ei
        r = _ONE / (_ONE + ei)
        y[i] = xi * (r if u >= 0 else ei * r)


@njit(**JIT)
def _v3_tanh_backward(x, e, dy, dx):
    for i in range(x.size):
        xi = x[i]
        r = _ONE / (_ONE + e[i])
        s = r if xi >= 0 else e[i] * r  # u has the sign of x
        s_c = e[i] * r if xi >= 0 else r
        du = _SQRT_2_OVER_PI * (_ONE + f32(3.0) * _C * xi * xi)
        dx[i] = dy[i] * (s + f32(2.0) * xi * s * s_c * du)


@njit(**JIT)
def _v3_erf_forward(x, y, k):
    """y = x Phi(x), keeping k = exp(-x^2 / 2) (erf's own exp) for the backward"""
    for i in range(x.size):
        xi = x[i]
        ki = exp_f32(-_HALF * xi * xi)
        k[i] = ki
        y[i] = xi * _HALF * (_ONE + _erf_given_exp(xi * _INV_SQRT_2, ki))


@njit(**JIT)
def _v3_erf_backward(x, k, dy, dx):
    for i in range(x.size):
        xi = x[i]
        cdf = _HALF * (_ONE + _erf_given_exp(xi * _INV_SQRT_2, k[i]))
        dx[i] = dy[i] * (cdf + xi * k[i] * _INV_SQRT_2PI)


def _recompute(v1):
    """v1 and v2: the cache is (x,), and the backward computes the exp again."""
    if v1:
        loop = _v1_libm
    else:
        loop = lambda x, dy, out, tanh, bwd: (_v2_tanh(x, dy, out, bwd) if tanh  # noqa: E731
                                               else _v2_erf(x, dy, out, bwd))  # fmt: skip

    def forward(x, approximate="none"):
        """y = x Phi(x) (erf form) or 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))"""
        tanh_form = gelu_form(approximate)
        x = float32_rows(x, "x", "gelu")
        y = np.empty_like(x)
        loop(x.reshape(-1), x.reshape(-1), y.reshape(-1), tanh_form, False)
        return y, (x,)

    def backward(dout, cache, approximate="none"):
        """dx = dout * gelu'(x)"""
        tanh_form = gelu_form(approximate)
        (x,) = cache
        dout = float32_rows(dout, "dout", "gelu")
        same_shape("dout", dout.shape, "x", x.shape, "gelu")
        dx = np.empty_like(x)
        loop(x.reshape(-1), dout.reshape(-1), dx.reshape(-1), tanh_form, True)
        return dx

    return KernelPair(forward, backward)


def _v3_forward(x, approximate="none"):
    """y as v2, and the exp of each element kept: the cache is (x, exp)"""
    tanh_form = gelu_form(approximate)
    x = float32_rows(x, "x", "gelu")
    y, e = np.empty_like(x), np.empty_like(x)
    (_v3_tanh_forward if tanh_form else _v3_erf_forward)(
        x.reshape(-1), y.reshape(-1), e.reshape(-1)
    )
    return y, (x, e)


def _v3_backward(dout, cache, approximate="none"):
    """dx = dout * gelu'(x), from the kept exp: no exp here"""
    tanh_form = gelu_form(approximate)
    x, e = cache
    dout = float32_rows(dout, "dout", "gelu")
    same_shape("dout", dout.shape, "x", x.shape, "gelu")
    dx = np.empty_like(x)
    loop = _v3_tanh_backward if tanh_form else _v3_erf_backward
    loop(x.reshape(-1), e.reshape(-1), dout.reshape(-1), dx.reshape(-1))
    return dx


VERSIONS = {
    "v1_libm": _recompute(v1=True),
    "v2_vector": _recompute(v1=False),
    "v3_keep_exp": KernelPair(_v3_forward, _v3_backward),
}
