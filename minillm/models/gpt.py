"""GPT: a decoder-only Transformer language model, nanoGPT's architecture (GPT-2 style).

    x_0 = W_te[idx] + W_pe[pos]                                 token + learned position embedding
    x_l = Block_l(x_{l-1}),  l = 1..L                            pre-LN blocks, causal attention
    logits = LN_f(x_L) W_te^T                                    output head tied to W_te (C2)
    loss = -(1/N) sum_n log softmax(logits_n)[y_n]               mean over all B*T positions (F9)

The model computes p(y_t | y_<t) at every position at once (F1); perplexity = exp(loss).
"""

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..nn import (
    Dropout,
    Embedding,
    KVCache,
    LayerNorm,
    Linear,
    Module,
    ModuleList,
    TransformerEncoderLayer,
)
from ..ops import cross_entropy as _ce
from ..tensor import Tensor
from ..tensor.backend import array_module

IGNORE_INDEX = -100  # targets equal to this are left out of the loss (PyTorch's default)


@dataclass(frozen=True)
class GPTConfig:
    """The shape of a GPT (nanoGPT's GPTConfig, with the same field names)."""

    vocab_size: int  # V: number of token ids
    block_size: int  # the longest context, = rows of the position-embedding table
    n_layer: int  # L: number of Transformer blocks
    n_head: int  # H: attention heads per block; must divide n_embd (F14)
    n_embd: int  # C = d_model: the width of the residual stream
    dropout: float = 0.0  # dropout rate on embeddings, attention weights and sub-layer outputs
    bias: bool = True  # biases in Linear layers and LayerNorms (nanoGPT's bias=False drops them)
    tie_weights: bool = True  # output head = token-embedding matrix transposed (C2)

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig: {name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"GPTConfig: n_embd={self.n_embd} is not divisible by n_head={self.n_head} (F14)"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class GPT(Module):
    """GPT(config, seed=0): nanoGPT's model with minillm's layer names.

    Parameters: wte (V, C) token embedding, wpe (block_size, C) position embedding, blocks.<l>
    (pre-LN TransformerEncoderLayer with tanh-GELU, d_ff = 4C), ln_f, and lm_head (C, V) only when
    tie_weights is False.

    Initialisation (C1, GPT-2 / nanoGPT), drawn from np.random.default_rng(seed):
    - every Linear and Embedding weight ~ N(0, 0.02): small enough that the residual stream starts
      near the embeddings and the softmax outputs start near uniform (loss ~ ln V);
    - biases = 0 and LayerNorm gamma = 1, beta = 0: each block starts as the identity plus noise;
    - the two projections that write into the residual stream, attention W_o and feed-forward W_2,
      ~ N(0, 0.02 / sqrt(2 L)): the stream adds 2L such outputs, so their summed variance stays
      that of one layer however deep the model is (GPT-2 paper, section 2.3).
    The dropout generators are seeded from `seed` too, so a seed fixes the whole run.

    Deviation: nanoGPT uses the exact erf GELU; we use GPT-2's tanh form ("gelu_tanh"), and the
    attention projections W_q, W_k, W_v are three matrices (nanoGPT fuses them into c_attn; the
    name table in gpt_names.py converts). Targets of -100 are ignored (nanoGPT uses -1).
    """

    def __init__(self, config: GPTConfig, seed: int = 0):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT: config must be a GPTConfig, got {type(config).__name__}")
        self.config = config
        C = config.n_embd
        rng = np.random.default_rng(seed)  # consumed by the layers' own init, then overwritten
        self.wte = Embedding(config.vocab_size, C)  # (V, C)
        self.wpe = Embedding(config.block_size, C)  # (block_size, C)
        self.drop = Dropout(config.dropout)
        self.blocks = ModuleList(
            TransformerEncoderLayer(
                C, config.n_head, 4 * C, config.dropout, "gelu_tanh", True, config.bias, rng=rng
            )
            for _ in range(config.n_layer)
        )
        self.ln_f = LayerNorm(C, bias=config.bias)
        self.lm_head = None if config.tie_weights else Linear(C, config.vocab_size, False, rng)
        self.init_weights(seed)

    def init_weights(self, seed: int = 0) -> None:
        """Re-draw every parameter with the GPT-2 scheme above (in named_parameters order)."""
        rng = np.random.default_rng(seed)
        std_residual = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith((".W_o.W", ".W_2.W")):
                value = rng.normal(0.0, std_residual, p.shape)
            elif name.endswith(".W"):  # Linear and Embedding weights
                value = rng.normal(0.0, 0.02, p.shape)
            elif name.endswith(".gamma"):
                value = np.ones(p.shape)
            else:  # Linear biases and LayerNorm beta
                value = np.zeros(p.shape)
            p.data[...] = array_module(p.data).asarray(value, dtype=p.dtype)
        dropouts = [m for m in self.modules() if isinstance(m, Dropout)]
        for i, m in enumerate(dropouts):
            m.rng = np.random.default_rng([seed, 1, i])  # one independent stream per module

    def dropout_states(self) -> dict:
        """name -> bit_generator.state of each Dropout module (saved in checkpoints)."""
        drops = ((n, m) for n, m in self.named_modules() if isinstance(m, Dropout))
        return {n: m.rng.bit_generator.state for n, m in drops}

    def set_dropout_states(self, states: dict) -> None:
        for n, m in self.named_modules():
            if isinstance(m, Dropout) and n in states:
                m.rng.bit_generator.state = states[n]

    def num_params(self, non_embedding: bool = True) -> int:
        """Number of parameters; by default without the position embedding wpe, as nanoGPT
        counts (the token embedding stays in: it is also the output head)."""
        n = sum(p.size for p in self.parameters())
        return n - self.wpe.W.size if non_embedding else n

    def new_caches(self) -> list:
        """One empty KVCache per block, for `forward(idx, caches=...)` (generation)."""
        return [KVCache() for _ in self.blocks]

    def forward(self, idx, targets=None, caches=None, last_only=False):
        """idx (B, T) ints -> (logits (B, T, V), loss or None).

        targets (B, T) ints: the loss is the mean cross-entropy over all B*T positions (F9).
        caches: from new_caches(); the T new tokens then sit at positions len(cache) ..
        len(cache) + T - 1, attend to every cached position, and are appended to the caches.
        last_only: compute logits only at the last position, (B, 1, V) (generation).
        The context (cached + new positions) must fit in block_size, else ValueError."""
        ids = idx.data if isinstance(idx, Tensor) else idx
        ids = array_module(self.wte.W.data).asarray(ids)
        if ids.ndim != 2 or ids.shape[1] == 0:
            raise ValueError(f"GPT: idx must be (B, T) with T >= 1, got shape {ids.shape}")
        B, T = ids.shape
        past = 0 if caches is None else len(caches[0])
        if caches is not None and len(caches) != len(self.blocks):
            raise ValueError(f"GPT: got {len(caches)} caches for {len(self.blocks)} blocks")
        if past + T > self.config.block_size:
            raise ValueError(
                f"GPT: sequence length {past + T} (cached {past} + new {T}) exceeds "
                f"block_size={self.config.block_size}; crop the context to the last "
                f"{self.config.block_size} tokens"
            )
        pos = array_module(ids).arange(past, past + T)  # (T,)
        x = self.drop(self.wte(ids) + self.wpe(pos))  # (B, T, C) + (T, C) -> (B, T, C)
        for i, block in enumerate(self.blocks):
            x = block(x, is_causal=True, cache=None if caches is None else caches[i])  # (B, T, C)
        x = self.ln_f(x)  # (B, T, C)
        if last_only:
            if targets is not None:
                raise ValueError("GPT: last_only=True computes no loss; pass targets=None")
            x = x[:, -1:, :]  # (B, 1, C)
        head = self.wte.W.T if self.lm_head is None else self.lm_head.W  # (C, V)
        logits = x @ head  # (B, T, C) @ (C, V) -> (B, T, V)
        if targets is None:
            return logits, None
        tgt = targets.data if isinstance(targets, Tensor) else targets
        tgt = array_module(ids).asarray(tgt)
        if tgt.shape != (B, T):
            raise ValueError(f"GPT: targets shape {tgt.shape} != idx shape {(B, T)}")
        V = self.config.vocab_size
        loss = _ce.cross_entropy(logits.reshape(B * T, V), tgt.reshape(B * T), IGNORE_INDEX)
        return logits, loss

    def extra_repr(self):
        c = self.config
        return f"n_layer={c.n_layer}, n_head={c.n_head}, n_embd={c.n_embd}, V={c.vocab_size}"
