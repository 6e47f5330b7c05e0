"""Hand-written CUDA kernels for minillm, each held against its NumPy reference.

Two GPU backends, one module per op in each:
- ``cupy``:  CUDA C in ``kernels/cupy/<op>.cu``, compiled by NVRTC through ``cupy.RawModule``;
- ``numba``: ``@cuda.jit`` kernels in ``kernels/numba/<op>.py``; they also run under Numba's CUDA
  simulator (``NUMBA_ENABLE_CUDASIM=1``), which is how they are tested without a GPU.
And one CPU backend, ``cpu``: Numba ``@njit`` loops on NumPy arrays for the elementwise-heavy ops
(``CPU_OPS``), fused where NumPy makes one pass per ufunc; see ``kernels/cpu/__init__.py``.

Each op module exposes ``VERSIONS: dict[str, KernelPair]`` from a numbered version name
("v1_naive", "v2_smem_tiles", ...) to a pair whose ``forward`` (also reached by calling the pair)
has the NumPy reference's signature and returns ``(out, cache)``, and whose ``backward`` consumes
that cache. The CPU ``adamw`` versions are plain update functions (an optimizer step has no
backward). See docs/kernels.md for what each version does and why.

This file imports neither cupy nor numba (the backends do), so ``import minillm.kernels`` is cheap
and works on machines without them. The kernels import nothing of minillm.
"""

import importlib

from ._pair import KernelPair

BACKENDS = ("cupy", "numba")  # the GPU backends: every one has every op of OPS
OPS = ("matmul", "softmax", "layer_norm", "attention", "cross_entropy", "gelu")
CPU = "cpu"  # the CPU backend: NumPy's BLAS keeps the matmul, the kernels fuse the rest
CPU_OPS = ("softmax", "layer_norm", "attention", "cross_entropy", "gelu", "adamw")

# The version each backend is expected to run fastest, by design (more work per thread, fewer
# passes over memory). benchmarks/bench_kernels.py measures it; update this table from its JSON.
_BEST = {
    ("cupy", "matmul"): "v4_float4",
    ("cupy", "softmax"): "v3_online_warp",
    ("cupy", "layer_norm"): "v3_welford_warp",
    ("cupy", "attention"): "v2_flash",
    ("cupy", "cross_entropy"): "v2_online_warp",
    ("cupy", "gelu"): "v2_float4",
    ("numba", "matmul"): "v3_reg_block_2d",
    ("numba", "softmax"): "v2_online_smem",
    ("numba", "layer_norm"): "v2_welford",
    ("numba", "attention"): "v2_flash",
    ("numba", "cross_entropy"): "v1_smem_reduce",
    ("numba", "gelu"): "v1_elementwise",
    # measured by benchmarks/bench_ops.py and bench_train.py (docs/performance.md)
    ("cpu", "softmax"): "v1_rows",
    ("cpu", "layer_norm"): "v1_rows",
    ("cpu", "attention"): "v1_fused_softmax",
    ("cpu", "cross_entropy"): "v1_rows",
    ("cpu", "gelu"): "v3_keep_exp",
    ("cpu", "adamw"): "v1_per_tensor",
}

# |ref - out| <= atol + rtol * |ref|, the reference in float64 (llm.c's check), one row
# per op: what the tests and notebook 08 hold every version to.
TOLERANCES = {
    "matmul": (1e-5, 1e-4),
    "softmax": (1e-6, 1e-5),
    "layer_norm": (1e-5, 1e-4),
    "attention": (1e-5, 1e-4),
    "cross_entropy": (1e-5, 1e-4),
    "gelu": (1e-6, 1e-5),
}


def _check(backend: str, op: str) -> None:
    if backend not in (*BACKENDS, CPU):
        raise ValueError(f"unknown kernel backend {backend!r}; expected one of {BACKENDS + (CPU,)}")
    ops = CPU_OPS if backend == CPU else OPS
    if op not in ops:
        raise ValueError(f"unknown kernel op {op!r} for {backend!r}; expected one of {ops}")


def registry(backend: str, op: str) -> dict[str, KernelPair]:
    """The VERSIONS table of one op in one backend (imports that backend: cupy or numba)."""
    _check(backend, op)
    return importlib.import_module(f"{__name__}.{backend}.{op}").VERSIONS


def best(backend: str, op: str) -> str:
    """Name of the version expected to be fastest for (backend, op); a key of registry()."""
    _check(backend, op)
    return _BEST[(backend, op)]


__all__ = ["BACKENDS", "CPU", "CPU_OPS", "OPS", "KernelPair", "best", "registry"]
