"""Argument handling shared by the PyTorch-shaped methods: `dim`/`axis` aliases and dim checks.

PyTorch spells an axis `dim` and its keep flag `keepdim`; NumPy spells them `axis` and `keepdims`.
Every minillm function that takes an axis accepts both (`x.sum(dim=1)`, `x.sum(axis=1)`), and
giving both spellings of one argument is a TypeError that names them. A dim out of range is a
one-line AxisError (both an IndexError, as in PyTorch, and a ValueError, as in NumPy) that names
the method, the argument and the shape.
"""

import numpy as np


def alias(method, name, value, alias_name, alias_value, default=None):
    """The value of an argument with two spellings (`dim`/`axis`, `keepdim`/`keepdims`): the one
    given, else `default`. None means "not given" for both."""
    if alias_value is None:
        return default if value is None else value
    if value is not None:
        raise TypeError(
            f"{method}() got both {name}={value!r} and {alias_name}={alias_value!r}: they are two "
            "spellings of one argument (PyTorch's and NumPy's); pass one"
        )
    return alias_value


def dim_and_keepdim(method, dim, axis, keepdim, keepdims, default=None):
    """(dim, keepdim) from PyTorch's or NumPy's spelling (reductions: sum, mean, var, ...)."""
    dim = alias(method, "dim", dim, "axis", axis, default)
    return dim, bool(alias(method, "keepdim", keepdim, "keepdims", keepdims, False))


def check_dim(method, dim, shape, name="dim", extra=0):
    """dim as an index in [0, ndim + extra), accepting -ndim - extra <= dim < ndim + extra.

    `extra` is 1 where a new axis may go at the end (unsqueeze, stack)."""
    n = len(shape) + extra
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{method}: {name} must be an int, got {type(dim).__name__} {dim!r}")
    if not -n <= dim < n:
        raise np.exceptions.AxisError(
            f"{method}: {name}={dim} is out of range for shape {tuple(shape)} "
            f"(expected {-n} <= {name} <= {n - 1})"
        )
    return int(dim) % n


def check_dims(method, dim, shape, name="dim"):
    """None (every axis), or a tuple of distinct axes in [0, ndim), from an int or a sequence."""
    if dim is None:
        return None
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    out = tuple(check_dim(method, d, shape, name) for d in dims)
    if len(set(out)) != len(out):
        raise ValueError(f"{method}: {name}={dim!r} names an axis twice (shape {tuple(shape)})")
    return out if isinstance(dim, (tuple, list)) else out[0]
