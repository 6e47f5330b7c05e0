"""The GPU backend's switch: which CuPy kernel version runs each hot op (docs/kernels.md).

    from minillm.ops import dispatch
    dispatch.set_versions(matmul="v2_smem_tiles")          # until changed; None = the default
    with dispatch.use(op="attention", version="builtin"):  # for one block
        ...
    with dispatch.trace() as routes:                       # which version ran, and why not
        ...

On CuPy arrays, matmul, softmax, layer norm, attention, cross-entropy and GELU run the version
set for them, by default `kernels.best("cupy", op)`; "builtin" runs the reference code on CuPy
(cuBLAS, CuPy's kernels). A call the kernels do not support runs the reference code too, and
trace() says why. NumPy arrays always run the reference code. The settings and the routing are
in minillm.tensor.dispatch (matmul is a tensor primitive); this module adds the checks of the
composite ops, which their Tensor wrappers call with their reference (forward, backward).
"""

import numpy as np

from ..kernels._shapes import attention_dims
from ..tensor import dispatch as _core
from ..tensor.dispatch import (
    BUILTIN,
    MAX_ROWS,
    OPS,
    Route,
    current_versions,
    float32_reason,
    pick,
    set_versions,
    trace,
    use,
)

FLASH_MAX_D = 64  # CuPy v2_flash keeps q and o rows in registers: D <= 64 (docs/kernels.md)


def _rows_reason(x, axis=-1) -> str | None:
    """Why the one-block-per-row kernels cannot reduce x over `axis`."""
    if x.ndim == 0 or x.shape[-1] == 0:
        return f"shape {x.shape}: the kernels need a non-empty last axis"
    if axis not in (-1, x.ndim - 1):
        return f"axis={axis!r}: the kernels reduce over the last axis only"
    return None


def softmax_pair(reference, x, axis=-1):
    if not _core.is_device_array(x):
        return reference
    return pick("softmax", reference, lambda v: float32_reason(x) or _rows_reason(x, axis))


def layer_norm_pair(reference, x, gamma, beta):
    params = [p for p in (gamma, beta) if p is not None]
    if not all(_core.is_device_array(a) for a in (x, *params)):
        return reference
    return pick("layer_norm", reference, lambda v: float32_reason(x, *params) or _rows_reason(x))


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
    if not all(_core.is_device_array(a) for a in (q, k, v)):
        return reference
    why = lambda ver: _attention_reason(ver, q, k, v, mask, dropout_p, return_weights)  # noqa: E731
    forward, backward = pair = pick("attention", reference, why)
    return pair if pair is reference else (_without_dropout(forward), backward)


def cross_entropy_pair(reference, logits, targets, reduction):
    if not _core.is_device_array(logits):
        return reference

    def why(version):
        if logits.ndim != 2 or logits.shape[1] == 0 or targets.shape != logits.shape[:1]:
            return f"logits {logits.shape}, targets {targets.shape}: not (N, V) and (N,)"
        if reduction not in ("mean", "sum", "none"):
            return f"reduction={reduction!r}"  # the reference raises the ValueError
        return float32_reason(logits)

    return pick("cross_entropy", reference, why)


def gelu_pair(reference, x, approximate):
    if not _core.is_device_array(x):
        return reference
    bad_form = approximate not in ("none", "tanh")  # the reference raises the ValueError
    why = lambda v: f"approximate={approximate!r}" if bad_form else float32_reason(x)  # noqa: E731
    return pick("gelu", reference, why)


__all__ = [
    "BUILTIN",
    "OPS",
    "Route",
    "attention_pair",
    "cross_entropy_pair",
    "current_versions",
    "gelu_pair",
    "layer_norm_pair",
    "set_versions",
    "softmax_pair",
    "trace",
    "use",
]
