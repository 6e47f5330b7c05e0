"""BERT: a bidirectional Transformer encoder (Devlin et al. 2019), the auto-encoding family (C12).

    x_0 = Dropout(LN(W_te[ids] + W_pe[pos] + W_tt[token_type]))     token + position + segment
    x_l' = LN_1(x_{l-1} + SA(x_{l-1}))                               post-LN blocks (C14), no
    x_l  = LN_2(x_l' + FFN(x_l')),  FFN = GELU(x W_1 + b_1) W_2 + b_2     causal mask
    pooled = tanh(x_L[:, 0] W_p + b_p)                                the [CLS] summary

Every position attends to every other (padding excepted), so each hidden state depends on the
tokens on both sides: BERT reconstructs hidden tokens from their context (auto-encoding), where
the GPT predicts each token from the ones before it (autoregressive, F1). It cannot generate text
left to right; it encodes. The heads that turn hidden states into masked-LM, next-sentence and
class logits are modules over this one (bert_heads.py); the pre-training model that the registry
trains is `BertForPreTraining` (bert_pretraining.py).
"""

from dataclasses import dataclass

import numpy as np

from ..nn import Dropout, Embedding, LayerNorm, Linear, Module, ModuleList, TransformerEncoderLayer
from ..nn import init as _init
from ..tensor import Tensor
from ..tensor.backend import array_module
from .config import ModelConfig

INIT_STD = 0.02  # BERT's initializer_range


@dataclass(frozen=True)
class BertConfig(ModelConfig):
    """The shape of a BERT. Field names are minillm's one vocabulary (docs/notation.md); Hugging
    Face's config.json names (hidden_size, num_hidden_layers, ...) are read as aliases. The
    defaults are the small BERT that `minillm train --model=bert` pre-trains on 2 CPU cores."""

    vocab_size: int | None = None  # V: WordPiece ids (set from the tokenizer; `minillm train`
    # fits a WordPiece of --bpe_vocab_size tokens to the corpus)
    block_size: int = 128  # the longest sequence = rows of the position table (HF
    # max_position_embeddings)
    n_layers: int = 4  # L: encoder layers
    n_heads: int = 4  # H: attention heads per layer; must divide d_model (F14)
    d_model: int = 128  # C: the width of every hidden state (HF hidden_size)
    d_ff: int = 512  # F: the feed-forward width (HF intermediate_size)
    dropout: float = 0.1  # on embeddings, attention weights and sub-layer outputs (HF
    # hidden_dropout_prob and attention_probs_dropout_prob, one rate for both)
    type_vocab_size: int = 2  # segment ids: 0 for sentence A, 1 for sentence B
    eps: float = 1e-12  # layer-norm epsilon (BERT's; PyTorch's LayerNorm default is 1e-5)

    ALIASES = {
        "hidden_size": "d_model",
        "num_hidden_layers": "n_layers",
        "num_attention_heads": "n_heads",
        "intermediate_size": "d_ff",
        "max_position_embeddings": "block_size",
        "hidden_dropout_prob": "dropout",
        "attention_probs_dropout_prob": "dropout",
        "layer_norm_eps": "eps",
    }

    def __post_init__(self):
        self._check_ints("vocab_size", "block_size", "n_layers", "n_heads", "d_model", "d_ff",
                         "type_vocab_size", allow_none=("vocab_size",))  # fmt: skip
        if self.d_model % self.n_heads != 0:
            raise ValueError(
                f"BertConfig: d_model={self.d_model} is not divisible by n_heads={self.n_heads} "
                "(F14: d_k = d_model / n_heads)"
            )
        self._check_dropout()
        if isinstance(self.eps, bool) or not isinstance(self.eps, (int, float)) or self.eps <= 0:
            raise ValueError(f"BertConfig: eps must be a number > 0, got {self.eps!r}")


def _array(x, xp):
    return xp.asarray(x.data if isinstance(x, Tensor) else x)


class BERT(Module):
    """BERT(config, seed=0): the encoder, Hugging Face's BertModel with minillm's layer names.

    Modules: wte (V, C) token embedding, wpe (block_size, C) position embedding, wtt
    (type_vocab_size, C) token-type (segment) embedding, ln_emb, blocks.<l> (post-LN
    TransformerEncoderLayer, exact erf GELU, eps = config.eps), pooler (Linear (C, C), tanh).
    `model(input_ids, attention_mask=None, token_type_ids=None)` returns the final hidden states
    (B, T, C); `model.pool(hidden)` the pooled [CLS] vector (B, C).

    Initialisation (BERT's): every Linear and Embedding weight ~ N(0, 0.02), biases 0, LayerNorm
    gamma 1 and beta 0, by module type (nn.init.init_normal_), from default_rng(seed); dropout
    generators are seeded from `seed` too.
    Deviation: Hugging Face zeroes the [PAD] row of W_te at init and never updates it
    (padding_idx); here it is drawn like the others. Padded positions feed no loss, so the row
    only ever moves by weight decay, and loaded checkpoints bring their own.
    Deviation: the feed-forward sub-layer drops out after W_2 only (nn.FeedForward), as Hugging
    Face's BertOutput does; torch.nn.TransformerEncoderLayer also drops after the activation.
    """

    def __init__(self, config: BertConfig, seed: int = 0):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(f"BERT: config must be a BertConfig, got {type(config).__name__}")
        if config.vocab_size is None:
            raise ValueError("BERT: config.vocab_size is None; set it from the tokenizer")
        self.config = c = config
        rng = np.random.default_rng(seed)  # consumed by the layers' own init, then overwritten
        self.wte = Embedding(c.vocab_size, c.d_model)  # (V, C)
        self.wpe = Embedding(c.block_size, c.d_model)  # (block_size, C)
        self.wtt = Embedding(c.type_vocab_size, c.d_model)  # (type_vocab_size, C)
        self.ln_emb = LayerNorm(c.d_model, c.eps)
        self.drop = Dropout(c.dropout)
        self.blocks = ModuleList(
            TransformerEncoderLayer(
                c.d_model, c.n_heads, c.d_ff, c.dropout, "gelu", norm_first=False, eps=c.eps,
                rng=rng,
            )
            for _ in range(c.n_layers)
        )  # fmt: skip
        self.pooler = Linear(c.d_model, c.d_model, rng=rng)  # W_p (C, C), b_p (C,)
        self.init_weights(seed)

    @property
    def context_length(self) -> int:
        """The longest sequence the model takes (the rows of the position table)."""
        return self.config.block_size

    def init_weights(self, seed: int = 0) -> None:
        """Re-draw every parameter with BERT's scheme (see the class docstring); re-seed dropout."""
        _init.init_normal_(self, np.random.default_rng(seed), INIT_STD)
        self.seed_rngs(seed)

    def check_inputs(self, input_ids, attention_mask=None, token_type_ids=None):
        """The inputs as arrays (ids (B, T), key mask (B, 1, 1, T) bool or None, types (B, T)),
        with a one-line error for ids outside the vocabulary, a sequence longer than the
        position table, a mask that is not 0/1 of the ids' shape, or a segment id out of range."""
        xp = array_module(self.wte.W.data)
        ids = _array(input_ids, xp)  # (B, T)
        if ids.ndim != 2 or ids.shape[1] == 0 or ids.dtype.kind not in "iu":
            raise ValueError(
                f"BERT: input_ids must be (B, T) integer ids with T >= 1, got {ids.dtype} "
                f"{ids.shape}"
            )
        V, P = self.config.vocab_size, self.config.block_size
        bad = (ids < 0) | (ids >= V)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(_host(bad))[0])
            raise ValueError(
                f"BERT: token id {int(ids[where])} at {where} is outside the vocabulary [0, {V})"
            )
        if ids.shape[1] > P:
            raise ValueError(
                f"BERT: sequence length {ids.shape[1]} exceeds the position table (block_size="
                f"{P}); truncate the input to {P} tokens (tokenizer: max_len={P}, truncation=True)"
            )
        key_mask = None
        if attention_mask is not None:
            m = _array(attention_mask, xp)
            if m.shape != ids.shape or not bool(((m == 0) | (m == 1)).all()):
                raise ValueError(
                    f"BERT: attention_mask must be 0/1 of shape {ids.shape} (input_ids), got "
                    f"shape {m.shape}"
                )
            key_mask = m.astype(bool)[:, None, None, :]  # (B, 1, 1, T): True = may attend
        types = xp.zeros_like(ids) if token_type_ids is None else _array(token_type_ids, xp)
        if types.shape != ids.shape:
            raise ValueError(
                f"BERT: token_type_ids shape {types.shape} != input_ids shape {ids.shape}"
            )
        n_types = self.config.type_vocab_size
        if types.size and (int(types.min()) < 0 or int(types.max()) >= n_types):
            raise ValueError(
                f"BERT: token_type_ids must be in [0, {n_types}), got values "
                f"{int(types.min())}..{int(types.max())}"
            )
        return ids, key_mask, types

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        """input_ids (B, T) ints -> final hidden states (B, T, C).

        attention_mask (B, T) of 1 (token) / 0 (padding), as Hugging Face's: padded keys are
        never attended to; padded queries are still computed (their states are meaningless and
        no head or loss should read them). token_type_ids (B, T): 0 for segment A, 1 for B
        (default all 0). Positions are 0 .. T-1 in every row (pad on the right)."""
        ids, key_mask, types = self.check_inputs(input_ids, attention_mask, token_type_ids)
        T = ids.shape[1]
        pos = array_module(ids).arange(T)  # (T,)
        x = self.wte(ids) + self.wpe(pos) + self.wtt(types)  # (B, T, C) + (T, C) + (B, T, C)
        x = self.drop(self.ln_emb(x))  # (B, T, C)
        for block in self.blocks:
            x = block(x, attn_mask=key_mask)  # (B, T, C), bidirectional
        return x

    def pool(self, hidden):
        """pooled = tanh(h_[CLS] W_p + b_p): (B, T, C) -> (B, C), the sequence summary that the
        next-sentence and sequence-classification heads read."""
        return self.pooler(hidden[:, 0, :]).tanh()  # (B, T, C) -> (B, C)

    def extra_repr(self):
        c = self.config
        return f"n_layers={c.n_layers}, n_heads={c.n_heads}, d_model={c.d_model}, V={c.vocab_size}"


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)
