"""BERT's heads: modules over the encoder's hidden states, one per task, and their losses.

    masked LM      logits = LN(GELU(h W_t + b_t)) W_te^T + b        per position, V-way (F6)
    next sentence  logits = pooled W_nsp + b                          per pair, 2-way (F7)
    sequence cls   logits = Dropout(pooled) W_c + b                   per text, n_classes-way (F8)
    token cls      logits = Dropout(h) W_c + b                        per token, n_classes-way

Sequence classification gives one label to a whole text (read off the pooled [CLS] vector);
token classification gives one label to every token (read off each hidden state). They share
nothing but the shape of their head.
"""

from ..nn import Dropout, Embedding, LayerNorm, Linear, Module, TiedLinear
from ..ops import cross_entropy as _ce
from ..ops import gelu as _gelu
from ..tensor import Tensor
from ..tensor.backend import array_module

IGNORE_INDEX = -100  # labels equal to this are left out of every loss (PyTorch's default)


class MaskedLMHead(Module):
    """logits = LN(GELU(h W_t + b_t)) E^T + b: Hugging Face's BertLMPredictionHead.

    transform (Linear (C, C)), exact GELU, ln (LayerNorm, BERT's eps), then decoder: a TiedLinear
    over the token embedding E (V, C) with a bias of its own (V,) (C2: one table maps ids to
    vectors and vectors back to scores). Shapes: h (..., C) -> logits (..., V)."""

    def __init__(self, d_model: int, word_embedding: Embedding, eps: float = 1e-12, rng=None):
        super().__init__()
        self.transform = Linear(d_model, d_model, rng=rng)  # W_t (C, C)
        self.ln = LayerNorm(d_model, eps)
        self.decoder = TiedLinear(word_embedding, bias=True)  # E^T (C, V) + b (V,)

    def forward(self, h):
        z = self.ln(_gelu.gelu(self.transform(h), "none"))  # (..., C)
        return self.decoder(z)  # (..., C) -> (..., V)


class NextSentenceHead(Module):
    """logits = pooled W_nsp + b: IsNext (0) / NotNext (1) from the pooled [CLS] vector (F7).
    Shapes: pooled (B, C) -> (B, 2)."""

    def __init__(self, d_model: int, rng=None):
        super().__init__()
        self.classifier = Linear(d_model, 2, rng=rng)  # (C, 2)

    def forward(self, pooled):
        return self.classifier(pooled)  # (B, C) -> (B, 2)


class ClassificationHead(Module):
    """logits = Dropout(x) W_c + b, a n_classes-way linear read-out (F8).

    The sequence classifier feeds it the pooled [CLS] vector (B, C) -> (B, n_classes); the token
    classifier every hidden state (B, T, C) -> (B, T, n_classes)."""

    def __init__(self, d_model: int, n_classes: int, dropout: float = 0.1, rng=None):
        super().__init__()
        self.n_classes = n_classes
        self.drop = Dropout(dropout)
        self.classifier = Linear(d_model, n_classes, rng=rng)  # (C, n_classes)

    def forward(self, x):
        return self.classifier(self.drop(x))  # (..., C) -> (..., n_classes)

    def extra_repr(self):
        return f"n_classes={self.n_classes}"


def check_labels(labels, n_classes: int, who: str):
    """labels as an int array; ValueError naming the first label outside [0, n_classes) that is
    not IGNORE_INDEX."""
    xp = array_module(labels)
    labels = xp.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{who}: labels must be integers, got dtype {labels.dtype}")
    bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= n_classes))
    if bad.any():
        i = int(bad.reshape(-1).argmax())
        raise ValueError(
            f"{who}: label {int(labels.reshape(-1)[i])} is outside the classes [0, {n_classes}) "
            f"(flat position {i}; {IGNORE_INDEX} marks a position without a label)"
        )
    return labels


def mean_cross_entropy(logits, labels):
    """-(1/|S|) sum_{n in S} log softmax(logits_n)[y_n], S = the rows whose label is not -100
    (F6 with S = the masked set, F7 and F8 with S = every row). logits (N, K), labels (N,).

    Deviation: an empty S gives a loss of 0 (nothing to predict) where PyTorch gives NaN, so a
    batch that happens to mask no token does not read as a diverged run."""
    if not bool((labels != IGNORE_INDEX).any()):
        return (logits * 0.0).sum()  # 0, still connected to the graph
    return _ce.cross_entropy(logits, labels, IGNORE_INDEX)
