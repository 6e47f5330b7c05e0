"""Softmax over the last axis in CUDA C (source and version notes: softmax.cu).

Versions: v1_smem_reduce, v2_warp_shuffle, v3_online_warp.
Reference: minillm.ops.softmax.softmax_forward / softmax_backward (axis=-1 only).
"""

import cupy

from .._pair import KernelPair
from .._shapes import last_axis, rows, same_shape
from ._module import f32, i32, kernel, row_threads

CU_FILE = "softmax.cu"
KERNEL_NAMES = (
    "softmax_fwd_v1_smem_reduce",
    "softmax_fwd_v2_warp_shuffle",
    "softmax_fwd_v3_online_warp",
    "softmax_bwd_v1_smem_reduce",
    "softmax_bwd_warp_shuffle",
)


def _make(fwd_name, bwd_name, smem_per_thread):
    def forward(x, axis=-1):
        """s = softmax(x) over the last axis (F17); returns (s, s)"""
        x = f32(x, "x", "softmax")
        last_axis(axis, x.ndim, "softmax")
        R, C = rows(x.shape, "softmax")
        s = cupy.empty_like(x)
        t = row_threads(C)
        if R:
            kernel(CU_FILE, KERNEL_NAMES, fwd_name)(
                (R,), (t,), (x, s, i32(C)), shared_mem=4 * t * smem_per_thread
            )
        return s, s

    def backward(dout, s, axis=-1):
        """dx = s * (dy - sum(dy * s))"""
        dout = f32(dout, "dout", "softmax")
        s = f32(s, "s", "softmax")
        last_axis(axis, s.ndim, "softmax")
        same_shape("dout", dout.shape, "s", s.shape, "softmax")
        R, C = rows(s.shape, "softmax")
        dx = cupy.empty_like(s)
        t = row_threads(C)
        if R:
            kernel(CU_FILE, KERNEL_NAMES, bwd_name)(
                (R,), (t,), (dout, s, dx, i32(C)), shared_mem=4 * t * smem_per_thread
            )
        return dx

    return KernelPair(forward, backward)


VERSIONS = {
    "v1_smem_reduce": _make("softmax_fwd_v1_smem_reduce", "softmax_bwd_v1_smem_reduce", 1),
    "v2_warp_shuffle": _make("softmax_fwd_v2_warp_shuffle", "softmax_bwd_warp_shuffle", 0),
    "v3_online_warp": _make("softmax_fwd_v3_online_warp", "softmax_bwd_warp_shuffle", 0),
}
