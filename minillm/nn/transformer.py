"""Stacks of Transformer layers: the encoder and the decoder of C13, and F4's composition."""

import copy

from .containers import ModuleList
from .module import Module


def _make_layers(layer, num_layers, who):
    """num_layers layers from a factory (a fresh, independently initialised layer per call) or
    from one layer (deep-copied, so every copy starts with the same weights, as PyTorch)."""
    if num_layers < 1:
        raise ValueError(f"{who}: num_layers must be >= 1, got {num_layers}")
    if isinstance(layer, Module):
        return ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
    if callable(layer):
        return ModuleList(layer() for _ in range(num_layers))
    raise TypeError(f"{who}: expected a layer Module or a factory, got {type(layer).__name__}")


class TransformerEncoder(Module):
    """f(x) = norm(A_L(... A_2(A_1(x)) ...))   (F4, C13 encoder)

    F4 writes the stack as a product A_1 . A_2 . ... . A_L . x; each A_l is a block (attention,
    feed-forward, residuals, layer norms), which is not linear, so the stack is the composition
    of functions applied first to last, not a matrix product (erratum, docs/transformer.md).
    layer: a factory `() -> TransformerEncoderLayer` or one layer to deep-copy. norm: an optional
    final LayerNorm (needed with pre-LN layers, whose output is otherwise unnormalised)."""

    def __init__(self, layer, num_layers, norm=None):
        super().__init__()
        self.layers = _make_layers(layer, num_layers, "TransformerEncoder")
        self.norm = norm

    def forward(self, x, attn_mask=None, is_causal=False):
        """x (B, S, C) -> (B, S, C); the attention weights: nn.record_attention (C24)."""
        for layer in self.layers:
            x = layer(x, attn_mask, is_causal)  # (B, S, C)
        return self.norm(x) if self.norm is not None else x


class TransformerDecoder(Module):
    """y = norm(D_L(... D_1(x, m) ..., m)): decoder layers, each reading the memory m (C13).

    layer: a factory `() -> TransformerDecoderLayer` or one layer to deep-copy; norm: an optional
    final LayerNorm (use one with pre-LN layers)."""

    def __init__(self, layer, num_layers, norm=None):
        super().__init__()
        self.layers = _make_layers(layer, num_layers, "TransformerDecoder")
        self.norm = norm

    def forward(self, x, memory, tgt_mask=None, memory_mask=None, tgt_is_causal=False, caches=None):
        """x (B, T, C), memory (B, S, C) -> (B, T, C). caches: one KVCache per layer (or None).
        The attention weights: nn.record_attention (C24)."""
        if caches is not None and len(caches) != len(self.layers):
            raise ValueError(
                f"TransformerDecoder: got {len(caches)} caches for {len(self.layers)} layers"
            )
        for i, layer in enumerate(self.layers):
            cache = None if caches is None else caches[i]
            x = layer(x, memory, tgt_mask, memory_mask, tgt_is_causal, cache)  # (B, T, C)
        return self.norm(x) if self.norm is not None else x
