"""GELU forward/backward as a Numba CUDA elementwise kernel.

  erf form  ("none"): y = 0.5 x (1 + erf(x / sqrt 2)),  dy/dx = Phi(x) + x phi(x)
  tanh form ("tanh"): y = 0.5 x (1 + tanh u), u = sqrt(2/pi)(x + 0.044715 x^3),
                      dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi)(1 + 3*0.044715 x^2)

Versions:
  v1_elementwise  one thread per element in a grid-stride loop (the CuPy backend adds float4).
Reference: minillm.ops.gelu. Deviation: math.erf here is CUDA's erff; the reference's erf is
Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7).
"""

import math

from numba import boolean, cuda, float32

from .._pair import KernelPair
from .._shapes import gelu_form, same_shape
from ._device import blocks, empty, f32, flat

_SQRT_2_OVER_PI = float32(math.sqrt(2.0 / math.pi))
_INV_SQRT_2 = float32(1.0 / math.sqrt(2.0))
_INV_SQRT_2PI = float32(1.0 / math.sqrt(2.0 * math.pi))
_C = float32(0.044715)
_HALF = float32(0.5)
_ONE = float32(1.0)


@cuda.jit(device=True)
def _gelu(x, tanh_form):
    if tanh_form:
        return _HALF * x * (_ONE + math.tanh(_SQRT_2_OVER_PI * (x + _C * x * x * x)))
    return _HALF * x * (_ONE + math.erf(x * _INV_SQRT_2))


@cuda.jit(device=True)
def _dgelu(x, tanh_form):
    if tanh_form:
        t = math.tanh(_SQRT_2_OVER_PI * (x + _C * x * x * x))
        du = _SQRT_2_OVER_PI * (_ONE + float32(3.0) * _C * x * x)
        return _HALF * (_ONE + t) + _HALF * x * (_ONE - t * t) * du
    return _HALF * (_ONE + math.erf(x * _INV_SQRT_2)) + x * math.exp(-_HALF * x * x) * _INV_SQRT_2PI


@cuda.jit
def _v1_elementwise(x, dy, out, tanh_form, backward):
    """backward=False: out = gelu(x); True: out = dy * gelu'(x)"""
    start = cuda.grid(1)
    for i in range(start, x.shape[0], cuda.gridsize(1)):
        out[i] = dy[i] * _dgelu(x[i], tanh_form) if backward else _gelu(x[i], tanh_form)


def make_v1(threads=256, max_blocks=132 * 32):
    def launch(x, dy, tanh_form, backward):
        out = empty(x.shape)
        if x.size:
            grid = min(blocks(x.size, threads), max_blocks)
            _v1_elementwise[grid, threads](flat(x), flat(dy), flat(out), tanh_form, backward)
        return out

    def forward(x, approximate="none"):
        """y = x Phi(x) (erf form) or 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))"""
        tanh_form = gelu_form(approximate)
        x = f32(x, "x", "gelu")
        return launch(x, x, tanh_form, False), x

    def backward(dout, x, approximate="none"):
        """dx = dout * gelu'(x)"""
        tanh_form = gelu_form(approximate)
        dout, x = f32(dout, "dout", "gelu"), f32(x, "x", "gelu")
        same_shape("dout", tuple(dout.shape), "x", tuple(x.shape), "gelu")
        return launch(x, dout, tanh_form, True)

    return KernelPair(forward, backward)


VERSIONS = {"v1_elementwise": make_v1()}


def compile_targets():
    """(name, python function, argument types), for numba.cuda.compile_ptx checks."""
    a1 = float32[::1]
    return [("v1_elementwise", _v1_elementwise.py_func, (a1, a1, a1, boolean, boolean))]
