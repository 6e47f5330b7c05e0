"""Cross-entropy fused with the softmax in CUDA C (source and version notes: cross_entropy.cu).

Versions: v1_smem_reduce, v2_online_warp.
Reference: minillm.ops.cross_entropy.cross_entropy_forward / cross_entropy_backward.
Targets are checked on the device before any kernel runs (one synchronisation): an id outside
[0, V) that is not ignore_index raises IndexError naming its position, as the reference does.
"""

import cupy

from .._pair import KernelPair
from .._shapes import cross_entropy_dims, same_shape
from ._module import f32, i32, i64, kernel, row_threads

CU_FILE = "cross_entropy.cu"
KERNEL_NAMES = ("ce_fwd_v1_smem_reduce", "ce_fwd_v2_online_warp", "ce_reduce", "ce_bwd")
_SMEM = {"ce_fwd_v1_smem_reduce": 1, "ce_fwd_v2_online_warp": 0}  # floats per thread


def _targets(targets, N, V, ignore_index):
    t = cupy.ascontiguousarray(cupy.asarray(targets), dtype=cupy.int64)  # (N,)
    bad = (t != ignore_index) & ((t < 0) | (t >= V))
    if bool(bad.any()):
        i = int(bad.argmax())
        raise IndexError(
            f"cross_entropy target: id {int(t[i])} at flat position {i} is out of range [0, {V})"
        )
    return t


def _make(fwd_name):
    def forward(logits, targets, ignore_index=-100, reduction="mean"):
        """l_n = logsumexp(z_n) - z_{n, y_n}; mean over non-ignored rows, sum, or none"""
        logits = f32(logits, "logits", "cross_entropy")
        N, V = cross_entropy_dims(logits.shape, cupy.asarray(targets).shape, reduction)
        t = _targets(targets, N, V, ignore_index)
        losses = cupy.empty(N, dtype=cupy.float32)  # (N,) 0 at ignored rows
        lse = cupy.empty(N, dtype=cupy.float32)  # (N,) logsumexp per row, for the backward
        out = cupy.empty((), dtype=cupy.float32)
        n_valid = cupy.zeros((), dtype=cupy.float32)
        threads = row_threads(V)
        if N:
            kernel(CU_FILE, KERNEL_NAMES, fwd_name)(
                (N,),
                (threads,),
                (logits, t, losses, lse, i32(V), i64(ignore_index)),
                shared_mem=4 * threads * _SMEM[fwd_name],
            )
        kernel(CU_FILE, KERNEL_NAMES, "ce_reduce")(
            (1,),
            (512,),
            (losses, t, i32(N), i64(ignore_index), i32(reduction == "mean"), out, n_valid),
            shared_mem=4 * 512,
        )
        loss = losses if reduction == "none" else out
        return loss, (logits, t, lse, n_valid, ignore_index, reduction)

    def backward(dloss, cache):
        """dz_n = (softmax(z_n) - onehot(y_n)) dl_n, 0 at ignored rows, / #valid for "mean\""""
        logits, t, lse, n_valid, ignore_index, reduction = cache
        N, V = logits.shape
        dloss = f32(dloss, "dloss", "cross_entropy")
        same_shape(
            "dloss", dloss.shape, "loss", (N,) if reduction == "none" else (), "cross_entropy"
        )
        dlogits = cupy.empty_like(logits)
        if N:
            args = (logits, t, lse, dloss, n_valid, dlogits, i32(V), i64(ignore_index))
            flags = (i32(reduction == "none"), i32(reduction == "mean"))
            kernel(CU_FILE, KERNEL_NAMES, "ce_bwd")((N,), (row_threads(V),), (*args, *flags))
        return dlogits

    return KernelPair(forward, backward)


VERSIONS = {
    "v1_smem_reduce": _make("ce_fwd_v1_smem_reduce"),
    "v2_online_warp": _make("ce_fwd_v2_online_warp"),
}
