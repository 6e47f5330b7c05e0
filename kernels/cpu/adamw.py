"""AdamW's update of many parameters on the CPU, fused into one loop per element (Numba).

For each parameter p with gradient g, moments m, v and step t (m, v, p updated in place):

  p <- p (1 - lr wd);  m <- m + (1 - beta1)(g - m);  v <- beta2 v + (1 - beta2) g^2
  p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

Versions:
  v1_per_tensor    one call of the fused loop per parameter: reads p, g, m, v once and writes
                   p, m, v once, where NumPy makes ~12 passes with a scratch array.
  v2_multi_tensor  the same loop over every parameter in one call (a tuple of flat views),
                   PyTorch's multi-tensor idea: one dispatch per step instead of one per
                   parameter. Numba compiles it once per parameter count.
Each is bitwise equal to minillm.optim.Adam's NumPy update with decoupled decay (AdamW): the
same float32 operations in the same order (the scalars rounded to float32 as NumPy does; no
fast-math, so no fused multiply-add).
Signature (no backward: an optimizer step has none): update(params, grads, exp_avgs,
exp_avg_sqs, steps, lr, beta1, beta2, eps, weight_decay), lists of float32 arrays and the step
number t of each parameter, after its increment.
"""

import numpy as np
from numba import njit

from ._math import JIT, f32


@njit(**JIT)
def _update(p, g, m, v, decay, c1, b2, c2, bc2, eps, step_size):
    for i in range(p.size):
        pi = p[i] * decay
        mi = m[i] + (g[i] - m[i]) * c1
        vi = v[i] * b2 + (g[i] * g[i]) * c2
        m[i] = mi
        v[i] = vi
        p[i] = pi - (mi / (np.sqrt(vi) / bc2 + eps)) * step_size


@njit(**JIT)
def _update_all(ps, gs, ms, vs, decay, c1, b2, c2, bc2, eps, step_size):
    for k in range(len(ps)):
        _update(ps[k], gs[k], ms[k], vs[k], decay, c1, b2, c2, bc2[k], eps, step_size[k])


def _scalars(steps, lr, beta1, beta2, eps, weight_decay):
    """The float32 scalars of the update, rounded from float64 as NumPy rounds a Python float."""
    decay = f32(1 - lr * weight_decay) if weight_decay != 0 else f32(1.0)
    bc2 = np.array([(1 - beta2**t) ** 0.5 for t in steps], np.float32)  # sqrt(1 - beta2^t)
    step_size = np.array([lr / (1 - beta1**t) for t in steps], np.float32)
    return decay, f32(1 - beta1), f32(beta2), f32(1 - beta2), bc2, f32(eps), step_size


def _flat(arrays):
    return tuple(a.reshape(-1) for a in arrays)  # views: every array is C-contiguous


def v1_per_tensor(params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, eps,
                  weight_decay):  # fmt: skip
    decay, c1, b2, c2, bc2, eps32, step_size = _scalars(steps, lr, beta1, beta2, eps, weight_decay)
    for k, (p, g, m, v) in enumerate(zip(*map(_flat, (params, grads, exp_avgs, exp_avg_sqs)))):
        _update(p, g, m, v, decay, c1, b2, c2, bc2[k], eps32, step_size[k])


def v2_multi_tensor(params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, eps,
                    weight_decay):  # fmt: skip
    if not params:
        return
    decay, c1, b2, c2, bc2, eps32, step_size = _scalars(steps, lr, beta1, beta2, eps, weight_decay)
    flat = [_flat(a) for a in (params, grads, exp_avgs, exp_avg_sqs)]
    _update_all(*flat, decay, c1, b2, c2, bc2, eps32, step_size)


VERSIONS = {"v1_per_tensor": v1_per_tensor, "v2_multi_tensor": v2_multi_tensor}
