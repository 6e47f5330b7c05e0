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

cat = concatenate


def relu(input: Tensor) -> Tensor:
    return _act.relu(input)


def sigmoid(input: Tensor) -> Tensor:
    return _act.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def gelu(input: Tensor, approximate="none") -> Tensor:
    return _gelu.gelu(input, approximate)


def softmax(input: Tensor, dim=-1) -> Tensor:
    return _sm.softmax(input, dim)


def log_softmax(input: Tensor, dim=-1) -> Tensor:
    return _sm.log_softmax(input, dim)


def logsumexp(input: Tensor, dim=-1, keepdim=False) -> Tensor:
    return _sm.logsumexp(input, dim, keepdim)


def layer_norm(input: Tensor, normalized_shape, weight=None, bias=None, eps=1e-5) -> Tensor:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if shape != input.shape[-1:]:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} must equal the last dim of {input.shape}"
        )
    return _ln.layer_norm(input, weight, bias, eps)


def cross_entropy(input: Tensor, target, ignore_index=-100, reduction="mean") -> Tensor:
    return _ce.cross_entropy(input, target, ignore_index, reduction)


def embedding(input, weight: Tensor) -> Tensor:
    return _emb.embedding(input, weight)


def dropout(input: Tensor, p=0.5, training=True, rng=None) -> Tensor:
    return _drop.dropout(input, p, training, rng)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask=None,
    dropout_p=0.0,
    is_causal=False,
    scale=None,
    return_weights=False,
    rng=None,
):
    """softmax(Q K^T / sqrt(d_k) + mask) V (F5); see minillm.ops.attention for the arguments."""
    return _attn.scaled_dot_product_attention(
        query, key, value, attn_mask, dropout_p, is_causal, scale, return_weights, rng
    )


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
