"""AdamW: Adam with weight decay decoupled from the gradient (Loshchilov & Hutter, 2019)."""

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

    Deviation: the paper decays by eta_t * lambda * p with eta_t the schedule multiplier alone;
    here, as in PyTorch, the decay is lr * weight_decay * p, so it follows the learning-rate
    schedule (a different lambda for the same behaviour).
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
