"""GELU forward/backward in CUDA C (source and version notes: gelu.cu).

Versions: v1_elementwise, v2_float4.
Reference: minillm.ops.gelu.gelu_forward / gelu_backward (approximate="none" erf, "tanh" GPT-2).
"""

import cupy

from .._pair import KernelPair
from .._shapes import gelu_form, same_shape
from ._module import blocks, f32, i32, i64, kernel

CU_FILE = "gelu.cu"
KERNEL_NAMES = ("gelu_v1_elementwise", "gelu_v2_float4")
_THREADS = 256
_MAX_BLOCKS = 132 * 32  # grid-stride loops: enough blocks to fill an H100 (132 SMs) many times


def _launch(name, x, dy, tanh_form, backward):
    out = cupy.empty_like(x)
    n = x.size
    if n == 0:
        return out
    if name == "gelu_v2_float4":
        aligned = all(a.data.ptr % 16 == 0 for a in (x, dy, out))
        n4 = n // 4 if aligned else 0
        grid = min(blocks(max(n4, n - 4 * n4), _THREADS), _MAX_BLOCKS)
        args = (x, dy, out, i64(n), i64(n4), i32(tanh_form), i32(backward))
    else:
        grid = min(blocks(n, _THREADS), _MAX_BLOCKS)
        args = (x, dy, out, i64(n), i32(tanh_form), i32(backward))
    kernel(CU_FILE, KERNEL_NAMES, name)((grid,), (_THREADS,), args)
    return out


def _make(name):
    def forward(x, approximate="none"):
        """y = x Phi(x) (erf form) or 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))"""
        tanh_form = gelu_form(approximate)
        x = f32(x, "x", "gelu")
        return _launch(name, x, x, tanh_form, False), x

    def backward(dout, x, approximate="none"):
        """dx = dout * gelu'(x)"""
        tanh_form = gelu_form(approximate)
        dout, x = f32(dout, "dout", "gelu"), f32(x, "x", "gelu")
        same_shape("dout", dout.shape, "x", x.shape, "gelu")
        return _launch(name, x, dout, tanh_form, True)

    return KernelPair(forward, backward)


VERSIONS = {"v1_elementwise": _make("gelu_v1_elementwise"), "v2_float4": _make("gelu_v2_float4")}
