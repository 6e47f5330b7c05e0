"""The position-wise feed-forward sub-layer (C14)."""

from ..ops import activations as _act
from ..ops import gelu as _gelu
from .layers import Dropout, Linear
from .module import Module

ACTIVATIONS = {
    "relu": _act.relu,
    "gelu": lambda x: _gelu.gelu(x, "none"),
    "gelu_tanh": lambda x: _gelu.gelu(x, "tanh"),
}


class FeedForward(Module):
    """FFN(x) = act(x W_1 + b_1) W_2 + b_2, applied to every position alone (Vaswani et al. 3.3).

    activation: "relu" (the paper), "gelu" (exact erf, BERT/nanoGPT) or "gelu_tanh" (GPT-2)."""

    def __init__(self, d_model, d_ff, activation="gelu", dropout=0.0, bias=True, rng=None):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"FeedForward: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}"
            )
        self.activation = activation
        self.W_1 = Linear(d_model, d_ff, bias=bias, rng=rng)
        self.W_2 = Linear(d_ff, d_model, bias=bias, rng=rng)
        self.drop = Dropout(dropout)

    def forward(self, x):
        h = ACTIVATIONS[self.activation](self.W_1(x))  # (B, T, C) -> (B, T, F)
        return self.drop(self.W_2(h))  # (B, T, F) -> (B, T, C)

    def extra_repr(self):
        return f"activation={self.activation!r}"
