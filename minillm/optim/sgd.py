"""Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay."""

from .optimizer import Optimizer


class SGD(Optimizer):
    """SGD with PyTorch's exact semantics (C21).

    For each parameter p with gradient g, at step t (t = 1 on the parameter's first update):

        g   <- g + weight_decay * p                      (L2 term, when weight_decay != 0)
        b_1  = g                                         (first step: the buffer is g, undamped)
        b_t  = momentum * b_{t-1} + (1 - dampening) * g  (t > 1)
        d    = g + momentum * b_t   if nesterov else b_t (d = g when momentum == 0)
        p   <- p - lr * d

    State per parameter: "momentum_buffer" (only when momentum != 0).

    Deviation: Sutskever et al. (2013) keep lr inside the velocity (v = mu v - lr g, p += v); here,
    as in PyTorch, lr multiplies the buffer, which differs only when lr changes between steps.
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
        }
        super().__init__(params, defaults)

    def _validate_group(self, group: dict) -> None:
        super()._validate_group(group)
        if not group["momentum"] >= 0.0:
            raise ValueError(f"invalid momentum={group['momentum']}; expected momentum >= 0")
        if not group["weight_decay"] >= 0.0:
            raise ValueError(
                f"invalid weight_decay={group['weight_decay']}; expected weight_decay >= 0"
            )
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "Nesterov momentum requires momentum > 0 and dampening == 0, got "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def _update_group(self, group: dict) -> None:
        lr = group["lr"]
        momentum = group["momentum"]
        dampening = group["dampening"]
        weight_decay = group["weight_decay"]
        for p in group["params"]:
            if p.grad is None:
                continue
            d = p.grad
            if weight_decay != 0:
                d = d + weight_decay * p.data  # a new array: the caller's grad stays as it was
            if momentum != 0:
                state = self.state.setdefault(p, {})
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = d.copy()
                    state["momentum_buffer"] = buf
                else:
                    buf *= momentum
                    buf += (1 - dampening) * d
                d = d + momentum * buf if group["nesterov"] else buf
            p.data -= lr * d
