"""The Transformer decoder layer (C13, C14): masked self-attention, encoder-decoder (cross)
attention on the encoder's output, and feed-forward, each with a residual and a layer norm."""

from .attention import MultiHeadAttention, check_input
from .feedforward import FeedForward
from .layers import Dropout, LayerNorm
from .module import Module


class TransformerDecoderLayer(Module):
    """norm_first=False (post-LN, Vaswani et al. 3.1):
        x = LN_1(x + SelfAttn(x));  x = LN_2(x + CrossAttn(x, m));  x = LN_3(x + FFN(x))
    norm_first=True (pre-LN):
        x = x + SelfAttn(LN_1(x));  x = x + CrossAttn(LN_2(x), m);  x = x + FFN(LN_3(x))
    with m the encoder output ("memory"): queries from the decoder, keys and values from m.

    The self-attention is masked (tgt_is_causal=True) so position t sees targets <= t only.
    Deviation: pre-LN is not the paper's placement (see TransformerEncoderLayer); the memory is
    used as it comes (pre-LN does not normalise it here: the encoder stack's final norm does)."""

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
        self.cross_attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout, rng=rng)
        self.ff = FeedForward(d_model, d_ff, activation, dropout, bias=bias, rng=rng)
        self.norm1 = LayerNorm(d_model, eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps, bias=bias)
        self.norm3 = LayerNorm(d_model, eps, bias=bias)
        self.drop1 = Dropout(dropout)
        self.drop2 = Dropout(dropout)

    def forward(self, x, memory, tgt_mask=None, memory_mask=None, tgt_is_causal=False, cache=None):
        """x (B, T, C), memory (B, S, C) -> (B, T, C).

        tgt_mask broadcasts to (B, H, T, T), memory_mask to (B, H, T, S); boolean True = may
        attend (or float, added to the scores). cache: a KVCache for the self-attention, to decode
        one position at a time. The attention weights: nn.record_attention (C24)."""
        check_input(x, self.d_model, "TransformerDecoderLayer")
        check_input(memory, self.d_model, "TransformerDecoderLayer", "memory")

        def sa(h):
            return self.drop1(self.self_attn(h, None, tgt_mask, tgt_is_causal, cache))

        def ca(h):
            return self.drop2(self.cross_attn(h, memory, memory_mask))

        if self.norm_first:
            x = x + sa(self.norm1(x))  # (B, T, C)
            x = x + ca(self.norm2(x))  # (B, T, C)
            x = x + self.ff(self.norm3(x))  # (B, T, C)
        else:
            x = self.norm1(x + sa(x))  # (B, T, C)
            x = self.norm2(x + ca(x))  # (B, T, C)
            x = self.norm3(x + self.ff(x))  # (B, T, C)
        return x

    def extra_repr(self):
        return f"norm_first={self.norm_first}"
