"""What every CPU kernel shares: the compile settings, and an exp that vectorises.

The settings, each measured on the 2-core machine of docs/performance.md:
- error_model="numpy": a float division by zero gives inf or nan, as in NumPy, instead of a
  Python ZeroDivisionError. The check that raises the error also stops LLVM from vectorising any
  loop that divides (GELU's tanh: 2.4 ms -> 0.33 ms).
- cache=True: the machine code is written to __pycache__ beside this file on first use. All the
  kernels compile in about 2-3 s once per machine and then load in about 0.3 s per process.
- nogil=True: a kernel releases the GIL, so other Python threads keep running while it does.
- serial, never parallel=True: on 2 cores the threads of Numba's OpenMP pool and OpenBLAS's
  threads kept waking each other, and a GELU between two matrix products took 12 ms instead of
  0.8 ms. Splitting the rows over two Python threads, or using the workqueue layer, was slower
  than one thread as well. benchmarks/bench_cpu_threads.py measures this again.
- REDUCE (fastmath reassoc, nothing else) only where a loop sums a row. With strict IEEE order,
  `s += x[i]` adds one element at a time. reassoc lets LLVM keep 8 partial sums in one AVX
  register: layer norm's forward at 768 x 128 went 0.23 -> 0.05 ms, and the result was closer to
  float64 than before. exp_f32 is compiled apart without fast-math: when LLVM inlines it, its
  instructions keep their own strict flags.

This Numba has no vectorised exp or tanh (no SVML), and math.exp and math.tanh called once per
element leave a loop scalar (GELU's math.tanh loop: 13 ms, NumPy 2 ms). Hence exp_f32 below:
plain multiplies, adds and a bit cast, which AVX2 does 8 at a time; the kernels build tanh and
the sigmoid from it.
"""

import math

import numpy as np
from numba import njit

f32 = np.float32
JIT = {"error_model": "numpy", "cache": True, "nogil": True}
REDUCE = {**JIT, "fastmath": {"reassoc"}}

_LOG2E = f32(1.0 / math.log(2.0))
_LN2_HI = f32(0.693359375)  # ln 2 = _LN2_HI + _LN2_LO, _LN2_HI exact in 9 bits (Cody-Waite)
_LN2_LO = f32(-2.12194440e-4)
_EXP_LO = f32(-87.33654)  # exp(x) < smallest normal float32 below this: 0 (no denormals)
_EXP_HI = f32(88.37626)  # exp(x) overflows float32 above this


@njit(**JIT)
def exp_f32(x):
    """e^x in float32 within 2 ulp (Cephes expf): x = n ln 2 + r with |r| <= ln 2 / 2, then
    e^x = 2^n e^r, e^r by a degree-6 polynomial and 2^n written into the exponent bits.

    Deviation from np.exp: a result below the smallest normal float (x < -87.34) is 0, not a
    denormal. Also 0 for -inf, nan for nan, inf above 88.38."""
    xc = min(max(x, _EXP_LO), _EXP_HI)
    n = f32(math.floor(xc * _LOG2E + f32(0.5)))  # math.floor gives an int64: back to float32
    r = xc - n * _LN2_HI
    r = r - n * _LN2_LO
    p = f32(1.9875691500e-4)
    p = p * r + f32(1.3981999507e-3)
    p = p * r + f32(8.3334519073e-3)
    p = p * r + f32(4.1665795894e-2)
    p = p * r + f32(1.6666665459e-1)
    p = p * r + f32(5.0000001201e-1)
    p = p * r * r + r + f32(1.0)  # e^r
    two_n = np.int32((np.int32(n) + np.int32(127)) << np.int32(23)).view(np.float32)  # 2^n
    y = p * two_n
    if x < _EXP_LO:
        y = f32(0.0)
    if x > _EXP_HI:
        y = f32(np.inf)
    if x != x:
        y = x
    return y


def float32_rows(x, name, op):
    """x as a C-contiguous float32 array of the same shape (a copy only when it is not one)."""
    if x.dtype != np.float32:
        raise TypeError(f"{op}: {name} must be float32, got {x.dtype}")
    return x if x.flags.c_contiguous else x.copy(order="C")
