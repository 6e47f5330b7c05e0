"""The one table between minillm's GPT parameter names and nanoGPT's (GPT-2's) checkpoint names.

minillm's Linear stores W as (in, out) (row vectors, y = x W); PyTorch's nn.Linear stores weight
as (out, in), so every Linear weight is transposed on the way. nanoGPT fuses the three attention
projections into one c_attn of shape (3C, C); minillm keeps W_q, W_k, W_v apart, so c_attn is
their concatenation (q, k, v order, along the output axis).
"""

import numpy as np

from .names import expand_rows

# (minillm name, nanoGPT name, how): "copy" = same array, "T" = transposed (Linear weights),
# "qkv_W" / "qkv_b" = the fused c_attn weight / bias built from W_q, W_k, W_v. Block entries use
# "{i}" for the layer index; entries whose minillm parameter is absent (bias=False, tied head)
# are skipped.
TABLE = (
    ("wte.W", "transformer.wte.weight", "copy"),
    ("wpe.W", "transformer.wpe.weight", "copy"),
    ("blocks.{i}.norm1.gamma", "transformer.h.{i}.ln_1.weight", "copy"),
    ("blocks.{i}.norm1.beta", "transformer.h.{i}.ln_1.bias", "copy"),
    ("blocks.{i}.self_attn.W_{{q,k,v}}.W", "transformer.h.{i}.attn.c_attn.weight", "qkv_W"),
    ("blocks.{i}.self_attn.W_{{q,k,v}}.b", "transformer.h.{i}.attn.c_attn.bias", "qkv_b"),
    ("blocks.{i}.self_attn.W_o.W", "transformer.h.{i}.attn.c_proj.weight", "T"),
    ("blocks.{i}.self_attn.W_o.b", "transformer.h.{i}.attn.c_proj.bias", "copy"),
    ("blocks.{i}.norm2.gamma", "transformer.h.{i}.ln_2.weight", "copy"),
    ("blocks.{i}.norm2.beta", "transformer.h.{i}.ln_2.bias", "copy"),
    ("blocks.{i}.ff.W_1.W", "transformer.h.{i}.mlp.c_fc.weight", "T"),
    ("blocks.{i}.ff.W_1.b", "transformer.h.{i}.mlp.c_fc.bias", "copy"),
    ("blocks.{i}.ff.W_2.W", "transformer.h.{i}.mlp.c_proj.weight", "T"),
    ("blocks.{i}.ff.W_2.b", "transformer.h.{i}.mlp.c_proj.bias", "copy"),
    ("ln_f.gamma", "transformer.ln_f.weight", "copy"),
    ("ln_f.beta", "transformer.ln_f.bias", "copy"),
    ("lm_head.W", "lm_head.weight", "T"),
)


def _rows(n_layers):
    """The table with "{i}" filled in for every layer (names.expand_rows), the fused rows with
    their three minillm names: (minillm names, nanoGPT name, how)."""
    for m, t, how in expand_rows(TABLE, n_layers):
        names = [m.replace("{q,k,v}", s) for s in "qkv"] if how.startswith("qkv") else [m]
        yield names, t, how


def to_nanogpt(state: dict, n_layers: int) -> dict:
    """minillm GPT state dict -> nanoGPT names and layouts (numpy arrays).

    A tied model (no lm_head.W) also gets lm_head.weight = wte, as nanoGPT's state dict has it."""
    out = {}
    for names, theirs, how in _rows(n_layers):
        if not all(n in state for n in names):
            continue
        arrays = [np.asarray(state[n]) for n in names]
        if how == "qkv_W":
            out[theirs] = np.concatenate(arrays, axis=1).T  # 3 x (C, C) -> (C, 3C) -> (3C, C)
        elif how == "qkv_b":
            out[theirs] = np.concatenate(arrays)  # 3 x (C,) -> (3C,)
        else:
            out[theirs] = arrays[0].T if how == "T" else arrays[0]
    if "lm_head.W" not in state:
        out["lm_head.weight"] = np.asarray(state["wte.W"])  # (V, C), tied
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def from_nanogpt(state: dict, n_layers: int, tie_weights: bool = True) -> dict:
    """nanoGPT state dict (numpy arrays) -> minillm GPT names and layouts."""
    out = {}
    for names, theirs, how in _rows(n_layers):
        if theirs not in state or (names[0] == "lm_head.W" and tie_weights):
            continue
        a = np.asarray(state[theirs])
        if how == "qkv_W":
            for n, part in zip(names, np.split(a.T, 3, axis=1)):  # (C, 3C) -> 3 x (C, C)
                out[n] = part
        elif how == "qkv_b":
            for n, part in zip(names, np.split(a, 3)):  # (3C,) -> 3 x (C,)
                out[n] = part
        else:
            out[names[0]] = a.T if how == "T" else a
    return {k: np.ascontiguousarray(v) for k, v in out.items()}
