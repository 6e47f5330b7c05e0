"""Multi-head attention (F19, F14) over scaled dot-product attention (F5), with a KV cache."""

from ..ops import attention as _attn
from ..tensor import Tensor, concatenate, no_grad
from ..tensor.backend import array_module
from .layers import Dropout, Linear
from .module import Module


class KVCache:
    """Keys and values of the positions seen so far, for one attention layer during generation.

    k, v: arrays (B, H, S, D), grown along S by each forward; no gradient flows through them."""

    def __init__(self):
        self.k = None
        self.v = None

    def __len__(self):
        return 0 if self.k is None else self.k.shape[-2]

    def extend(self, k: Tensor, v: Tensor):
        """Append the new positions and return the keys/values of every position so far."""
        with no_grad():
            self.k = k if self.k is None else concatenate([self.k, k], axis=-2)  # (B, H, S, D)
            self.v = v if self.v is None else concatenate([self.v, v], axis=-2)  # (B, H, S, D)
        return self.k, self.v


def check_input(x, d_model, who, name="x"):
    """Raise ValueError unless x is (B, T, d_model), naming the expected and the actual shape."""
    if x.ndim != 3 or x.shape[-1] != d_model:
        raise ValueError(f"{who}: {name} must be (B, T, d_model={d_model}), got shape {x.shape}")


class MultiHeadAttention(Module):
    """MultiHead(X_q, X_kv) = Concat(head_1, ..., head_h) W_o,
    head_i = Attention(X_q W_q^(i), X_kv W_k^(i), X_kv W_v^(i))    (F19, Vaswani et al. 3.2.2)

    The h heads are computed at once: W_q (C, C) holds the h per-head (C, D) projections side by
    side, with d_k = D = d_model / n_heads (F14). Self-attention when x_kv is None, cross-attention
    (C13) otherwise. Masks follow F.scaled_dot_product_attention: boolean True = may attend.
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
        self.W_q = Linear(d_model, d_model, bias, rng)
        self.W_k = Linear(d_model, d_model, bias, rng)
        self.W_v = Linear(d_model, d_model, bias, rng)
        self.W_o = Linear(d_model, d_model, bias, rng)
        self.dropout = dropout
        self.attn_drop = Dropout(dropout)  # owns the generator for attention-weight dropout

    def _heads(self, x, B, T):
        return x.reshape(B, T, self.n_heads, self.d_k).permute(0, 2, 1, 3)  # (B,T,C)->(B,H,T,D)

    def forward(
        self, x_q, x_kv=None, attn_mask=None, is_causal=False, cache=None, return_weights=False
    ):
        """x_q (B, T, C), x_kv (B, S, C) -> (B, T, C); with return_weights also alpha (B, H, T, S).

        cache: a KVCache; the new keys/values are appended and the queries attend to all of them
        (causal masking then lines the last query up with the last key)."""
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
        if cache is not None:
            k, v = cache.extend(k, v)  # (B, H, S_past + S, D)
        S = k.shape[-2]
        _attn.check_attention_shapes(q.data, k.data, v.data, attn_mask)  # before combining masks
        if is_causal and S != T:  # queries are the last T of S positions: bottom-right causal mask
            xp = array_module(q.data)
            mask = _attn.causal_mask(S, S, xp)[S - T :]  # (T, S)
            if attn_mask is not None and attn_mask.dtype != bool:  # a float mask: add -inf
                mask = xp.where(mask, attn_mask, -xp.inf)  # (..., T, S)
            elif attn_mask is not None:
                mask = mask & attn_mask  # (..., T, S)
            attn_mask, is_causal = mask, False
        out = _attn.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask,
            self.dropout if self.training else 0.0,
            is_causal,
            return_weights=return_weights,
            rng=self.attn_drop.rng,
        )
        out, weights = out if return_weights else (out, None)
        y = out.permute(0, 2, 1, 3).reshape(B, T, self.d_model)  # (B,H,T,D) -> (B,T,C)
        y = self.W_o(y)  # (B, T, C)
        return (y, weights) if return_weights else y

    def extra_repr(self):
        return f"d_model={self.d_model}, n_heads={self.n_heads}, d_k={self.d_k}"
