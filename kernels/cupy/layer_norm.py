"""Layer norm over the last axis in CUDA C (source and version notes: layer_norm.cu).

Versions: v1_two_pass, v2_welford, v3_welford_warp.
Reference: minillm.ops.layer_norm.layer_norm_forward / layer_norm_backward; the cache has the
reference's layout (x, gamma, mean, rstd, has_beta), mean and rstd of shape x.shape[:-1] + (1,).
"""

import cupy
import numpy as np

from .._pair import KernelPair
from .._shapes import rows, same_shape
from ._module import blocks, f32, i32, kernel, row_threads

CU_FILE = "layer_norm.cu"
KERNEL_NAMES = (
    "layernorm_fwd_v1_two_pass",
    "layernorm_fwd_v2_welford",
    "layernorm_fwd_v3_welford_warp",
    "layernorm_bwd_dx_smem",
    "layernorm_bwd_dx_warp",
    "layernorm_bwd_dparams",
)
_WARP_ROWS = 8  # rows per 256-thread block in the one-warp-per-row kernels


def _param(p, name, C):
    if p is None:
        return None
    p = f32(p, name, "layer_norm")
    same_shape(name, p.shape, "(C,)", (C,), "layer_norm")
    return p


def _forward(version):
    def forward(x, gamma, beta, eps=1e-5):
        """y = (x - mu) / sqrt(var + eps) * gamma + beta over the last axis (biased var)"""
        x = f32(x, "x", "layer_norm")
        R, C = rows(x.shape, "layer_norm")
        gamma, beta = _param(gamma, "gamma", C), _param(beta, "beta", C)
        y = cupy.empty_like(x)
        mean = cupy.empty(x.shape[:-1] + (1,), dtype=cupy.float32)
        rstd = cupy.empty(x.shape[:-1] + (1,), dtype=cupy.float32)
        g = x if gamma is None else gamma  # any valid pointer when the flag says "absent"
        b = x if beta is None else beta
        flags = (np.float32(eps), i32(gamma is not None), i32(beta is not None))
        if R == 0:
            pass
        elif version == "v3":
            kernel(CU_FILE, KERNEL_NAMES, "layernorm_fwd_v3_welford_warp")(
                (blocks(R, _WARP_ROWS),),
                (32 * _WARP_ROWS,),
                (x, g, b, y, mean, rstd, i32(R), i32(C), *flags),
            )
        else:
            name, per_thread = {
                "v1": ("layernorm_fwd_v1_two_pass", 1),
                "v2": ("layernorm_fwd_v2_welford", 3),
            }[version]
            t = row_threads(C)
            kernel(CU_FILE, KERNEL_NAMES, name)(
                (R,), (t,), (x, g, b, y, mean, rstd, i32(C), *flags), shared_mem=4 * t * per_thread
            )
        return y, (x, gamma, mean, rstd, beta is not None)

    return forward


def _backward(warp):
    def backward(dy, cache):
        """dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy gamma; dgamma, dbeta row sums"""
        x, gamma, mean, rstd, has_beta = cache
        dy = f32(dy, "dy", "layer_norm")
        same_shape("dy", dy.shape, "x", x.shape, "layer_norm")
        R, C = rows(x.shape, "layer_norm")
        dx = cupy.empty_like(x)
        g = x if gamma is None else gamma
        if R and warp:
            kernel(CU_FILE, KERNEL_NAMES, "layernorm_bwd_dx_warp")(
                (blocks(R, _WARP_ROWS),),
                (32 * _WARP_ROWS,),
                (dy, x, g, mean, rstd, dx, i32(R), i32(C), i32(gamma is not None)),
            )
        elif R:
            t = row_threads(C)
            kernel(CU_FILE, KERNEL_NAMES, "layernorm_bwd_dx_smem")(
                (R,),
                (t,),
                (dy, x, g, mean, rstd, dx, i32(C), i32(gamma is not None)),
                shared_mem=4 * t,
            )
        dgamma = cupy.zeros(C, dtype=cupy.float32)
        dbeta = cupy.zeros(C, dtype=cupy.float32)
        if R and (gamma is not None or has_beta):
            kernel(CU_FILE, KERNEL_NAMES, "layernorm_bwd_dparams")(
                (blocks(C, 32),), (32, 8), (dy, x, mean, rstd, dgamma, dbeta, i32(R), i32(C))
            )
        return dx, (dgamma if gamma is not None else None), (dbeta if has_beta else None)

    return backward


VERSIONS = {
    "v1_two_pass": KernelPair(_forward("v1"), _backward(warp=False)),
    "v2_welford": KernelPair(_forward("v2"), _backward(warp=False)),
    "v3_welford_warp": KernelPair(_forward("v3"), _backward(warp=True)),
}
