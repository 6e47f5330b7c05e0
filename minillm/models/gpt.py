"""GPT: a decoder-only Transformer language model, nanoGPT's architecture (GPT-2 style).

    x_0 = W_te[idx] + W_pe[pos]                                 token + learned position embedding
    x_l = Block_l(x_{l-1}),  l = 1..L                            pre-LN blocks, causal attention
    logits = LN_f(x_L) W_te^T                                    output head tied to W_te (C2)
    loss = -(1/N) sum_n log softmax(logits_n)[y_n]               mean over all B*T positions (F9)

The model computes p(y_t | y_<t) at every position at once (F1); perplexity = exp(loss).
"""

import math
from dataclasses import dataclass

import numpy as np

from ..nn import (
    Dropout,
    Embedding,
    KVCache,
    LayerNorm,
    Linear,
    Module,
    ModuleList,
    TiedLinear,
    TransformerEncoderLayer,
    init,
)
from ..ops import cross_entropy as _ce
from ..tensor import Tensor
from ..tensor.backend import array_module
from ..tensor.recompute import checkpoint
from .config import ModelConfig

IGNORE_INDEX = -100  # targets equal to this are left out of the loss (PyTorch's default)


@dataclass(frozen=True)
class GPTConfig(ModelConfig):
    """The shape of a GPT. Field names are minillm's one vocabulary (docs/notation.md); nanoGPT's
    n_layer, n_head and n_embd are read as aliases by from_dict. The defaults are nanoGPT's CPU
    "baby GPT" (4 x 4 x 128, 64 characters of context), the model `minillm train` trains."""

    vocab_size: int | None = None  # V: number of token ids (None until a tokenizer fixes it)
    block_size: int = 64  # the longest context, = rows of the position-embedding table
    n_layers: int = 4  # L: number of Transformer blocks
    n_heads: int = 4  # H: attention heads per block; must divide d_model (F14)
    d_model: int = 128  # C: the width of the residual stream
    dropout: float = 0.0  # dropout rate on embeddings, attention weights and sub-layer outputs
    bias: bool = False  # biases in Linear layers and LayerNorms (nanoGPT's default is True)
    tie_weights: bool = True  # output head = token-embedding matrix transposed (C2)

    ALIASES = {"n_layer": "n_layers", "n_head": "n_heads", "n_embd": "d_model"}

    def __post_init__(self):
        self._check_ints("vocab_size", "block_size", "n_layers", "n_heads", "d_model",
                         allow_none=("vocab_size",))  # fmt: skip
        if self.d_model % self.n_heads != 0:
            raise ValueError(
                f"GPTConfig: d_model={self.d_model} is not divisible by n_heads={self.n_heads} "
                "(F14: d_k = d_model / n_heads)"
            )
        self._check_dropout()


class GPT(Module):
    """GPT(config, seed=0): nanoGPT's model with minillm's layer names.

    Modules: wte (V, C) token embedding, wpe (block_size, C) position embedding, blocks.<l>
    (pre-LN TransformerEncoderLayer with tanh-GELU, d_ff = 4C), ln_f, and lm_head: a TiedLinear
    over wte (tie_weights, C2) or a Linear (C, V) of its own.

    Initialisation (C1, GPT-2 / nanoGPT), by module type (nn.init.init_normal_), drawn from
    np.random.default_rng(seed):
    - every Linear and Embedding weight ~ N(0, 0.02): small enough that the residual stream starts
      near the embeddings and the softmax outputs start near uniform (loss ~ ln V);
    - biases = 0 and LayerNorm gamma = 1, beta = 0: each block starts as the identity plus noise;
    - the residual projections (residual_projections(): attention W_o and feed-forward W_2, which
      write into the residual stream) ~ N(0, 0.02 / sqrt(2 L)): the stream adds 2L such outputs,
      so their summed variance stays that of one layer however deep the model is (GPT-2 paper,
      section 2.3).
    The dropout generators are seeded from `seed` too, so a seed fixes the whole run.

    Deviation: nanoGPT uses the exact erf GELU; we use GPT-2's tanh form ("gelu_tanh"), and the
    attention projections W_q, W_k, W_v are three matrices (nanoGPT fuses them into c_attn; the
    name table in gpt_names.py converts). Targets of -100 are ignored (nanoGPT uses -1).
    """

    def __init__(self, config: GPTConfig, seed: int = 0):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT: config must be a GPTConfig, got {type(config).__name__}")
        if config.vocab_size is None:
            raise ValueError("GPT: config.vocab_size is None; set it from the tokenizer")
        self.config = config
        C = config.d_model
        rng = np.random.default_rng(seed)  # consumed by the layers' own init, then overwritten
        self.wte = Embedding(config.vocab_size, C)  # (V, C)
        self.wpe = Embedding(config.block_size, C)  # (block_size, C)
        self.drop = Dropout(config.dropout)
        self.blocks = ModuleList(
            TransformerEncoderLayer(
                C,
                config.n_heads,
                4 * C,
                config.dropout,
                "gelu_tanh",
                norm_first=True,
                bias=config.bias,
                rng=rng,
            )
            for _ in range(config.n_layers)
        )
        self.ln_f = LayerNorm(C, bias=config.bias)
        tied = config.tie_weights
        self.lm_head = (
            TiedLinear(self.wte) if tied else Linear(C, config.vocab_size, bias=False, rng=rng)
        )
        self.recompute = False  # C10: True = blocks keep only their input, recomputed in backward
        self.init_weights(seed)

    @property
    def context_length(self) -> int:
        """The longest context the model takes (generation crops to it)."""
        return self.config.block_size

    def residual_projections(self) -> list:
        """The Linear layers that write into the residual stream (C1's scaled init)."""
        return [m for b in self.blocks for m in (b.self_attn.W_o, b.ff.W_2)]

    def init_weights(self, seed: int = 0) -> None:
        """Re-draw every parameter with the GPT-2 scheme above, and re-seed dropout."""
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layers)
        rng = np.random.default_rng(seed)
        init.init_normal_(self, rng, 0.02, self.residual_projections(), residual_std)
        self.seed_rngs(seed)

    def num_params(self, non_embedding: bool = True, trainable_only: bool = False) -> int:
        """Number of parameters; by default without the position embedding wpe, as nanoGPT
        counts (the token embedding stays in: it is also the output head)."""
        n = super().num_params(trainable_only)
        drop_wpe = non_embedding and (self.wpe.W.requires_grad or not trainable_only)
        return n - self.wpe.W.size if drop_wpe else n

    def new_caches(self, prefix=None) -> list:
        """One KVCache per block, for `forward(idx, caches=...)` (generation). prefix: one
        (k_p, v_p) pair of Tensors (B or 1, H, P, D) per block, rows every query attends to
        before the tokens (prefix tuning); they do not shift positions or use up block_size."""
        if prefix is None:
            return [KVCache() for _ in self.blocks]
        if len(prefix) != len(self.blocks):
            raise ValueError(f"GPT: got {len(prefix)} prefix pairs for {len(self.blocks)} blocks")
        return [KVCache(p) for p in prefix]

    def forward(self, idx, targets=None, caches=None, last_only=False, attention_mask=None):
        """idx (B, T) ints -> (logits (B, T, V), loss or None).

        targets (B, T) ints: the loss is the mean cross-entropy over all B*T positions (F9),
        targets of -100 left out.
        caches: from new_caches(); the T new tokens then sit at positions cache.position ..
        cache.position + T - 1, attend to every cached row, and are appended to the caches.
        attention_mask (B, S) of 1 (token) / 0 (padding), S = cached + new positions, as Hugging
        Face's: padded keys are never attended to, and each row's positions count its tokens
        only (position = number of real tokens before it), so a left-padded prompt gives the
        logits it gives alone.
        last_only: compute logits only at the last position, (B, 1, V) (generation).
        The context (cached + new positions) must fit in block_size, else ValueError."""
        xp = array_module(self.wte.W.data)
        ids = xp.asarray(idx.data if isinstance(idx, Tensor) else idx)  # (B, T)
        if ids.ndim != 2 or ids.shape[1] == 0 or ids.dtype.kind not in "iu":
            raise ValueError(
                f"GPT: idx must be (B, T) integer ids with T >= 1, got {ids.dtype} {ids.shape}"
            )
        B, T = ids.shape
        if caches is not None and len(caches) != len(self.blocks):
            raise ValueError(f"GPT: got {len(caches)} caches for {len(self.blocks)} blocks")
        past = 0 if caches is None else caches[0].position
        if past + T > self.config.block_size:
            raise ValueError(
                f"GPT: sequence length {past + T} (cached {past} + new {T}) exceeds "
                f"block_size={self.config.block_size}; crop the context to the last "
                f"{self.config.block_size} tokens"
            )
        pos, key_mask = self._positions(xp, B, past, T, attention_mask)  # (T,) or (B, T)
        x = self.drop(self.wte(ids) + self.wpe(pos))  # (B, T, C) + (T or B, T, C) -> (B, T, C)
        for i, block in enumerate(self.blocks):
            cache = None if caches is None else caches[i]
            if self.recompute and cache is None:  # C10: the graph keeps x, not the block's inside
                x = checkpoint(block, x, attn_mask=key_mask, is_causal=True)  # (B, T, C)
            else:
                x = block(x, attn_mask=key_mask, is_causal=True, cache=cache)  # (B, T, C)
        x = self.ln_f(x)  # (B, T, C)
        if last_only:
            if targets is not None:
                raise ValueError("GPT: last_only=True computes no loss; pass targets=None")
            x = x[:, -1:, :]  # (B, 1, C)
        logits = self.lm_head(x)  # (B, T, C) -> (B, T, V)
        if targets is None:
            return logits, None
        tgt = xp.asarray(targets.data if isinstance(targets, Tensor) else targets)  # (B, T)
        if tgt.shape != (B, T):
            raise ValueError(f"GPT: targets shape {tgt.shape} != idx shape {(B, T)}")
        V = self.config.vocab_size
        loss = _ce.cross_entropy(logits.reshape(B * T, V), tgt.reshape(B * T), IGNORE_INDEX)
        return logits, loss

    def _positions(self, xp, B, past, T, attention_mask):
        """Position ids and the key-padding mask: (arange(past, past + T), None) without a mask;
        with one, per-row positions (B, T) and a (B, 1, 1, past + T) boolean mask."""
        if attention_mask is None:
            return xp.arange(past, past + T), None  # (T,)
        m = xp.asarray(
            attention_mask.data if isinstance(attention_mask, Tensor) else attention_mask
        )
        if m.shape != (B, past + T) or not bool(((m == 0) | (m == 1)).all()):
            raise ValueError(
                f"GPT: attention_mask must be (B, cached + new) = {(B, past + T)} of 0/1, got "
                f"shape {m.shape}"
            )
        pos = xp.maximum(xp.cumsum(m, axis=1) - 1, 0)[:, past:]  # (B, T) real tokens before
        return pos.astype(xp.int64), m.astype(bool)[:, None, None, :]  # (B, 1, 1, past + T)

    def extra_repr(self):
        c = self.config
        return f"n_layers={c.n_layers}, n_heads={c.n_heads}, d_model={c.d_model}, V={c.vocab_size}"
