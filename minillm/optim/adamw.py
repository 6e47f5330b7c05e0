"""AdamW: Adam with weight decay decoupled from the gradient (Loshchilov & Hutter, 2019)."""

import numpy as np

from ..tensor import dispatch
from ..tensor.backend import is_cupy_array
from .adam import Adam


class AdamW(Adam):
    """AdamW, PyTorch's exact update (C21: the optimiser of GPT pre-training and fine-tuning).

    For each parameter p with gradient g, at its step t = 1, 2, ...:

        p   <- p - lr * weight_decay * p                 (decay first, on the old p; g unchanged)
        m_t  = m_{t-1} + (1 - beta1) * (g - m_{t-1})
        v_t  = beta2 * v_{t-1} + (1 - beta2) * g * g
        p   <- p - lr / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)

    with m_0 = v_0 = 0. Because the decay never enters m and v, Adam's per-coordinate scaling does
    not weaken it for parameters with large gradients, which is the point of decoupling. Put
    biases and layer-norm gains in a group with weight_decay=0.0.

    The readable update is Adam's (adam.py), one parameter at a time. On float32 NumPy arrays
    the dispatcher may choose a fused kernel instead (kernels/cpu/adamw.py, by default when Numba
    is installed): one loop over each parameter's elements, bitwise equal to Adam's NumPy code.
    `dispatch.use_cpu(adamw="reference")` runs Adam's code.

    Deviation: the paper decays by eta_t * lambda * p with eta_t the schedule multiplier alone;
    here, as in PyTorch, the decay is lr * weight_decay * p, so it follows the learning-rate
    schedule (a different lambda for the same behaviour).
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _update_group(self, group: dict) -> None:
        params = [p for p in group["params"] if p.grad is not None]
        update = dispatch.cpu_pick("adamw", None, lambda version: _kernel_reason(params))
        if update is None:
            return super()._update_group(group)
        states = [self._state_of(p) for p in params]
        for s in states:
            s["step"] += 1
        update(
            [p.data for p in params],
            [p.grad for p in params],
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [s["step"] for s in states],
            group["lr"],
            *group["betas"],
            group["eps"],
            group["weight_decay"],
        )

    def _state_of(self, p) -> dict:
        """p's state, created as Adam creates it: step 0, m = v = 0 of p's shape."""
        if p not in self.state:
            zeros = np.zeros_like(p.data)
            self.state[p] = {"step": 0, "exp_avg": zeros, "exp_avg_sq": zeros.copy()}
        return self.state[p]


def _kernel_reason(params) -> str | None:
    """Why the CPU kernel cannot update these parameters in place, or None."""
    for p in params:
        arrays = (p.data, p.grad)
        if any(is_cupy_array(a) or a.dtype != np.float32 for a in arrays):
            return f"a parameter of {p.data.dtype} on {p.device}: the kernel takes float32 NumPy"
        if not all(a.flags.c_contiguous for a in arrays):
            return "a parameter or gradient that is not C-contiguous"
    return None
