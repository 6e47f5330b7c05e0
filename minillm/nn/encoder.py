"""The Transformer encoder layer (C14): self-attention and feed-forward, each with a residual
connection and layer normalisation, in the paper's post-LN or GPT-2's pre-LN placement."""

from .attention import MultiHeadAttention, check_input
from .feedforward import FeedForward
from .layers import Dropout, LayerNorm
from .module import Module


class TransformerEncoderLayer(Module):
    """norm_first=False (post-LN, Vaswani et al.):  x = LN_1(x + SA(x));  x = LN_2(x + FFN(x))
    norm_first=True (pre-LN, GPT-2):                x = x + SA(LN_1(x));  x = x + FFN(LN_2(x))

    Deviation: pre-LN is not the paper's placement; it trains deep stacks without warm-up tricks and
    is what GPT-2 and nanoGPT use. Sub-layer outputs pass through dropout before the residual add
    (PyTorch also drops inside the FFN, after the activation; we do not).
    With is_causal=True this is a GPT block (a decoder-only layer without cross-attention)."""

    def __init__(
        self,
        d_model,
        n_heads,
        d_ff,
        dropout=0.0,
        activation="relu",
        *,
        norm_first=False,
        bias=True,
        eps=1e-5,
        rng=None,
    ):
        super().__init__()
        self.d_model, self.norm_first = d_model, norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout, rng=rng)
        self.ff = FeedForward(d_model, d_ff, activation, dropout, bias=bias, rng=rng)
        self.norm1 = LayerNorm(d_model, eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps, bias=bias)
        self.drop1 = Dropout(dropout)

    def forward(self, x, attn_mask=None, is_causal=False, cache=None, extra_kv=None):
        """x (B, T, C) -> (B, T, C). attn_mask, is_causal, cache and extra_kv go to the
        self-attention (see MultiHeadAttention.forward); its weights: nn.record_attention (C24)."""
        check_input(x, self.d_model, "TransformerEncoderLayer")

        def sa(h):
            return self.drop1(self.self_attn(h, None, attn_mask, is_causal, cache, extra_kv))

        if self.norm_first:
            x = x + sa(self.norm1(x))  # (B, T, C)
            x = x + self.ff(self.norm2(x))  # (B, T, C)
        else:
            x = self.norm1(x + sa(x))  # (B, T, C)
            x = self.norm2(x + self.ff(x))  # (B, T, C)
        return x

    def extra_repr(self):
        return f"norm_first={self.norm_first}"
