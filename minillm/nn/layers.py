"""The basic layers: Linear, Embedding, LayerNorm, Dropout (C14, C15)."""

import math

import numpy as np

from ..ops import dropout as _drop
from ..ops import embedding as _emb
from ..ops import layer_norm as _ln
from .module import Module, Parameter


def _rng(rng):
    return rng if rng is not None else np.random.default_rng()


def _size(layer, name, n):
    """n as an int >= 0, else an error naming the layer, the argument and the value."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{layer}: {name} must be an int >= 0, got {n!r}")
    if n < 0:
        raise ValueError(f"{layer}: {name} must be >= 0, got {n}")
    return int(n)


class Linear(Module):
    """y = x W + b, W of shape (in_features, out_features): the row-vector convention of F13
    (X W_Q). F15's column form q = W_q x uses the transpose of this W.

    Init (C1): W, b ~ U(-1/sqrt(in), 1/sqrt(in)), PyTorch's default; models may re-initialise."""

    PARAM_ROLES = {"W": "weight", "b": "bias"}

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float32):
        super().__init__()
        in_features = _size("Linear", "in_features", in_features)
        out_features = _size("Linear", "out_features", out_features)
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features) if in_features else 0.0  # no inputs: torch's 0
        rng = _rng(rng)
        self.W = Parameter(rng.uniform(-bound, bound, (in_features, out_features)).astype(dtype))
        self.b = Parameter(rng.uniform(-bound, bound, out_features).astype(dtype)) if bias else None

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear: input last dim {x.shape[-1]} != in_features {self.in_features} "
                f"(input shape {x.shape})"
            )
        y = x @ self.W  # (..., in) -> (..., out)
        return y + self.b if self.b is not None else y

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.b is not None}"


class Embedding(Module):
    """y = W[id]: a learned (num_embeddings, embedding_dim) table (C15).

    Init N(0, 1), as PyTorch."""

    PARAM_ROLES = {"W": "embedding"}

    def __init__(self, num_embeddings, embedding_dim, rng=None, dtype=np.float32):
        super().__init__()
        num_embeddings = _size("Embedding", "num_embeddings", num_embeddings)
        embedding_dim = _size("Embedding", "embedding_dim", embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.W = Parameter(_rng(rng).standard_normal((num_embeddings, embedding_dim)).astype(dtype))

    def forward(self, ids):
        return _emb.embedding(ids, self.W)  # (...) -> (..., C)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """y = (x - mu) / sqrt(var + eps) * gamma + beta over the last axis (C14; see ops.layer_norm
    for the stated conventions). bias=False drops beta (nanoGPT's option)."""

    PARAM_ROLES = {"gamma": "norm", "beta": "norm"}

    def __init__(self, normalized_shape, eps=1e-5, bias=True, dtype=np.float32):
        super().__init__()
        for n in normalized_shape if isinstance(normalized_shape, tuple) else (normalized_shape,):
            _size("LayerNorm", "normalized_shape", n)
        self.normalized_shape, self.eps = normalized_shape, eps
        self.gamma = Parameter(np.ones(normalized_shape, dtype=dtype))
        self.beta = Parameter(np.zeros(normalized_shape, dtype=dtype)) if bias else None

    def forward(self, x):
        return _ln.layer_norm(x, self.gamma, self.beta, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, bias={self.beta is not None}"


class TiedLinear(Module):
    """y = x E^T (+ b): an output layer that reuses an Embedding's table E (V, C) as its weight,
    so the model reads logits through a module instead of reaching into the embedding (C2,
    weight tying; Press & Wolf 2017). The table stays owned by the embedding: it is counted and
    saved once, under the embedding's name. bias=True adds a bias of its own (BERT's MLM decoder).

    Shapes: x (..., C) -> (..., V)."""

    PARAM_ROLES = {"b": "bias"}

    def __init__(self, embedding: Embedding, bias=False, dtype=np.float32):
        super().__init__()
        if not isinstance(embedding, Embedding):
            raise TypeError(f"TiedLinear: expected an Embedding, got {type(embedding).__name__}")
        object.__setattr__(self, "embedding", embedding)  # not a child: E stays the embedding's
        V = embedding.num_embeddings
        self.in_features, self.out_features = embedding.embedding_dim, V
        self.b = Parameter(np.zeros(V, dtype=dtype)) if bias else None

    @property
    def W(self):
        """The (C, V) weight, E transposed (a view in the graph: gradients reach E)."""
        return self.embedding.W.T

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"TiedLinear: input last dim {x.shape[-1]} != embedding_dim {self.in_features} "
                f"(input shape {x.shape})"
            )
        y = x @ self.embedding.W.T  # (..., C) @ (C, V) -> (..., V)
        return y + self.b if self.b is not None else y

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, tied, bias={self.b is not None}"


class Dropout(Module):
    """Inverted dropout while training, identity in eval mode (C22). Owns its random generator.

    Deviation: p = 1 is refused (a layer that drops everything); torch accepts it, and
    F.dropout(x, 1.0) gives 0 as torch does."""

    def __init__(self, p=0.5, seed=None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be a number in [0, 1), got {p!r}")
        self.p = p
        self.rng = np.random.default_rng(seed)

    def forward(self, x):
        return _drop.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self):
        return f"p={self.p}"
