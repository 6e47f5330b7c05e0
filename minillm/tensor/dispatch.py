"""Which code runs a hot op: a hand-written kernel version, or the readable reference.

docs/style.md section 1's GPU path, and the CPU's fast path. A Tensor wrapper asks for the (forward,
backward) pair of its op:

- float32 NumPy arrays get the CPU kernel version set for the op (`use_cpu`, `set_cpu_versions`;
  by default `kernels.best("cpu", op)` when Numba is installed), or the reference pair when the
  setting is "reference", Numba is absent, or the kernel cannot take the call (float64, an axis
  other than the last, ...). `use_cpu("reference")` runs minillm/ops' readable code everywhere;
- CuPy arrays get the kernel version set for the op (`use`, `set_versions`; by default
  `kernels.best("cupy", op)`), or the reference pair, which CuPy runs through `xp` ("builtin":
  cuBLAS for matmul, CuPy's elementwise and reduction kernels for the rest), when the setting is
  "builtin" or when the kernels cannot take the call (float64, a 1-D operand, ...).

A kernel pair has the reference's signatures (kernels/_pair.py), so the wrapper calls either the
same way, and its graph node's backward is the chosen pair's backward. `trace()` records every
choice made on GPU arrays (`trace(cpu=True)`: on NumPy arrays too), with the reason whenever the
reference ran.

This core lives in the tensor layer because matmul is a tensor primitive. The composite ops'
checks (softmax, layer norm, attention, cross-entropy, GELU) are in minillm.ops.dispatch, which
re-exports this API: `minillm.ops.dispatch.use(op="matmul", version="v2_smem_tiles")`.
"""

import contextlib
import importlib.util
from typing import NamedTuple

import numpy as np

from .. import kernels
from ..kernels._shapes import MAX_GRID_YZ, matmul_dims
from . import primitives as P
from .backend import is_cupy_array

BUILTIN = "builtin"  # the setting that runs the reference code on CuPy instead of a kernel
REFERENCE = "reference"  # the setting that runs the readable NumPy code instead of a CPU kernel
OPS = kernels.OPS
CPU_OPS = kernels.CPU_OPS
# Row tiles run on gridDim.y (at most 65535); 8 rows per tile is the smallest tile of any
# version (v1_naive), so below this every version can launch, forward and backward.
MAX_ROWS = 8 * MAX_GRID_YZ
MATMUL_REFERENCE = (P.matmul_forward, P.matmul_backward)

_settings: dict = {}  # op -> kernel version name or BUILTIN; absent = kernels.best("cupy", op)
_cpu_settings: dict = {}  # op -> CPU version name or REFERENCE; absent = _cpu_default(op)
_cpu_tables: dict = {}  # op -> its kernels/cpu VERSIONS, or None when Numba failed to import
_traces: list = []  # (route list, with CPU routes?) of each open trace() block

# The dispatcher's one test of "this array is on the GPU". tests/gpu_backend points it at the CUDA
# emulator's arrays, to run the real kernel sources and host code without a GPU.
is_device_array = is_cupy_array


class Route(NamedTuple):
    """One choice made: the op, the version that ran, and why the reference ran."""

    op: str
    version: str  # a kernel version name, or "builtin" (GPU) / "reference" (CPU)
    reason: str | None  # None when a kernel ran
    device: str = "cuda"  # "cpu" for NumPy arrays (recorded by trace(cpu=True) only)


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
            hint = " (the readable CPU code: use_cpu('reference'))" if o == REFERENCE else ""
            raise ValueError(f"dispatch: unknown op {o!r}; expected one of {OPS}{hint}")
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
def trace(cpu=False):
    """Record the Route of every dispatched op on GPU arrays inside the block into a list; with
    cpu=True, of every op on float NumPy arrays too."""
    entry = ([], cpu)
    _traces.append(entry)
    try:
        yield entry[0]
    finally:
        _traces.remove(entry)


def _record(op, version, reason, device="cuda"):
    for routes, cpu in _traces:
        if device == "cuda" or cpu:
            routes.append(Route(op, version, reason, device))


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


# ---- the CPU: kernels/cpu on float32 NumPy arrays ----------------------------------------------
_numba_found = None  # numba_installed()'s answer, looked up once (every op asks, every call)


def numba_installed() -> bool:
    """Whether Numba can be found (looked up, not imported: importing it takes ~0.3 s)."""
    global _numba_found
    if _numba_found is None:
        _numba_found = importlib.util.find_spec("numba") is not None
    return _numba_found


def _cpu_table(op: str) -> dict | None:
    """kernels/cpu/<op>.py's VERSIONS, imported on first use; None when Numba cannot load."""
    if op not in _cpu_tables:
        try:
            _cpu_tables[op] = kernels.registry(kernels.CPU, op) if numba_installed() else None
        except ImportError:  # a broken Numba install: the reference runs, as without one
            _cpu_tables[op] = None
    return _cpu_tables[op]


def _cpu_table_or_raise(op: str) -> dict:
    table = _cpu_table(op)
    if table is None:
        raise RuntimeError(
            f"dispatch: the CPU {op} kernels need Numba: pip install 'minillm[cpu]' (numba); "
            f"without it every op runs the reference code"
        )
    return table


def _cpu_table_of_settings(version, versions: dict) -> dict:
    """{op: version or None} from use_cpu()/set_cpu_versions() arguments, each name checked."""
    if version is not None:
        if versions:
            raise TypeError("dispatch: pass one version for every op, or op=version keywords")
        versions = dict.fromkeys(CPU_OPS, version)
    for o, v in versions.items():
        if o not in CPU_OPS:
            raise ValueError(f"dispatch: unknown CPU op {o!r}; expected one of {CPU_OPS}")
        if v is None or v == REFERENCE:
            continue
        known = _cpu_table_or_raise(o)
        if v not in known:
            raise ValueError(
                f"dispatch: {o} has no CPU kernel version {v!r}; expected one of "
                f"{sorted(known)} or {REFERENCE!r}"
            )
    return versions


def set_cpu_versions(version=None, **versions) -> dict:
    """Choose the code each op runs on float32 NumPy arrays, until changed; returns
    cpu_versions(). set_cpu_versions("reference") runs the readable code for every op;
    set_cpu_versions(gelu="v1_libm") one version of one op; None restores the default."""
    for o, v in _cpu_table_of_settings(version, versions).items():
        if v is None:
            _cpu_settings.pop(o, None)
        else:
            _cpu_settings[o] = v
    return cpu_versions()


@contextlib.contextmanager
def use_cpu(version=None, **versions):
    """set_cpu_versions() for the duration of a with-block, then the previous settings again:
    `with dispatch.use_cpu("reference"):` steps through minillm/ops' readable code."""
    table = _cpu_table_of_settings(version, versions)
    saved = dict(_cpu_settings)
    set_cpu_versions(**table)
    try:
        yield cpu_versions()
    finally:
        _cpu_settings.clear()
        _cpu_settings.update(saved)


def _cpu_default(op: str) -> str:
    return kernels.best(kernels.CPU, op) if numba_installed() else REFERENCE


def cpu_versions() -> dict:
    """{op: the version it runs on float32 NumPy arrays now} (a kernels/cpu name or "reference")."""
    return {o: _cpu_settings.get(o) or _cpu_default(o) for o in CPU_OPS}


def cpu_pick(op: str, reference, unsupported=None):
    """The set CPU version of op, or `reference` when the setting is "reference", Numba is absent
    or `unsupported(version)` names a reason: a (forward, backward) pair for the ops, the update
    function for adamw."""
    version = _cpu_settings.get(op) or _cpu_default(op)
    table = None if version == REFERENCE else _cpu_table(op)
    if table is None:
        reason = "set to reference" if version == REFERENCE else "Numba failed to import"
    else:
        reason = unsupported and unsupported(version)
    if _traces:
        _record(op, REFERENCE if reason else version, reason or None, "cpu")
    if reason:
        return reference
    entry = table[version]
    return (entry.forward, entry.backward) if isinstance(entry, kernels.KernelPair) else entry


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
