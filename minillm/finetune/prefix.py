"""Prefix tuning (Li & Liang 2021): learned key/value rows in front of every attention layer (C16).

    head_i = softmax(Q [K_p; K] ^T / sqrt(d_k)) [V_p; V]      K_p, V_p (P, D) per layer and head

Every query of every layer also attends to P learned rows, which act like the keys and values of
P "virtual tokens" before the text; the model's weights stay frozen. The rows go in through the
attention's extra_kv path (nn.MultiHeadAttention): they are always visible (no causal or padding
mask hides them) and shift no position, so token t is still at position t and the context length
is unchanged. They are prepended in every forward call, with or without a KV cache, so cached
generation works as before.

Reparameterisation (the paper's section 4.3): training the rows directly is unstable, so during
training they are computed from a smaller matrix P' through an MLP,

    [K_p; V_p] for all layers = tanh(P' W_1 + b_1) W_2 + b_2      P' (P, h), W_2 (h, 2 L C)

and after training only the rows are kept (`collapse_prefix`): the MLP is thrown away, and a
checkpoint holds L * 2 * P * C numbers.

The rows live in `model.prefix` (a PrefixEncoder); a forward pre-hook on the model computes them
once per call and one on each attention layer passes its pair as extra_kv.
"""

import numpy as np

from ..models.checkpoint import record_surgery, register_surgery
from ..nn import Linear, Module, Parameter
from ..tensor import no_grad
from .adapters import encoder_layers
from .freeze import freeze, unfreeze_new_head
from .methods import register_method


class PrefixEncoder(Module):
    """The prefix rows of L attention layers of H heads of size D: forward() -> [(k_p, v_p)] per
    layer, each (1, H, P, D). hidden = 0: the rows are a Parameter `kv` (L, 2, H, P, D); hidden
    > 0: they come from P_prime (P, hidden) through the MLP of the module docstring."""

    PARAM_ROLES = {"kv": "embedding", "P_prime": "embedding"}

    def __init__(self, n_layers, n_heads, d_k, length=10, hidden=0, rng=None, dtype=np.float32):
        super().__init__()
        for name, v, low in (("length", length, 1), ("hidden", hidden, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"prefix tuning: {name} must be an int >= {low}, got {v!r}")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.shape = (n_layers, 2, n_heads, length, d_k)  # (L, 2, H, P, D)
        self.hidden = int(hidden)
        object.__setattr__(self, "paths", [])  # the attention layers, in order (not state)
        C2L = n_layers * 2 * n_heads * d_k
        if hidden:
            self.P_prime = Parameter(rng.standard_normal((length, hidden)).astype(dtype))  # (P, h)
            self.W_1 = Linear(hidden, hidden, rng=rng, dtype=dtype)  # (h, h)
            self.W_2 = Linear(hidden, C2L, rng=rng, dtype=dtype)  # (h, 2 L C)
        else:
            kv = rng.normal(0.0, 0.02, self.shape)  # (L, 2, H, P, D), GPT/BERT's init scale
            self.kv = Parameter(kv.astype(dtype))

    def rows(self):
        """All rows as one Tensor (L, 2, H, P, D)."""
        if not self.hidden:
            return self.kv
        L, two, H, P, D = self.shape
        z = self.W_2(self.W_1(self.P_prime).tanh())  # (P, h) -> (P, h) -> (P, 2 L C)
        return z.reshape(P, L, two, H, D).permute(1, 2, 3, 0, 4)  # -> (L, 2, H, P, D)

    def forward(self):
        kv = self.rows()  # (L, 2, H, P, D)
        _, _, H, P, D = self.shape
        return [(kv[i, 0].reshape(1, H, P, D), kv[i, 1].reshape(1, H, P, D))
                for i in range(self.shape[0])]  # fmt: skip

    def extra_repr(self):
        L, _, H, P, D = self.shape
        return f"layers={L}, heads={H}, length={P}, d_k={D}, hidden={self.hidden}"


def _compute_prefix(model, args):
    """Model pre-hook: the rows of every layer, once per call, handed to the attention layers."""
    for path, pair in zip(model.prefix.paths, model.prefix(), strict=True):
        object.__setattr__(model.get_submodule(path), "_prefix_kv", pair)


def _drop_prefix(model, args, output):
    """Model hook: let go of the rows (and the graph behind them) once the call is done."""
    for path in model.prefix.paths:
        object.__setattr__(model.get_submodule(path), "_prefix_kv", None)


def _insert_prefix(attn, args):
    """Attention pre-hook: pass this layer's (k_p, v_p) as extra_kv, MultiHeadAttention's 6th
    positional argument (x_q, x_kv, attn_mask, is_causal, cache, extra_kv)."""
    pair = attn.__dict__.get("_prefix_kv")
    if pair is None:
        return None
    args = tuple(args) + (None,) * (6 - len(args))
    if args[5] is not None:
        raise ValueError("prefix tuning: this attention call already has extra_kv rows")
    return args[:5] + (pair,)


def add_prefix(model, length=10, hidden=0, seed=0):
    """Give every Transformer layer's self-attention `length` learned key/value rows per head,
    held by a new `model.prefix` (PrefixEncoder, drawn from default_rng([seed, 7])). Records the
    surgery. Returns the model."""
    if "prefix" in model._modules:
        raise ValueError(f"{type(model).__name__} already has prefix rows")
    layers = encoder_layers(model)
    attn = layers[0][1].self_attn
    enc = PrefixEncoder(len(layers), attn.n_heads, attn.d_k, length, hidden,
                        np.random.default_rng([seed, 7]), attn.W_q.W.dtype)  # fmt: skip
    enc.paths.extend(f"{p}.self_attn" if p else "self_attn" for p, _ in layers)
    model.prefix = enc
    for _, layer in layers:
        layer.self_attn.register_forward_pre_hook(_insert_prefix)
    model.register_forward_pre_hook(_compute_prefix)
    model.register_forward_hook(_drop_prefix)
    record_surgery(model, "prefix", {"length": int(length), "hidden": int(hidden)})
    return model


def collapse_prefix(model):
    """After training: replace the reparameterising MLP by the rows it computes (the paper keeps
    only those), so the model and its checkpoint hold L * 2 * P * C prefix numbers. A model
    without an MLP (or without a prefix) is returned as it is."""
    enc = model._modules.get("prefix")
    if enc is None or not enc.hidden:
        return model
    with no_grad():
        rows = enc.rows().data  # (L, 2, H, P, D)
    L, _, H, P, D = enc.shape
    plain = PrefixEncoder(L, H, D, P, 0, 0, rows.dtype)
    plain.kv.data[...] = rows
    plain.kv.requires_grad_(enc.P_prime.requires_grad)
    plain.paths.extend(enc.paths)
    model.prefix = plain  # the slot is kept
    for rec in getattr(model, "surgery", []):
        if rec["name"] == "prefix":
            rec["args"]["hidden"] = 0
    return model


def prepare_to_save(model):
    """A fine-tuned model as its checkpoint should hold it: prefix rows without the MLP that
    reparameterised them in training. LoRA stays unmerged, so a delta checkpoint holds A and B
    rather than a new copy of W (merge_lora gives a plain model instead)."""
    return collapse_prefix(model)


def prefix_method(model, prefix_len=10, prefix_hidden=32):
    """--method=prefix: freeze everything, add prefix rows (reparameterised through an MLP of
    width prefix_hidden while training; 0 = train the rows directly); a fresh head trains."""
    freeze(model)
    add_prefix(model, prefix_len, prefix_hidden)
    model.prefix.requires_grad_(True)
    return unfreeze_new_head(model)


register_surgery("prefix", add_prefix)
register_method(
    "prefix",
    prefix_method,
    "prefix tuning (Li & Liang 2021): learned key/value rows in every attention layer, "
    "reparameterised through a small MLP while training; only they (and a fresh head) train",
    {"prefix_len": 10, "prefix_hidden": 32},
)
