"""Multi-head attention (F19, F14) over scaled dot-product attention (F5), with a KV cache."""

import contextlib

from ..ops import attention as _attn
from ..tensor import Tensor, concatenate
from ..tensor.backend import array_module
from .kv_cache import KVCache, expand_batch
from .layers import Dropout, Linear
from .module import Module

__all__ = ["KVCache", "MultiHeadAttention", "check_input", "record_attention"]


def check_input(x, d_model, who, name="x"):
    """Raise ValueError unless x is (B, T, d_model), naming the expected and the actual shape."""
    if x.ndim != 3 or x.shape[-1] != d_model:
        raise ValueError(f"{who}: {name} must be (B, T, d_model={d_model}), got shape {x.shape}")


class MultiHeadAttention(Module):
    """MultiHead(X_q, X_kv) = Concat(head_1, ..., head_h) W_o,
    head_i = Attention(X_q W_q^(i), X_kv W_k^(i), X_kv W_v^(i))    (F19, Vaswani et al. 3.2.2)

    The h heads are computed at once: W_q (C, C) holds the h per-head (C, D) projections side by
    side, with d_k = D = d_model / n_heads (F14). Self-attention when x_kv is None, cross-attention
    (C13) otherwise. Masks follow F.scaled_dot_product_attention: boolean True = may attend;
    is_causal is bottom-right aligned (the queries are the last T of the keys).
    forward always returns y (B, T, C); the attention weights are read with record_attention().
    Deviation from torch.nn.MultiheadAttention: its boolean attn_mask means the opposite (True =
    blocked); ours matches torch's scaled_dot_product_attention."""

    def __init__(self, d_model, n_heads, bias=True, dropout=0.0, rng=None):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(
                f"MultiHeadAttention: d_model={d_model} is not divisible by n_heads={n_heads}; "
                f"the head size d_k = d_model / n_heads (F14) must be a whole number"
            )
        self.d_model, self.n_heads, self.d_k = d_model, n_heads, d_model // n_heads
        self.W_q = Linear(d_model, d_model, bias=bias, rng=rng)
        self.W_k = Linear(d_model, d_model, bias=bias, rng=rng)
        self.W_v = Linear(d_model, d_model, bias=bias, rng=rng)
        self.W_o = Linear(d_model, d_model, bias=bias, rng=rng)
        self.dropout = dropout
        self.attn_drop = Dropout(dropout)  # owns the generator for attention-weight dropout
        object.__setattr__(self, "recorder", None)  # a list while record_attention() is on

    def _heads(self, x, B, T):
        return x.reshape(B, T, self.n_heads, self.d_k).permute(0, 2, 1, 3)  # (B,T,C)->(B,H,T,D)

    def forward(self, x_q, x_kv=None, attn_mask=None, is_causal=False, cache=None, extra_kv=None):
        """x_q (B, T, C), x_kv (B, S, C) -> (B, T, C).

        attn_mask broadcasts to (B, H, T, S_tokens), the token keys (cached + new); prefix rows
        (extra_kv, or a cache's prefix) are always visible and get no mask columns of their own.
        cache: a KVCache; the new keys/values are appended and the queries attend to all rows.
        extra_kv: (k_p, v_p), each (B or 1, H, P, D), prepended to the keys and values of this
        call only (prefix tuning without a cache); gradients flow into them."""
        x_kv = x_q if x_kv is None else x_kv
        attn_mask = attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask
        check_input(x_q, self.d_model, "MultiHeadAttention", "x_q")
        check_input(x_kv, self.d_model, "MultiHeadAttention", "x_kv")
        if x_kv.shape[0] != x_q.shape[0]:
            raise ValueError(
                f"MultiHeadAttention: batch sizes differ, x_q {x_q.shape} vs x_kv {x_kv.shape}"
            )
        B, T, _ = x_q.shape
        S = x_kv.shape[1]
        q = self._heads(self.W_q(x_q), B, T)  # (B, H, T, D)
        k = self._heads(self.W_k(x_kv), B, S)  # (B, H, S, D)
        v = self._heads(self.W_v(x_kv), B, S)  # (B, H, S, D)
        n_prefix = 0
        if cache is not None:
            n_prefix = cache.n_prefix
            k, v = cache.extend(k, v)  # (B, H, P + S_past + S, D)
        if extra_kv is not None:
            k_p, v_p = (expand_batch(t, B) if t.shape[0] != B else t for t in extra_kv)
            n_prefix += k_p.shape[-2]
            k = concatenate([k_p, k], axis=-2)  # (B, H, P' + S_all, D)
            v = concatenate([v_p, v], axis=-2)  # (B, H, P' + S_all, D)
        if n_prefix and attn_mask is not None:
            attn_mask = _visible_prefix(attn_mask, n_prefix)  # (..., T, P + S_tokens)
        out = _attn.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask,
            self.dropout if self.training else 0.0,
            is_causal,
            return_weights=self.recorder is not None,
            rng=self.attn_drop.rng,
        )
        if self.recorder is not None:
            out, weights = out  # weights (B, H, T, S) as an array, for plots (C24)
            self.recorder.append(weights)
        y = out.permute(0, 2, 1, 3).reshape(B, T, self.d_model)  # (B,H,T,D) -> (B,T,C)
        return self.W_o(y)  # (B, T, C)

    def extra_repr(self):
        return f"d_model={self.d_model}, n_heads={self.n_heads}, d_k={self.d_k}"


def _visible_prefix(mask, P):
    """Prepend P always-visible key columns to a mask (..., T, S): True, or 0 for a float mask."""
    xp = array_module(mask)
    fill = xp.ones if mask.dtype == bool else xp.zeros
    mask = mask if mask.ndim >= 2 else mask.reshape((1,) * (2 - mask.ndim) + mask.shape)
    cols = fill(mask.shape[:-1] + (P,), dtype=mask.dtype)  # (..., T or 1, P)
    return xp.concatenate([cols, mask], axis=-1)  # (..., T, P + S)


@contextlib.contextmanager
def record_attention(model: Module):
    """Record the attention weights of every MultiHeadAttention inside `model`:

        with record_attention(model) as maps:
            model(idx)
        maps["blocks.0.self_attn"][0]     # (B, H, T, S) weights of the first call (C24)

    maps: module path -> list of arrays, one per forward call while recording."""
    maps = {}
    layers = [(p, m) for p, m in model.named_modules() if isinstance(m, MultiHeadAttention)]
    try:
        for path, m in layers:
            maps[path] = []
            object.__setattr__(m, "recorder", maps[path])
        yield maps
    finally:
        for _, m in layers:
            object.__setattr__(m, "recorder", None)
