"""The functional API, `import minillm.functional as F`, with PyTorch's names and arguments.

Every function takes and returns Tensors; the math lives in minillm.ops (PyTorch's `dim` is our
`axis`)."""

from .ops import activations as _act
from .ops import attention as _attn
from .ops import cross_entropy as _ce
from .ops import dropout as _drop
from .ops import embedding as _emb
from .ops import gelu as _gelu
from .ops import layer_norm as _ln
from .ops import softmax as _sm
from .tensor import Tensor, concatenate, stack, where

relu = _act.relu
sigmoid = _act.sigmoid
scaled_dot_product_attention = _attn.scaled_dot_product_attention
cat = concatenate


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def gelu(x: Tensor, approximate="none") -> Tensor:
    return _gelu.gelu(x, approximate)


def softmax(x: Tensor, dim=-1) -> Tensor:
    return _sm.softmax(x, dim)


def log_softmax(x: Tensor, dim=-1) -> Tensor:
    return _sm.log_softmax(x, dim)


def logsumexp(x: Tensor, dim=-1, keepdim=False) -> Tensor:
    return _sm.logsumexp(x, dim, keepdim)


def layer_norm(x: Tensor, normalized_shape, weight=None, bias=None, eps=1e-5) -> Tensor:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if shape != x.shape[-1:]:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} must equal the last dim of {x.shape}"
        )
    return _ln.layer_norm(x, weight, bias, eps)


def cross_entropy(input: Tensor, target, ignore_index=-100, reduction="mean") -> Tensor:
    return _ce.cross_entropy(input, target, ignore_index, reduction)


def embedding(input, weight: Tensor) -> Tensor:
    return _emb.embedding(input, weight)


def dropout(x: Tensor, p=0.5, training=True, rng=None) -> Tensor:
    return _drop.dropout(x, p, training, rng)


__all__ = [
    "cat",
    "concatenate",
    "cross_entropy",
    "dropout",
    "embedding",
    "gelu",
    "layer_norm",
    "log_softmax",
    "logsumexp",
    "relu",
    "scaled_dot_product_attention",
    "sigmoid",
    "softmax",
    "stack",
    "tanh",
    "where",
]
