"""The RNN language model: embedding -> recurrent layers (F2 / C11) -> log softmax output (F3)."""

import numpy as np

from ..nn import GRU, LSTM, RNN, Dropout, Embedding, LogSoftmaxOutput, Module
from ..ops.cross_entropy import cross_entropy
from ..tensor import Tensor
from ..tensor.backend import to_device

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}  # the `cell` argument -> recurrent layer


class RNNLM(Module):
    """A character- or token-level language model over a recurrent network:

        x_t = E[y_t]                                        embedding (C15), E (V, H)
        h_t = cell(x_t, h_{t-1})  through num_layers        F2 (Elman), or LSTM / GRU (C11)
        log p(y_{t+1} | y_<=t) = log softmax(h_t W_o + b_o)  F3
        loss = -(1 / BT) sum_{b,t} log p(targets[b, t])      mean cross-entropy (F9 per token)

    forward(idx, targets=None, h0=None, return_state=False) -> (logits, loss), plus h_n when
    return_state: idx (B, T) ints; logits (B, T, V) are the F3 log-probabilities (normalised
    logits: softmax(logits) == exp(logits), so sampling code may treat them as logits); loss is
    None without targets. h0 / h_n are the recurrent layer's state (num_layers, B, H) (LSTM: a
    pair (h, c)), so a long text can be read in chunks, or generated one token at a time, by
    passing h_n back as h0. Dropout (training only) acts on the embeddings, between the
    recurrent layers and on the top layer's output (Zaremba et al. 2014).
    The embedding width equals hidden_size."""

    def __init__(
        self,
        vocab_size,
        hidden_size,
        num_layers=1,
        cell="lstm",
        dropout=0.0,
        rng=None,
        dtype=np.float32,
    ):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"RNNLM: cell must be one of {sorted(CELLS)}, got {cell!r}")
        rng = rng if rng is not None else np.random.default_rng()
        self.vocab_size, self.hidden_size, self.cell = vocab_size, hidden_size, cell
        self.embedding = Embedding(vocab_size, hidden_size, rng=rng, dtype=dtype)
        self.rnn = CELLS[cell](
            hidden_size, hidden_size, num_layers, dropout=dropout, rng=rng, dtype=dtype
        )
        self.drop = Dropout(dropout, seed=int(rng.integers(2**32)))
        self.head = LogSoftmaxOutput(hidden_size, vocab_size, rng=rng, dtype=dtype)

    def forward(self, idx, targets=None, h0=None, return_state=False):
        idx = np.asarray(to_device(idx.data if isinstance(idx, Tensor) else idx, "cpu"))  # (B, T)
        if idx.ndim != 2 or idx.dtype.kind not in "iu":
            raise ValueError(f"RNNLM: expected idx (B, T) of ints, got {idx.shape} {idx.dtype}")
        B, T = idx.shape
        x = self.drop(self.embedding(idx))  # (B, T) -> (B, T, H)
        h, h_n = self.rnn(x, h0)  # (B, T, H)
        logits = self.head(self.drop(h))  # (B, T, V) log-probabilities
        loss = None
        if targets is not None:
            targets = targets.data if isinstance(targets, Tensor) else targets
            targets = np.asarray(to_device(targets, "cpu"))  # (B, T)
            if targets.shape != (B, T):
                raise ValueError(
                    f"RNNLM: targets must have the shape of idx {(B, T)}, got {targets.shape}"
                )
            flat = logits.reshape(B * T, self.vocab_size)  # (B, T, V) -> (BT, V)
            loss = cross_entropy(flat, targets.reshape(B * T))  # (BT,) ids -> scalar
        return (logits, loss, h_n) if return_state else (logits, loss)

    def extra_repr(self):
        return f"vocab_size={self.vocab_size}, hidden_size={self.hidden_size}, cell={self.cell!r}"
