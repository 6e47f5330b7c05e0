"""Adam: bias-corrected first and second moment estimates of the gradient (Kingma & Ba, 2015)."""

import numbers

from minillm.tensor.backend import array_module

from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam with L2 weight decay added to the gradient, PyTorch's exact update (C21).

    For each parameter p with gradient g, at its step t = 1, 2, ...:

        g   <- g + weight_decay * p                      (L2 term, when weight_decay != 0)
        m_t  = m_{t-1} + (1 - beta1) * (g - m_{t-1})     (= beta1 m_{t-1} + (1 - beta1) g)
        v_t  = beta2 * v_{t-1} + (1 - beta2) * g * g
        p   <- p - lr / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)

    with m_0 = v_0 = 0. State per parameter: "step" (int), "exp_avg" (m), "exp_avg_sq" (v).
    AdamW (adamw.py) is the same update with the decay decoupled from the gradient.

    Deviation: the paper has no weight decay; PyTorch's Adam folds it into g as an L2 penalty, and
    so do we. eps is added to the bias-corrected sqrt(v_hat), as in the paper's Algorithm 1 and
    PyTorch (not the paper's "efficient" variant, which adds eps before bias correction).
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _validate_group(self, group: dict) -> None:
        super()._validate_group(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {group['betas']!r}")
        betas = tuple(betas)
        for i, beta in enumerate(betas):
            if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0 <= beta < 1:
                raise ValueError(f"invalid beta{i + 1}={beta!r}; expected 0 <= beta{i + 1} < 1")
        group["betas"] = betas
        if not group["eps"] >= 0.0:
            raise ValueError(f"invalid eps={group['eps']}; expected eps >= 0")
        if not group["weight_decay"] >= 0.0:
            raise ValueError(
                f"invalid weight_decay={group['weight_decay']}; expected weight_decay >= 0"
            )

    def _update_group(self, group: dict) -> None:
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        weight_decay = group["weight_decay"]
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            xp = array_module(p.data)
            state = self.state.get(p)
            if state is None:
                state = {
                    "step": 0,
                    "exp_avg": xp.zeros_like(p.data),  # m, shape of p
                    "exp_avg_sq": xp.zeros_like(p.data),  # v, shape of p
                }
                self.state[p] = state
            state["step"] += 1
            t = state["step"]
            m = state["exp_avg"]
            v = state["exp_avg_sq"]
            if weight_decay != 0:
                if self.decoupled_weight_decay:
                    p.data *= 1 - lr * weight_decay
                else:
                    g = g + weight_decay * p.data  # a new array: the caller's grad is kept
            # BEGIN EXERCISE C21: in place: m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2)
            # g^2; p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
            tmp = xp.subtract(g, m)  # shape of p: the one scratch array of this update
            tmp *= 1 - beta1
            m += tmp
            v *= beta2
            xp.multiply(g, g, out=tmp)
            tmp *= 1 - beta2
            v += tmp
            step_size = lr / (1 - beta1**t)
            xp.sqrt(v, out=tmp)
            tmp /= (1 - beta2**t) ** 0.5
            tmp += eps  # tmp = denominator
            xp.divide(m, tmp, out=tmp)
            tmp *= step_size
            p.data -= tmp
            # END EXERCISE
