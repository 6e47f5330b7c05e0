"""Primitives that reduce, move or select elements: sum, max, reshape, expand, transpose, getitem,
where, concatenate, stack. Same `(out, cache)` / `(dout, cache)` convention as `primitives.py`."""

from .backend import array_module
from .primitives import unbroadcast


def _keep(g, shape, axis, keepdims):
    """Put back the reduced axes of g (for broadcasting against the input of shape `shape`)."""
    if keepdims or axis is None and g.ndim == 0:
        return g.reshape([1] * len(shape)) if g.ndim == 0 else g
    axes = range(len(shape)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    return array_module(g).expand_dims(g, tuple(a % len(shape) for a in axes))


def sum_forward(a, axis=None, keepdims=False):
    """y = sum_i a_i over `axis`"""
    return a.sum(axis=axis, keepdims=keepdims), (a.shape, axis, keepdims)


def sum_backward(dout, cache):
    """da_i = dy (broadcast back over the summed axes)"""
    shape, axis, keepdims = cache
    return (array_module(dout).broadcast_to(_keep(dout, shape, axis, keepdims), shape),)


def max_forward(a, axis=None, keepdims=False):
    """y = max_i a_i over `axis`"""
    return a.max(axis=axis, keepdims=keepdims), (a, axis, keepdims)


def max_backward(dout, cache):
    """da_i = dy * [a_i == max] / (number of maxima).

    Deviation: ties share the gradient equally (like torch.amax); torch.max(dim) gives it to one
    index. Both are valid subgradients. This pair backs x.max(), amax and max(axis=); x.max(dim)
    is a gather at the argmax instead, and so follows torch.max(dim) (methods_reduce.py)."""
    a, axis, keepdims = cache
    m = a.max(axis=axis, keepdims=True)
    hit = a == m
    count = hit.sum(axis=axis, keepdims=True, dtype=dout.dtype)  # float: an int count made f32 f64
    return (hit * (_keep(dout, a.shape, axis, keepdims) / count),)


def reshape_forward(a, shape):
    """y = a viewed with a new shape"""
    return a.reshape(shape), a.shape


def reshape_backward(dout, shape):
    """da = dy reshaped back"""
    return (dout.reshape(shape),)


def expand_forward(a, shape):
    """y = a broadcast to `shape`: size-1 axes repeated, new axes in front (torch.expand).

    A read-only view, as torch.expand shares memory: no element is copied."""
    return array_module(a).broadcast_to(a, shape), a.shape  # (1, T, C) -> (B, T, C)


def expand_backward(dout, shape):
    """da = dy summed over the repeated axes (every copy of a_i contributed dy to it)"""
    return (unbroadcast(dout, shape),)  # (B, T, C) -> (1, T, C)


def transpose_forward(a, axes=None):
    """y = a with its axes permuted (reversed when axes is None)"""
    axes = tuple(reversed(range(a.ndim))) if axes is None else tuple(axes)
    return a.transpose(axes), axes


def transpose_backward(dout, axes):
    """da = dy permuted by the inverse permutation"""
    inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
    return (dout.transpose(inverse),)


def getitem_forward(a, index):
    """y = a[index] (basic slices or integer-array gather)"""
    return a[index], (a.shape, a.dtype, index)


def getitem_backward(dout, cache):
    """da = zeros with dy scattered (added) back at `index`; repeated indices accumulate"""
    shape, dtype, index = cache
    xp = array_module(dout)
    da = xp.zeros(shape, dtype=dout.dtype)
    if _is_basic(index):
        da[index] = dout  # slices never repeat an element
    else:
        xp.add.at(da, index, dout)  # an integer array may name an element twice
    return (da,)


def _is_basic(index) -> bool:
    """True for an index of ints, slices, None and Ellipsis only (NumPy 'basic indexing')."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, slice)) or p is None or p is Ellipsis for p in parts)


def where_forward(cond, a, b):
    """y = a where cond else b"""
    return array_module(a, b).where(cond, a, b), (cond, a.shape, b.shape)


def where_backward(dout, cache):
    """da = dy * cond, db = dy * (1 - cond)"""
    cond, sa, sb = cache
    zero = dout.dtype.type(0)
    xp = array_module(dout)
    return unbroadcast(xp.where(cond, dout, zero), sa), unbroadcast(xp.where(cond, zero, dout), sb)


def concatenate_forward(arrays, axis=0):
    """y = [a_1, a_2, ...] joined along `axis`"""
    sizes = [a.shape[axis] for a in arrays]
    return array_module(*arrays).concatenate(arrays, axis=axis), (sizes, axis)


def concatenate_backward(dout, cache):
    """da_k = the k-th slice of dy along `axis`"""
    sizes, axis = cache
    xp = array_module(dout)
    return tuple(xp.split(dout, xp.cumsum(xp.asarray(sizes[:-1])).tolist(), axis=axis))


def stack_forward(arrays, axis=0):
    """y = arrays stacked along a new `axis`"""
    return array_module(*arrays).stack(arrays, axis=axis), (len(arrays), axis)


def stack_backward(dout, cache):
    """da_k = dy taken at index k of `axis`"""
    n, axis = cache
    xp = array_module(dout)
    return tuple(xp.take(dout, k, axis=axis) for k in range(n))
