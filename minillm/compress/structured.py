"""Structured pruning (C3): remove whole attention heads and feed-forward neurons, so the
matrices really shrink (fewer bytes, fewer FLOPs, a faster dense matmul), unlike unstructured
sparsity.

Importance scores:
    head h of layer l:  I_lh = L(model with head h masked) - L(model)      (Michel et al. 2019's
                        ablation: the loss change when the head's output is zeroed)
    FFN neuron j:       I_j  = E|a_j| * ||W_2[j, :]||    (how much the neuron writes into the
                        residual stream: its mean activation size times its output weights)
Pruning keeps the highest-scoring heads/neurons and slices W_q, W_k, W_v (columns), W_o (rows),
W_1 (columns, b_1) and W_2 (rows).
"""

import numpy as np

from ..models.checkpoint import record_surgery, register_surgery
from ..nn import Linear, MultiHeadAttention
from ..nn.feedforward import FeedForward
from ..ops import attention as _attn
from ..tensor import Tensor, no_grad


def _sliced(linear: Linear, rows=None, cols=None) -> Linear:
    """A new Linear holding linear.W[rows][:, cols] (and b[cols])."""
    W = linear.W.numpy()  # (in, out)
    W = W if rows is None else W[rows]
    W = W if cols is None else W[:, cols]
    new = Linear(W.shape[0], W.shape[1], linear.b is not None, np.random.default_rng(0), W.dtype)
    new.W.data[...] = W  # (in', out')
    if linear.b is not None:
        new.b.data[...] = linear.b.numpy() if cols is None else linear.b.numpy()[cols]
    return new


class HeadPrunedAttention(MultiHeadAttention):
    """Multi-head attention over a subset of the heads of another (C3, structured): W_q, W_k,
    W_v (C, H' D) and W_o (H' D, C) hold only the kept heads, H' = len(kept).
    Deviation: MultiHeadAttention's forward assumes H D = C; this forward is the same without
    that, and takes no prefix rows (extra_kv, or a cache built with a prefix)."""

    def __init__(self, attn: MultiHeadAttention, kept):
        super().__init__(attn.d_k, 1, dropout=attn.dropout)  # placeholder layers, replaced below
        D = attn.d_k
        self.d_model, self.d_k, self.n_heads, self.kept = attn.d_model, D, len(kept), list(kept)
        cols = np.concatenate([np.arange(h * D, (h + 1) * D) for h in kept])  # (H' D,)
        self.W_q = _sliced(attn.W_q, cols=cols)  # (C, H' D)
        self.W_k = _sliced(attn.W_k, cols=cols)  # (C, H' D)
        self.W_v = _sliced(attn.W_v, cols=cols)  # (C, H' D)
        self.W_o = _sliced(attn.W_o, rows=cols)  # (H' D, C)
        self.attn_drop = attn.attn_drop

    def forward(self, x_q, x_kv=None, attn_mask=None, is_causal=False, cache=None, extra_kv=None):
        if extra_kv is not None or (cache is not None and cache.n_prefix):
            raise ValueError("HeadPrunedAttention: prefix rows (extra_kv) are not supported")
        x_kv = x_q if x_kv is None else x_kv
        B, T, _ = x_q.shape
        q = self._heads(self.W_q(x_q), B, T)  # (B, H', T, D)
        k = self._heads(self.W_k(x_kv), B, x_kv.shape[1])  # (B, H', S, D)
        v = self._heads(self.W_v(x_kv), B, x_kv.shape[1])  # (B, H', S, D)
        if cache is not None:
            k, v = cache.extend(k, v)  # (B, H', S_past + S, D)
        mask = attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask
        p = self.dropout if self.training else 0.0
        out = _attn.scaled_dot_product_attention(q, k, v, mask, p, is_causal,
                                                 return_weights=self.recorder is not None,
                                                 rng=self.attn_drop.rng)  # fmt: skip
        if self.recorder is not None:
            out, weights = out
            self.recorder.append(weights)
        y = out.permute(0, 2, 1, 3).reshape(B, T, self.n_heads * self.d_k)  # (B, T, H' D)
        return self.W_o(y)  # (B, T, C)

    def extra_repr(self):
        return f"d_model={self.d_model}, kept heads={self.kept}"


def _attentions(model):
    return [(p, m) for p, m in model.named_modules() if isinstance(m, MultiHeadAttention)]


def _mean_loss(model, batches) -> float:
    with no_grad():
        return float(np.mean([model(x, y)[1].item() for x, y in batches]))


def head_importance(model, batches) -> dict:
    """attention path -> (H,) loss increase when each head's output is zeroed (the rows of the
    head in W_o's input), averaged over `batches` [(x, y), ...], in eval mode."""
    model.eval()
    base = _mean_loss(model, batches)
    scores = {}
    for path, attn in _attentions(model):
        D, H = attn.d_k, attn.n_heads
        s = np.zeros(H)  # (H,)
        for h in range(H):
            keep = np.ones(H * D, dtype=np.float32)  # (H D,)
            keep[h * D : (h + 1) * D] = 0.0
            with attn.W_o.register_forward_pre_hook(lambda m, args, k=keep: args[0] * k):
                s[h] = _mean_loss(model, batches) - base
        scores[path] = s
    return scores


def ffn_importance(model, batches) -> dict:
    """feed-forward path -> (F,) scores E|a_j| * ||W_2[j, :]||, the mean over `batches` of each
    neuron's absolute activation (the input of W_2) times the norm of its output weights."""
    model.eval()
    ffs = [(p, m) for p, m in model.named_modules() if isinstance(m, FeedForward)]
    sums = {p: 0.0 for p, _ in ffs}

    def recorder(path):
        def hook(module, args):
            a = np.abs(args[0].numpy())  # (B, T, F)
            sums[path] = sums[path] + a.reshape(-1, a.shape[-1]).mean(axis=0)  # (F,)

        return hook

    hooks = [m.W_2.register_forward_pre_hook(recorder(p)) for p, m in ffs]
    try:
        _mean_loss(model, batches)
    finally:
        for h in hooks:
            h.remove()
    return {p: sums[p] / len(batches) * np.linalg.norm(m.W_2.W.numpy(), axis=1) for p, m in ffs}


def prune_heads(model, keep: dict) -> None:
    """keep: attention path -> the head indices to keep (at least one). Swaps each listed
    attention for a HeadPrunedAttention in place; recorded for checkpoints."""
    for path, kept in keep.items():
        attn = model.get_submodule(path)
        if not isinstance(attn, MultiHeadAttention) or isinstance(attn, HeadPrunedAttention):
            raise ValueError(f"prune_heads: {path!r} is not an unpruned MultiHeadAttention")
        kept = sorted(int(h) for h in kept)
        if not kept or len(set(kept)) != len(kept) or not 0 <= kept[0] <= kept[-1] < attn.n_heads:
            raise ValueError(
                f"prune_heads: {path!r} must keep 1..{attn.n_heads} distinct heads in "
                f"[0, {attn.n_heads}), got {kept}"
            )
        model.set_submodule(path, HeadPrunedAttention(attn, kept))
    record_surgery(model, "prune_heads", {"keep": {p: sorted(k) for p, k in keep.items()}})


def prune_ffn(model, keep: dict) -> None:
    """keep: feed-forward path -> the neuron indices to keep (at least one). Slices W_1's
    columns (and b_1) and W_2's rows in place; recorded for checkpoints."""
    for path, kept in keep.items():
        ff = model.get_submodule(path)
        F = ff.W_1.out_features
        kept = np.array(sorted(int(j) for j in kept), dtype=np.int64)  # (F',)
        if kept.size == 0 or len(set(kept)) != kept.size or kept[0] < 0 or kept[-1] >= F:
            raise ValueError(f"prune_ffn: {path!r} must keep 1..{F} distinct neurons in [0, {F})")
        ff.W_1 = _sliced(ff.W_1, cols=kept)  # (C, F')
        ff.W_2 = _sliced(ff.W_2, rows=kept)  # (F', C)
    record_surgery(model, "prune_ffn", {"keep": {p: sorted(int(j) for j in k)
                                                 for p, k in keep.items()}})  # fmt: skip


register_surgery("prune_heads", prune_heads)
register_surgery("prune_ffn", prune_ffn)


def top_k(scores: dict, fraction: float) -> dict:
    """path -> indices of the highest-scoring max(1, round((1 - fraction) * n)) entries: what
    to keep when `fraction` of each layer is removed."""
    keep = {}
    for path, s in scores.items():
        n = max(1, int(round((1.0 - fraction) * len(s))))
        keep[path] = sorted(int(i) for i in np.argsort(-s, kind="stable")[:n])
    return keep
