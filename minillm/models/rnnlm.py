"""The RNN language model: embedding -> recurrent layers (F2 / C11) -> log softmax output (F3)."""

from dataclasses import dataclass

import numpy as np

from ..nn import GRU, LSTM, RNN, Dropout, Embedding, LogSoftmaxOutput, Module
from ..ops.cross_entropy import cross_entropy
from ..tensor import Tensor
from ..tensor.backend import to_device
from .config import ModelConfig

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}  # the `cell` field -> recurrent layer


@dataclass(frozen=True)
class RNNLMConfig(ModelConfig):
    """The shape of an RNN language model (names from docs/notation.md; PyTorch's RNN calls
    d_model hidden_size and n_layers num_layers, read as aliases by from_dict)."""

    vocab_size: int | None = None  # V: number of token ids (None until a tokenizer fixes it)
    d_model: int = 128  # the embedding width = hidden size H of every recurrent layer
    n_layers: int = 1  # stacked recurrent layers
    cell: str = "lstm"  # "rnn" (Elman, F2), "lstm" or "gru" (C11)
    dropout: float = 0.0  # on the embeddings, between layers and on the top output (training)
    block_size: int = 64  # the training window (BPTT length); the model itself takes any length

    ALIASES = {"hidden_size": "d_model", "num_layers": "n_layers"}

    def __post_init__(self):
        self._check_ints("vocab_size", "d_model", "n_layers", "block_size",
                         allow_none=("vocab_size",))  # fmt: skip
        if self.cell not in CELLS:
            raise ValueError(f"RNNLMConfig: cell must be one of {sorted(CELLS)}, got {self.cell!r}")
        self._check_dropout()


class RNNState:
    """The RNN language model's "cache" for generation: the recurrent state h_n after the tokens
    read so far (an LSTM's is the pair (h, c)), and how many tokens that is."""

    def __init__(self):
        self.h = None
        self.position = 0


class RNNLM(Module):
    """A character- or token-level language model over a recurrent network:

        x_t = E[y_t]                                        embedding (C15), E (V, H)
        h_t = cell(x_t, h_{t-1})  through n_layers          F2 (Elman), or LSTM / GRU (C11)
        log p(y_{t+1} | y_<=t) = log softmax(h_t W_o + b_o)  F3
        loss = -(1 / BT) sum_{b,t} log p(targets[b, t])      mean cross-entropy (F9 per token)

    RNNLM(config, seed=0). forward(idx, targets=None, caches=None, last_only=False) ->
    (logits, loss): idx (B, T) ints; logits (B, T, V) are the F3 log-probabilities (normalised
    logits: softmax(logits) == exp(logits), so sampling code may treat them as logits); loss is
    None without targets. caches: [RNNState] from new_caches(); the forward starts from its
    state and leaves the new one in it, so a long text can be read in chunks, or generated one
    token at a time. The lower-level h0= / return_state=True give and return the state
    (n_layers, B, H) (LSTM: a pair (h, c)) directly. Dropout (training only) acts on the
    embeddings, between the recurrent layers and on the top layer's output (Zaremba et al. 2014).
    The embedding width equals d_model."""

    def __init__(self, config: RNNLMConfig, seed: int = 0):
        super().__init__()
        if not isinstance(config, RNNLMConfig):
            raise TypeError(f"RNNLM: config must be an RNNLMConfig, got {type(config).__name__}")
        if config.vocab_size is None:
            raise ValueError("RNNLM: config.vocab_size is None; set it from the tokenizer")
        self.config = config
        rng = np.random.default_rng(seed)
        V, H = config.vocab_size, config.d_model
        self.vocab_size, self.hidden_size, self.cell = V, H, config.cell
        self.embedding = Embedding(V, H, rng=rng)
        self.rnn = CELLS[config.cell](H, H, config.n_layers, dropout=config.dropout, rng=rng)
        self.drop = Dropout(config.dropout, seed=int(rng.integers(2**32)))
        self.head = LogSoftmaxOutput(H, V, rng=rng)

    @property
    def context_length(self):
        """None: a recurrent model reads any length (its state carries the context)."""
        return None

    def new_caches(self) -> list:
        """[an empty RNNState] for `forward(idx, caches=...)` (generation reads each token once);
        a list of one, as a GPT's caches are a list of one KVCache per block."""
        return [RNNState()]

    def forward(
        self,
        idx,
        targets=None,
        caches=None,
        last_only=False,
        attention_mask=None,
        h0=None,
        return_state=False,
    ):
        idx = np.asarray(to_device(idx.data if isinstance(idx, Tensor) else idx, "cpu"))  # (B, T)
        if idx.ndim != 2 or idx.dtype.kind not in "iu":
            raise ValueError(f"RNNLM: expected idx (B, T) of ints, got {idx.shape} {idx.dtype}")
        if attention_mask is not None and not np.all(np.asarray(to_device(attention_mask, "cpu"))):
            raise ValueError(
                "RNNLM: padding (zeros in attention_mask) is not supported: a recurrent state "
                "reads every position; run prompts of different lengths one at a time"
            )
        if caches is not None and h0 is not None:
            raise ValueError("RNNLM: pass the state as caches= or h0=, not both")
        B, T = idx.shape
        x = self.drop(self.embedding(idx))  # (B, T) -> (B, T, H)
        state = None if caches is None else caches[0]
        h, h_n = self.rnn(x, state.h if state is not None else h0)  # (B, T, H)
        if state is not None:
            state.h, state.position = h_n, state.position + T
        if last_only:
            if targets is not None:
                raise ValueError("RNNLM: last_only=True computes no loss; pass targets=None")
            h = h[:, -1:, :]  # (B, 1, H)
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
        return f"vocab_size={self.vocab_size}, d_model={self.hidden_size}, cell={self.cell!r}"
