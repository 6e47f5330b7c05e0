"""Adapters (Houlsby et al. 2019): a small bottleneck after each sub-layer, the rest frozen (C16).

    Adapter(h) = h + f(h W_down + b_down) W_up + b_up      W_down (C, m), W_up (m, C), m << C

One adapter after the self-attention sub-layer and one after the feed-forward sub-layer of every
Transformer layer, each applied to the sub-layer's output before the residual add (the paper's
figure 2). W_up and b_up start at zero, so a model with fresh adapters computes exactly what the
base model computes, and training starts from the pre-trained function. Each adapter has
2 C m + m + C parameters; the paper trains the layer norms too (here: `adapter_norms`).

The adapters are children of the sub-layers they follow (`blocks.0.self_attn.adapter`,
`blocks.0.ff.adapter`), so they save, load and count like any parameter; a forward hook on the
sub-layer applies them, so neither the sub-layer nor the Transformer layer is rewritten.

Deviation: the paper draws both projections from N(0, 1e-2), near the identity; here the down
projection keeps Linear's default and the up projection is exactly zero, so the identity at the
start is exact (tested).
"""

import numpy as np

from ..models.checkpoint import record_surgery, register_surgery
from ..nn import LayerNorm, Linear, Module, TransformerEncoderLayer
from ..nn.feedforward import ACTIVATIONS
from .freeze import freeze, unfreeze_new_head
from .methods import register_method


class Adapter(Module):
    """h + act(h W_down + b_down) W_up + b_up: (..., C) -> (..., C), W_up = b_up = 0 at the
    start (the identity). act: "gelu" (default), "gelu_tanh" or "relu"."""

    def __init__(self, d_model, size, activation="gelu", rng=None, dtype=np.float32):
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"Adapter: size (the bottleneck m) must be an int >= 1, got {size!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"Adapter: activation must be one of {sorted(ACTIVATIONS)}")
        self.activation = activation
        self.down = Linear(d_model, size, rng=rng, dtype=dtype)  # W_down (C, m)
        self.up = Linear(size, d_model, rng=rng, dtype=dtype)  # W_up (m, C)
        self.up.W.data[...] = 0
        self.up.b.data[...] = 0

    def forward(self, h):
        z = ACTIVATIONS[self.activation](self.down(h))  # (..., C) -> (..., m)
        return h + self.up(z)  # (..., m) -> (..., C), plus the skip

    def extra_repr(self):
        return f"size={self.down.out_features}, activation={self.activation!r}"


def _apply_adapter(module, args, output):
    """Forward hook: the sub-layer's output through the adapter it holds."""
    return module.adapter(output)


def encoder_layers(model) -> list:
    """(path, layer) of every Transformer layer (GPT blocks, BERT layers); ValueError if none."""
    layers = [(p, m) for p, m in model.named_modules() if isinstance(m, TransformerEncoderLayer)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Transformer layers to adapt")
    return layers


def add_adapters(model, size=16, activation="gelu", seed=0):
    """Put an Adapter after the self-attention and the feed-forward sub-layer of every
    Transformer layer (forward hooks); the i-th adapter's down projection draws from
    default_rng([seed, i]). Records the surgery. Returns the model."""
    i = 0
    for _, layer in encoder_layers(model):
        for sub in (layer.self_attn, layer.ff):
            dtype = sub.W_o.W.dtype if sub is layer.self_attn else sub.W_2.W.dtype
            sub.adapter = Adapter(layer.d_model, size, activation, np.random.default_rng([seed, i]),
                                  dtype)  # fmt: skip
            sub.register_forward_hook(_apply_adapter)
            i += 1
    record_surgery(model, "adapter", {"size": int(size), "activation": activation})
    return model


def adapters(model) -> list:
    """(path, Adapter) pairs of a model."""
    return [(p, m) for p, m in model.named_modules() if isinstance(m, Adapter)]


def adapter_method(model, adapter_size=16, adapter_norms=1):
    """--method=adapter: freeze everything, add adapters (they train), and with adapter_norms=1
    the layer norms of the Transformer layers too (the paper's choice); a fresh head trains."""
    freeze(model)
    add_adapters(model, adapter_size)
    for _, a in adapters(model):
        a.requires_grad_(True)
    if adapter_norms:
        for _, layer in encoder_layers(model):
            for m in layer.modules():
                if isinstance(m, LayerNorm):
                    m.requires_grad_(True)
    return unfreeze_new_head(model)


register_surgery("adapter", add_adapters)
register_method(
    "adapter",
    adapter_method,
    "adapters (Houlsby et al. 2019): a zero-initialised bottleneck after each attention and "
    "feed-forward sub-layer; adapters, layer norms (and a fresh head) train",
    {"adapter_size": 16, "adapter_norms": 1},
)
