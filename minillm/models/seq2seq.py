"""The encoder-decoder Transformer of Vaswani et al. (C13), for sequence-to-sequence tasks."""

import math
from dataclasses import dataclass

import numpy as np

from .. import functional as F
from ..nn import (
    Embedding,
    KVCache,
    LayerNorm,
    Linear,
    Module,
    SinusoidalPositionalEncoding,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from ..tensor import Tensor, no_grad
from ..tensor.backend import to_device
from .config import ModelConfig


@dataclass(frozen=True)
class Seq2SeqConfig(ModelConfig):
    """The shape of the encoder-decoder Transformer (names from docs/notation.md)."""

    src_vocab_size: int = 13  # V_src, source token ids 0 .. V_src - 1 (13: the reversal task)
    tgt_vocab_size: int = 13  # V, target token ids (and output classes)
    d_model: int = 64  # C, the width of every token vector
    n_heads: int = 4  # H; d_k = d_model / n_heads (F14)
    d_ff: int = 128  # F, hidden width of the feed-forward sub-layers
    n_encoder_layers: int = 2  # L of the encoder stack (F4)
    n_decoder_layers: int = 2  # L of the decoder stack
    dropout: float = 0.0  # on sub-layer outputs and attention weights while training
    max_len: int = 64  # the longest source or target sequence (positional-encoding table)
    norm_first: bool = False  # False: post-LN (the paper); True: pre-LN + final LayerNorms
    activation: str = "relu"  # of the feed-forward sub-layers: "relu" (the paper) or "gelu"
    pad_id: int = 0  # padding id in source and target; masked as a key, ignored by the loss

    def __post_init__(self):
        self._check_ints("src_vocab_size", "tgt_vocab_size", "d_model", "n_heads", "d_ff",
                         "n_encoder_layers", "n_decoder_layers", "max_len")  # fmt: skip
        if self.d_model % self.n_heads != 0:
            raise ValueError(
                f"Seq2SeqConfig: d_model={self.d_model} is not divisible by "
                f"n_heads={self.n_heads} (F14: d_k = d_model / n_heads)"
            )
        if self.activation not in ("relu", "gelu"):
            raise ValueError(
                f"Seq2SeqConfig: activation must be 'relu' or 'gelu', got {self.activation!r}"
            )
        self._check_dropout()


class Seq2SeqTransformer(Module):
    """logits = W_out(Decoder(E_tgt(y_in) + PE, Encoder(E_src(x) + PE)))   (C13, C15, F4, F20)

    The encoder reads the source with self-attention; the decoder reads the shifted target with
    masked self-attention and the encoder output ("memory") with cross-attention. Padding ids in
    the source are masked as keys in both attentions.
    Deviation: as in Vaswani et al. (and tensor2tensor) embeddings are multiplied by sqrt(d_model)
    with init N(0, 1/d_model), so they enter at unit scale next to the PE; the paper's weight
    tying between embeddings and the output layer is left out (two vocabularies)."""

    def __init__(self, config: Seq2SeqConfig, seed: int = 0):
        super().__init__()
        if not isinstance(config, Seq2SeqConfig):
            raise TypeError(
                f"Seq2SeqTransformer: config must be a Seq2SeqConfig, got {type(config).__name__}"
            )
        c = self.config = config
        rng = np.random.default_rng(seed)
        self.src_embed = Embedding(c.src_vocab_size, c.d_model, rng)
        self.tgt_embed = Embedding(c.tgt_vocab_size, c.d_model, rng)
        for emb in (self.src_embed, self.tgt_embed):
            emb.W.data[...] = rng.normal(0.0, c.d_model**-0.5, emb.W.shape)  # (V, C)
        self.pos = SinusoidalPositionalEncoding(c.d_model, c.max_len)
        args = (c.d_model, c.n_heads, c.d_ff, c.dropout, c.activation)
        self.encoder = TransformerEncoder(
            lambda: TransformerEncoderLayer(*args, norm_first=c.norm_first, rng=rng),
            c.n_encoder_layers,
            LayerNorm(c.d_model) if c.norm_first else None,
        )
        self.decoder = TransformerDecoder(
            lambda: TransformerDecoderLayer(*args, norm_first=c.norm_first, rng=rng),
            c.n_decoder_layers,
            LayerNorm(c.d_model) if c.norm_first else None,
        )
        self.out = Linear(c.d_model, c.tgt_vocab_size, rng=rng)

    def _ids(self, ids, name):
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if ids.ndim != 2 or ids.dtype.kind not in "iu":
            raise ValueError(
                f"Seq2SeqTransformer: {name} must be integer ids (B, T), "
                f"got {ids.dtype} {ids.shape}"
            )
        return ids

    def embed(self, embedding, ids, start=0):
        """E(ids) * sqrt(d_model) + PE[start : start + T]   (C15, F20): (B, T) -> (B, T, C)"""
        x = embedding(ids) * math.sqrt(self.config.d_model)  # (B, T, C)
        return self.pos(x, start)  # (B, T, C)

    @property
    def context_length(self) -> int:
        """The longest source or target sequence (rows of the positional table)."""
        return self.config.max_len

    def encode(self, src):
        """src (B, S) ids -> memory (B, S, C), key mask (B, 1, 1, S) (True = real token)."""
        src = self._ids(src, "src")
        x = self.embed(self.src_embed, src)  # (B, S, C)
        src_mask = to_device((src != self.config.pad_id)[:, None, None, :], x.device)  # (B,1,1,S)
        return self.encoder(x, src_mask, False), src_mask

    def decode(self, tgt_in, memory, src_mask, caches=None, start=0):
        """tgt_in (B, T) ids (shifted right, BOS first) -> logits (B, T, V)."""
        tgt_in = self._ids(tgt_in, "tgt_in")
        if tgt_in.shape[0] != memory.shape[0]:
            raise ValueError(
                f"Seq2SeqTransformer: batch sizes differ, tgt_in {tgt_in.shape} vs memory "
                f"{memory.shape}"
            )
        y = self.embed(self.tgt_embed, tgt_in, start)  # (B, T, C)
        h = self.decoder(y, memory, None, src_mask, True, caches)  # (B, T, C)
        return self.out(h)  # (B, T, V)

    def forward(self, src, tgt_in, targets=None):
        """src (B, S), tgt_in (B, T) -> (logits (B, T, V), loss or None).

        targets (B, T): the next target tokens (tgt_out); the loss is their mean cross-entropy
        over non-pad positions (F10, F8). The attention weights (C24): nn.record_attention, under
        the paths "encoder.layers.<l>.self_attn", "decoder.layers.<l>.self_attn" and
        "decoder.layers.<l>.cross_attn"."""
        memory, src_mask = self.encode(src)
        logits = self.decode(tgt_in, memory, src_mask)  # (B, T, V)
        if targets is None:
            return logits, None
        B, T, V = logits.shape
        tgt_out = self._ids(targets, "targets")
        if tgt_out.shape != (B, T):
            raise ValueError(f"Seq2SeqTransformer: targets {tgt_out.shape} != ({B}, {T})")
        loss = F.cross_entropy(logits.reshape(B * T, V), tgt_out.reshape(-1), self.config.pad_id)
        return logits, loss

    def loss(self, src, tgt_in, tgt_out):
        """Mean cross-entropy of the next target token over non-pad positions (F10, F8)."""
        return self(src, tgt_in, tgt_out)[1]

    def greedy_decode(self, src, max_len, bos, eos, use_cache=True):
        """y_t = argmax_v p(v | y_<t, src), starting from BOS, until EOS or max_len steps (F11).

        Returns ids (B, L), L <= max_len, BOS excluded; after a row's EOS come pad ids. With
        use_cache each step feeds only the newest token and keeps the self-attention keys and
        values in a KVCache per layer; without, it re-runs the decoder on the whole prefix."""
        pad = self.config.pad_id
        with no_grad():
            memory, src_mask = self.encode(src)
            B = memory.shape[0]
            caches = [KVCache() for _ in self.decoder.layers] if use_cache else None
            ys = np.full((B, 1), bos, dtype=np.int64)  # (B, 1) the prefix so far
            done = np.zeros(B, dtype=bool)
            for t in range(max_len):
                if use_cache:
                    logits = self.decode(ys[:, -1:], memory, src_mask, caches, start=t)
                else:
                    logits = self.decode(ys, memory, src_mask)  # (B, t + 1, V)
                nxt = np.asarray(logits.numpy()[:, -1].argmax(axis=-1))  # (B,)
                nxt = np.where(done, pad, nxt)
                ys = np.concatenate([ys, nxt[:, None]], axis=1)  # (B, t + 2)
                done |= nxt == eos
                if done.all():
                    break
        return ys[:, 1:]
