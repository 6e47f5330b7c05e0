"""What an initialisation scheme (C1, minillm.nn.init.init_scheme_) does to a deep network:
per-layer activation and gradient sizes, read with forward hooks after one forward/backward.

    activation RMS of block l:  sqrt(mean(x_l^2)),  x_l the residual stream after block l
    gradient RMS of block l:    sqrt(sum_p ||dL/dp||^2 / sum_p |p|) over block l's parameters
A good scheme keeps both roughly level across depth: neither growing (exploding) nor shrinking
towards 0 (vanishing) as l increases.
"""

import numpy as np


def layer_statistics(model, x, y, blocks=None) -> dict:
    """{"loss", "activation_rms": [L], "grad_rms": [L]} of `model` on one batch (x, y), blocks =
    model.blocks by default. Runs one forward and backward; gradients are cleared afterwards."""
    blocks = list(model.blocks if blocks is None else blocks)
    acts = []
    hooks = [
        b.register_forward_hook(
            lambda m, args, out: acts.append(
                float(np.sqrt(np.mean(out.numpy().astype(np.float64) ** 2)))
            )
        )  # fmt: skip
        for b in blocks
    ]
    model.zero_grad()
    try:
        _, loss = model(x, y)
        loss.backward()
    finally:
        for h in hooks:
            h.remove()
    grads = []
    for b in blocks:
        ps = [p for p in b.parameters() if p.grad is not None]
        sq = sum(float((p.grad.astype(np.float64) ** 2).sum()) for p in ps)
        grads.append(float(np.sqrt(sq / max(sum(p.size for p in ps), 1))))
    model.zero_grad()
    return {"loss": loss.item(), "activation_rms": acts, "grad_rms": grads}
