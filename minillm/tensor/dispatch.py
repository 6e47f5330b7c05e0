"""Which code runs a hot op on GPU arrays: a hand-written kernel version, or the reference.

STYLE.md section 1's GPU path. A Tensor wrapper asks for the (forward, backward) pair of its op:

- NumPy arrays get the reference pair at once (one type test): the CPU path is unchanged;
- CuPy arrays get the kernel version set for the op (`use`, `set_versions`; by default
  `kernels.best("cupy", op)`), or the reference pair, which CuPy runs through `xp` ("builtin":
  cuBLAS for matmul, CuPy's elementwise and reduction kernels for the rest), when the setting is
  "builtin" or when the kernels cannot take the call (float64, a 1-D operand, ...).

A kernel pair has the reference's signatures (kernels/_pair.py), so the wrapper calls either the
same way, and its graph node's backward is the chosen pair's backward. `trace()` records every
choice made on GPU arrays, with the reason whenever the reference ran.

This core lives in the tensor layer because matmul is a tensor primitive. The composite ops'
checks (softmax, layer norm, attention, cross-entropy, GELU) are in minillm.ops.dispatch, which
re-exports this API: `minillm.ops.dispatch.use(op="matmul", version="v2_smem_tiles")`.
"""

import contextlib
from typing import NamedTuple

import numpy as np

from .. import kernels
from ..kernels._shapes import MAX_GRID_YZ, matmul_dims
from . import primitives as P
from .backend import is_cupy_array

BUILTIN = "builtin"  # the setting that runs the reference code on CuPy instead of a kernel
OPS = kernels.OPS
# Row tiles run on gridDim.y (at most 65535); 8 rows per tile is the smallest tile of any
# version (v1_naive), so below this every version can launch, forward and backward.
MAX_ROWS = 8 * MAX_GRID_YZ
MATMUL_REFERENCE = (P.matmul_forward, P.matmul_backward)

_settings: dict = {}  # op -> kernel version name or BUILTIN; absent = kernels.best("cupy", op)
_traces: list = []  # the route lists of the open trace() blocks

# The dispatcher's one test of "this array is on the GPU". tests/gpu_backend points it at the CUDA
# emulator's arrays, to run the real kernel sources and host code without a GPU.
is_device_array = is_cupy_array


class Route(NamedTuple):
    """One choice made on GPU arrays: the op, the version that ran, and why the reference ran."""

    op: str
    version: str  # a kernel version name, or "builtin"
    reason: str | None  # None when a kernel ran


def _kernel_versions(op: str) -> dict:
    """The CuPy VERSIONS table of op. registry() imports CuPy and the op's host module: that
    happens here, when a version is named or a GPU array first reaches the op, never when minillm
    is imported (CuPy is an optional dependency, and slow to import)."""
    try:
        return kernels.registry("cupy", op)
    except ImportError as e:
        raise RuntimeError(
            f"dispatch: the {op} kernels need CuPy: pip install 'minillm[cuda]' (cupy-cuda13x) "
            "on a machine with an NVIDIA GPU and a CUDA 13 driver"
        ) from e


def _table(op, version, versions: dict) -> dict:
    """{op: version or None} from use()/set_versions() arguments, each name checked."""
    if op is not None or version is not None:
        if versions:
            raise TypeError("dispatch: pass op=/version= or op_name=version keywords, not both")
        versions = {o: version for o in (OPS if op is None else (op,))}
    for o, v in versions.items():
        if o not in OPS:
            raise ValueError(f"dispatch: unknown op {o!r}; expected one of {OPS}")
        if v is None or v == BUILTIN:
            continue
        known = _kernel_versions(o)
        if v not in known:
            raise ValueError(
                f"dispatch: {o} has no CuPy kernel version {v!r}; expected one of "
                f"{sorted(known)} or {BUILTIN!r}"
            )
    return versions


def _apply(table: dict) -> None:
    for o, v in table.items():
        if v is None:
            _settings.pop(o, None)
        else:
            _settings[o] = v


def set_versions(op=None, version=None, **versions) -> dict:
    """Choose the code each op runs on GPU arrays, until changed; returns versions().

    set_versions(matmul="v2_smem_tiles", softmax="builtin"), or set_versions(op="matmul",
    version="v3_reg_block_2d"); set_versions(version="builtin") sets every op. A version of None
    restores the op's default, kernels.best("cupy", op). Unknown names raise ValueError."""
    _apply(_table(op, version, versions))
    return current_versions()


@contextlib.contextmanager
def use(op=None, version=None, **versions):
    """set_versions() for the duration of a with-block, then the previous settings again."""
    table = _table(op, version, versions)
    saved = dict(_settings)
    _apply(table)
    try:
        yield current_versions()
    finally:
        _settings.clear()
        _settings.update(saved)


def current_versions() -> dict:
    """{op: the version it runs on GPU arrays now} (a kernel version name or "builtin")."""
    return {o: _settings.get(o) or kernels.best("cupy", o) for o in OPS}


@contextlib.contextmanager
def trace():
    """Record the Route of every dispatched op on GPU arrays inside the block into a list."""
    routes = []
    _traces.append(routes)
    try:
        yield routes
    finally:
        _traces.remove(routes)


def _record(op, version, reason):
    for routes in _traces:
        routes.append(Route(op, version, reason))


def pick(op: str, reference: tuple, unsupported=None) -> tuple:
    """(forward, backward) for op on GPU arrays: the set kernel version's pair, or `reference`
    when the setting is "builtin" or `unsupported(version)` names a reason."""
    version = _settings.get(op) or kernels.best("cupy", op)
    reason = "set to builtin" if version == BUILTIN else unsupported and unsupported(version)
    if reason:
        _record(op, BUILTIN, reason)
        return reference
    pair = _kernel_versions(op)[version]
    _record(op, version, None)
    return pair.forward, pair.backward


def float32_reason(*arrays) -> str | None:
    """Why float32 kernels cannot take these arrays (None entries are absent parameters)."""
    dtypes = [a.dtype for a in arrays if a is not None]
    if any(d != np.float32 for d in dtypes):
        return f"dtypes {[str(d) for d in dtypes]}: the kernels are float32 only"
    return None


def _matmul_unsupported(a, b) -> str | None:
    why = float32_reason(a, b)
    if why:
        return why
    try:  # the kernels' own shape contract: ndim >= 2, equal batch axes or a 2-D b
        _, M, K, _, _ = matmul_dims(a.shape, b.shape)
    except ValueError as e:
        return str(e)
    if max(M, K) > MAX_ROWS:  # M rows in the forward, K in the backward's db
        return f"{max(M, K)} rows exceed the launch grid ({MAX_ROWS})"
    return None


def matmul_pair(a, b) -> tuple:
    """The (forward, backward) pair of a @ b: P.matmul_* unless both are GPU arrays."""
    if not (is_device_array(a) and is_device_array(b)):
        return MATMUL_REFERENCE
    return pick("matmul", MATMUL_REFERENCE, lambda version: _matmul_unsupported(a, b))
