"""The switch between the readable reference and the kernels, per op (docs/kernels.md).

    from minillm.ops import dispatch
    with dispatch.use_cpu("reference"):                    # NumPy: minillm/ops' readable code
        ...
    dispatch.set_cpu_versions(gelu="v1_libm")              # NumPy: one kernels/cpu version
    dispatch.set_versions(matmul="v2_smem_tiles")          # CuPy: until changed; None = default
    with dispatch.use(op="attention", version="builtin"):  # CuPy: for one block
        ...
    with dispatch.trace(cpu=True) as routes:               # which version ran, and why not
        ...

On float32 NumPy arrays, softmax, layer norm, attention, cross-entropy and GELU (and AdamW's
update) run the kernels/cpu version set for them, by default `kernels.best("cpu", op)` when Numba
is installed; "reference" runs the readable code. On CuPy arrays, matmul and the same five ops
run the version set for them, by default `kernels.best("cupy", op)`; "builtin" runs the
reference code on CuPy (cuBLAS, CuPy's kernels). A call a kernel does not support runs the
reference code, and trace() says why. The settings and the routing are in
minillm.tensor.dispatch (matmul is a tensor primitive); this module adds the checks of the
composite ops, which their Tensor wrappers call with their reference (forward, backward).
"""

import numpy as np

from ..kernels._shapes import attention_dims
from ..tensor import dispatch as _core
from ..tensor.dispatch import (
    BUILTIN,
    CPU_OPS,
    MAX_ROWS,
    OPS,
    REFERENCE,
    Route,
    cpu_pick,
    cpu_versions,
    current_versions,
    float32_reason,
    numba_installed,
    pick,
    set_cpu_versions,
    set_versions,
    trace,
    use,
    use_cpu,
)

FLASH_MAX_D = 64  # CuPy v2_flash keeps q and o rows in registers: D <= 64 (docs/kernels.md)


def _rows_reason(x, axis=-1) -> str | None:
    """Why the one-block-per-row kernels cannot reduce x over `axis`."""
    if x.ndim == 0 or x.shape[-1] == 0:
        return f"shape {x.shape}: the kernels need a non-empty last axis"
    if axis not in (-1, x.ndim - 1):
        return f"axis={axis!r}: the kernels reduce over the last axis only"
    return None


def _route(op, reference, why, *arrays):
    """pick() when every array is on the GPU, cpu_pick() when none is, else the reference."""
    on_device = [_core.is_device_array(a) for a in arrays]
    if all(on_device):
        return pick(op, reference, why)
    return reference if any(on_device) else cpu_pick(op, reference, why)


def softmax_pair(reference, x, axis=-1):
    why = lambda v: float32_reason(x) or _rows_reason(x, axis)  # noqa: E731
    return _route("softmax", reference, why, x)


def layer_norm_pair(reference, x, gamma, beta):
    params = [p for p in (gamma, beta) if p is not None]
    why = lambda v: float32_reason(x, *params) or _rows_reason(x)  # noqa: E731
    return _route("layer_norm", reference, why, x, *params)


def _attention_reason(version, q, k, v, mask, dropout_p, return_weights) -> str | None:
    if dropout_p > 0.0:
        return f"dropout_p={dropout_p}: the kernels have no dropout"
    if return_weights:
        return "return_weights: the kernels keep no attention weights"
    if mask is not None and mask.dtype != np.bool_:
        return f"attn_mask of dtype {mask.dtype}: the kernels take boolean masks only"
    why = float32_reason(q, k, v)
    if why:
        return why
    if v.shape != k.shape:
        return f"v {v.shape} and k {k.shape} differ: the kernels need v with k's head dim"
    try:  # the kernels' own contract: shapes, B*H on the grid, how the mask broadcasts
        _, T, S, D, _ = attention_dims(
            q.shape, k.shape, v.shape, None if mask is None else mask.shape
        )
    except ValueError as e:
        return str(e)
    if version == "v2_flash" and D > FLASH_MAX_D:
        return f"head dim D={D} > {FLASH_MAX_D}: v2_flash keeps q and o rows in registers"
    if max(T, S) > MAX_ROWS:  # v1_naive's score products run T and S rows on the grid
        return f"T={T}, S={S}: more rows than the launch grid holds ({MAX_ROWS})"
    return None


def _without_dropout(forward):
    """The kernel forward under the reference's signature; chosen only when dropout_p == 0."""
    return lambda q, k, v, attn_mask, is_causal, scale, dropout_p, rng: forward(
        q, k, v, attn_mask, is_causal, scale
    )


def attention_pair(reference, q, k, v, mask, dropout_p, return_weights):
    """The forward takes the reference's (q, k, v, mask, is_causal, scale, dropout_p, rng)."""
    if not any(_core.is_device_array(a) for a in (q, k, v)):
        why = lambda ver: _cpu_attention_reason(q, k, v, mask, dropout_p, return_weights)  # noqa: E731
        return cpu_pick("attention", reference, why)
    if not all(_core.is_device_array(a) for a in (q, k, v)):
        return reference
    why = lambda ver: _attention_reason(ver, q, k, v, mask, dropout_p, return_weights)  # noqa: E731
    forward, backward = pair = pick("attention", reference, why)
    return pair if pair is reference else (_without_dropout(forward), backward)


def _cpu_attention_reason(q, k, v, mask, dropout_p, return_weights) -> str | None:
    if dropout_p > 0.0 or return_weights or (mask is not None and mask.dtype != np.bool_):
        return "dropout, return_weights or a float mask: the CPU kernel has none of them"
    if min(q.shape[-2], k.shape[-2], q.shape[-1]) == 0:
        return f"q {q.shape}, k {k.shape}: the kernel needs T, S, D > 0"
    return float32_reason(q, k, v)


def cross_entropy_pair(reference, logits, targets, reduction):
    def why(version):
        if logits.ndim != 2 or logits.shape[1] == 0 or targets.shape != logits.shape[:1]:
            return f"logits {logits.shape}, targets {targets.shape}: not (N, V) and (N,)"
        if reduction not in ("mean", "sum", "none"):
            return f"reduction={reduction!r}"  # the reference raises the ValueError
        return float32_reason(logits)

    return _route("cross_entropy", reference, why, logits)


def gelu_pair(reference, x, approximate):
    bad_form = approximate not in ("none", "tanh")  # the reference raises the ValueError
    why = lambda v: f"approximate={approximate!r}" if bad_form else float32_reason(x)  # noqa: E731
    return _route("gelu", reference, why, x)


__all__ = [
    "BUILTIN",
    "CPU_OPS",
    "OPS",
    "REFERENCE",
    "Route",
    "attention_pair",
    "cpu_versions",
    "cross_entropy_pair",
    "current_versions",
    "gelu_pair",
    "layer_norm_pair",
    "numba_installed",
    "set_cpu_versions",
    "set_versions",
    "softmax_pair",
    "trace",
    "use",
    "use_cpu",
]
