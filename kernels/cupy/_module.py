"""Load a ``.cu`` file of this package and compile it once with NVRTC through cupy.RawModule.

Each op module names its source file and the kernels it launches (template instantiations
included) in ``CU_FILE`` and ``KERNEL_NAMES``; tests/kernels compile exactly those names with
NVRTC for sm_75 and sm_90 with ``OPTIONS`` plus the flags CuPy itself adds, so a compile error is
caught on machines with no GPU.
"""

import functools
from importlib import resources

import cupy
import numpy as np

# CuPy adds -ftz=true, -arch=sm_XX and --device-as-default-execution-space to these.
OPTIONS = ("-std=c++17",)
CUPY_ADDED_OPTIONS = ("-ftz=true", "--device-as-default-execution-space")


def source(filename: str) -> str:
    """The CUDA C text of kernels/cupy/<filename>, with `#include "common.cuh"` pasted in.

    Pasting (rather than -I) keeps the header inside the text that CuPy hashes for its cache.
    """
    text = resources.files(__package__).joinpath(filename).read_text()
    common = resources.files(__package__).joinpath("common.cuh").read_text()
    return text.replace('#include "common.cuh"', common)


@functools.cache
def _module(filename: str, names: tuple) -> cupy.RawModule:
    return cupy.RawModule(code=source(filename), options=OPTIONS, name_expressions=names)


def kernel(filename: str, names: tuple, name: str):
    """The compiled kernel `name` (one of `names`) of `filename`; compiled on first call."""
    return _module(filename, names).get_function(name)


def f32(x, name: str, op: str):
    """x as a C-contiguous float32 CuPy array (a copy only when needed)."""
    if x is None:
        raise TypeError(f"{op}: {name} is None")
    # two steps: asarray ignores `order` for __cuda_array_interface__ objects; order="C" keeps
    # 0-d arrays 0-d (ascontiguousarray would make them 1-d)
    return cupy.asarray(cupy.asarray(x), dtype=cupy.float32, order="C")


def i32(n) -> np.int32:
    return np.int32(n)


def i64(n) -> np.int64:
    return np.int64(n)


def row_threads(C: int) -> int:
    """Threads of a one-block-per-row kernel: a power of two in [32, 512], ~4 elements each."""
    t = 32
    while t < 512 and 4 * t < C:
        t *= 2
    return t


def blocks(n: int, per_block: int) -> int:
    """Number of blocks of `per_block` threads (or items) that cover n."""
    return (n + per_block - 1) // per_block
