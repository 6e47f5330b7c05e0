"""The functional API, `import minillm.functional as F`, with PyTorch's names and arguments.

Every function takes and returns Tensors; the math lives in minillm.ops and the Tensor methods.
Where PyTorch takes `dim`/`keepdim`, so does F, with NumPy's `axis`/`keepdims` as aliases (one
spelling per argument): F.cat([a, b], dim=1) == F.cat([a, b], axis=1). Besides torch.nn.functional
it has the torch.* functions that the anchor codebases call as functions (cat, stack, sum, max,
var, split, ...); they are the Tensor methods of the same names, so their docstrings say more.
"""

from .ops import activations as _act
from .ops import attention as _attn
from .ops import cross_entropy as _ce
from .ops import dropout as _drop
from .ops import embedding as _emb
from .ops import gelu as _gelu
from .ops import layer_norm as _ln
from .ops import softmax as _sm
from .tensor import Tensor, cat, concatenate, stack, where


def relu(input: Tensor) -> Tensor:
    return _act.relu(input)


def sigmoid(input: Tensor) -> Tensor:
    return _act.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def gelu(input: Tensor, approximate="none") -> Tensor:
    return _gelu.gelu(input, approximate)


def softmax(input: Tensor, dim=None, *, axis=None) -> Tensor:
    """Along dim (default -1), by the hand-written pair (F17)."""
    return _sm.softmax(input, dim, axis=axis)


def log_softmax(input: Tensor, dim=None, *, axis=None) -> Tensor:
    """Along dim (default -1), by the hand-written pair (F3)."""
    return _sm.log_softmax(input, dim, axis=axis)


def logsumexp(input: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
    """Along dim (default -1), by the hand-written pair."""
    return _sm.logsumexp(input, dim, keepdim, axis=axis, keepdims=keepdims)


# ---- torch.* reductions: Tensor methods; max/min(dim) return (values, indices) -------------------
def sum(input: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
    return input.sum(dim, keepdim, axis=axis, keepdims=keepdims)


def mean(input: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
    return input.mean(dim, keepdim, axis=axis, keepdims=keepdims)


def max(input: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None):
    return input.max(dim, keepdim, axis=axis, keepdims=keepdims)


def min(input: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None):
    return input.min(dim, keepdim, axis=axis, keepdims=keepdims)


def amax(input: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
    return input.amax(dim, keepdim, axis=axis, keepdims=keepdims)


def amin(input: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
    return input.amin(dim, keepdim, axis=axis, keepdims=keepdims)


def var(input: Tensor, dim=None, unbiased=None, keepdim=None, **kwargs) -> Tensor:
    """Unbiased (correction=1) by default, as torch.var; kwargs: correction, axis, keepdims."""
    return input.var(dim, unbiased, keepdim, **kwargs)


def std(input: Tensor, dim=None, unbiased=None, keepdim=None, **kwargs) -> Tensor:
    """Unbiased (correction=1) by default, as torch.std; kwargs: correction, axis, keepdims."""
    return input.std(dim, unbiased, keepdim, **kwargs)


# ---- torch.* elementwise and shape functions: Tensor methods ----------------------------------
def abs(input: Tensor) -> Tensor:
    return input.abs()


def clamp(input: Tensor, min=None, max=None) -> Tensor:
    return input.clamp(min, max)


def masked_fill(input: Tensor, mask, value) -> Tensor:
    return input.masked_fill(mask, value)


def reshape(input: Tensor, shape) -> Tensor:
    return input.reshape(shape)


def flatten(input: Tensor, start_dim=0, end_dim=-1) -> Tensor:
    return input.flatten(start_dim, end_dim)


def unsqueeze(input: Tensor, dim) -> Tensor:
    return input.unsqueeze(dim)


def squeeze(input: Tensor, dim=None) -> Tensor:
    return input.squeeze(dim)


def transpose(input: Tensor, dim0, dim1) -> Tensor:
    return input.transpose(dim0, dim1)


def permute(input: Tensor, dims) -> Tensor:
    return input.permute(dims)


def split(tensor: Tensor, split_size_or_sections, dim=0) -> tuple:
    return tensor.split(split_size_or_sections, dim)


def chunk(input: Tensor, chunks, dim=0) -> tuple:
    return input.chunk(chunks, dim)


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
    "abs",
    "amax",
    "amin",
    "cat",
    "chunk",
    "clamp",
    "concatenate",
    "cross_entropy",
    "dropout",
    "embedding",
    "flatten",
    "gelu",
    "layer_norm",
    "log_softmax",
    "logsumexp",
    "masked_fill",
    "max",
    "mean",
    "min",
    "permute",
    "relu",
    "reshape",
    "scaled_dot_product_attention",
    "sigmoid",
    "softmax",
    "split",
    "squeeze",
    "stack",
    "std",
    "sum",
    "tanh",
    "transpose",
    "unsqueeze",
    "var",
    "where",
]
