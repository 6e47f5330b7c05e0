"""Tensor methods about shape, with PyTorch's names and arguments: size, numel, dim, and the ones
that move elements without changing them: reshape/view, unsqueeze, squeeze, flatten, permute,
transpose, T, mT, expand, split, chunk, contiguous.

No new math: each is one of the shape primitives (reshape, expand, transpose, getitem), so each
gradient is that primitive's backward. unsqueeze, squeeze, view and flatten are reshapes; split and
chunk are slices (getitem). Bad arguments raise one-line errors that name the method, the argument
and the shape (minillm.tensor.args).
"""

import numpy as np

from . import primitives_shape as S
from .args import check_dim


def _sizes(method, sizes):
    """(2, 3) from f(2, 3), f((2, 3)) or f([2, 3]), each an int."""
    sizes = sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    if all(type(n) is int for n in sizes):  # the common case, checked cheaply (generation)
        return tuple(sizes)
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in sizes):
        raise TypeError(f"{method}: sizes must be ints, got {tuple(sizes)!r}")
    return tuple(int(n) for n in sizes)


class _Size(int):
    """t.size: NumPy's element count (an int), and callable as PyTorch's t.size() -> the shape,
    t.size(dim) -> one axis's length. Both spellings are in use (nn.Module counts parameters with
    p.size); numel() is the PyTorch name for the count."""

    def __new__(cls, shape):
        out = super().__new__(cls, int(np.prod(shape)))
        out.shape = tuple(shape)
        return out

    def __call__(self, dim=None):
        return self.shape if dim is None else self.shape[check_dim("size", dim, self.shape)]


class ShapeMethods:
    """Mixed into Tensor; uses only Tensor._unary and Tensor.__getitem__."""

    __slots__ = ()

    T = property(lambda self: self.transpose())  # every axis reversed (NumPy's and torch's .T)
    mT = property(lambda self: self._swap_last_two())  # (..., M, N) -> (..., N, M)
    size = property(lambda self: _Size(self.shape))  # t.size (an int), t.size(), t.size(dim)

    def numel(self):
        """The number of elements (torch.numel; NumPy's .size)."""
        return int(np.prod(self.shape))

    def dim(self):
        """The number of axes (torch's dim(); NumPy's .ndim)."""
        return len(self.shape)

    def reshape(self, *shape):
        """The same elements in a new shape, one size may be -1: (B, T, C) -> (B*T, C)."""
        return self._reshape("reshape", _sizes("reshape", shape))

    def view(self, *shape):
        """x.reshape(*shape) under torch's name. Deviation: torch.view never copies and refuses a
        non-contiguous input; NumPy's reshape copies when it must, so view always works here."""
        return self._reshape("view", _sizes("view", shape))

    def _reshape(self, method, shape):
        try:
            return self._unary(S.reshape_forward, S.reshape_backward, "reshape", shape)
        except ValueError as e:
            raise ValueError(f"{method}: cannot view shape {self.shape} as {shape}") from e

    def unsqueeze(self, dim):
        """A new size-1 axis at `dim` (-ndim-1 <= dim <= ndim): (B, T).unsqueeze(1) -> (B, 1, T)."""
        d = check_dim("unsqueeze", dim, self.shape, extra=1)
        return self._reshape("unsqueeze", self.shape[:d] + (1,) + self.shape[d:])

    def squeeze(self, dim=None):
        """Drop size-1 axes: all of them, or those among `dim` (an int or a tuple). PyTorch's
        rule: a named axis whose size is not 1 is left as it is (no error), (2, 1, 3).squeeze(0)
        is (2, 1, 3); only a dim out of range is an error."""
        dims = range(self.ndim) if dim is None else dim if isinstance(dim, (tuple, list)) else [dim]
        drop = {check_dim("squeeze", d, self.shape) for d in dims}
        keep = tuple(n for i, n in enumerate(self.shape) if i not in drop or n != 1)
        return self._reshape("squeeze", keep)

    def flatten(self, start_dim=0, end_dim=-1):
        """Axes start_dim..end_dim (inclusive) merged into one: (B, T, C).flatten(1) -> (B, T*C);
        a 0-d tensor becomes (1,), as in torch."""
        if self.ndim == 0:
            return self._reshape("flatten", (1,))
        s = check_dim("flatten", start_dim, self.shape, "start_dim")
        e = check_dim("flatten", end_dim, self.shape, "end_dim")
        if s > e:
            raise ValueError(
                f"flatten: start_dim={start_dim} comes after end_dim={end_dim} for shape "
                f"{self.shape}"
            )
        n = int(np.prod(self.shape[s : e + 1]))  # not -1: a zero-size axis leaves -1 ambiguous
        return self._reshape("flatten", self.shape[:s] + (n,) + self.shape[e + 1 :])

    def permute(self, *dims):
        """The axes reordered: out.shape[i] = self.shape[dims[i]] (torch.permute, np.transpose)."""
        dims = _sizes("permute", dims)
        if any(not 0 <= d < self.ndim for d in dims) or len(dims) != self.ndim:  # full check
            dims = tuple(check_dim("permute", d, self.shape, "dims") for d in dims)
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(
                f"permute: dims {dims} are not a permutation of the axes of shape {self.shape}"
            )
        return self._unary(S.transpose_forward, S.transpose_backward, "transpose", dims)

    def transpose(self, dim0=None, dim1=None):
        """Swap two axes, as torch.transpose(dim0, dim1); with no arguments reverse them all
        (NumPy's .T). For any other reordering use permute."""
        if dim0 is None and dim1 is None:
            return self._unary(S.transpose_forward, S.transpose_backward, "transpose", None)
        if dim0 is None or dim1 is None:
            raise TypeError("transpose: give both dim0 and dim1 (or neither, to reverse the axes)")
        dims = list(range(self.ndim))
        d0 = check_dim("transpose", dim0, self.shape, "dim0")
        d1 = check_dim("transpose", dim1, self.shape, "dim1")
        dims[d0], dims[d1] = d1, d0
        return self.permute(dims)

    def _swap_last_two(self):
        if self.ndim < 2:
            raise ValueError(f"mT: needs a matrix or a batch of them, got shape {self.shape}")
        return self.transpose(-2, -1)

    def expand(self, *sizes):
        """A view with size-1 axes repeated and new axes in front; -1 keeps an axis's size:
        (1, T, T).expand(B, -1, -1) -> (B, T, T). The gradient sums over the copies."""
        sizes = _sizes("expand", sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ValueError(
                f"expand: {len(sizes)} sizes {sizes} for the {self.ndim} axes of shape {self.shape}"
            )
        shape = []
        for i, n in enumerate(sizes):
            old = self.shape[i - lead] if i >= lead else None
            new = old if n == -1 and old is not None else n
            if new < 0 or (old is not None and old not in (1, new)):
                raise ValueError(
                    f"expand: size {n} at dim {i} does not fit shape {self.shape} (only a size-1 "
                    "axis can grow; -1 keeps an existing axis)"
                )
            shape.append(new)
        return self._unary(S.expand_forward, S.expand_backward, "expand", tuple(shape))

    def split(self, split_size_or_sections, dim=0):
        """Slices along `dim`: of split_size each (the last one may be smaller), or of the sizes
        in a list, which must add up to the axis's size. Returns a tuple (torch.split)."""
        d = check_dim("split", dim, self.shape)
        n = self.shape[d]
        if isinstance(split_size_or_sections, (int, np.integer)):
            size = split_size_or_sections
            if size < 0 or (size == 0 and n != 0):
                raise ValueError(
                    f"split: split_size={size} must be positive for dim {dim} of shape {self.shape}"
                )
            sizes = [min(size, n - i) for i in range(0, n, size)] if n else [0]
        else:
            sizes = [int(s) for s in split_size_or_sections]
            if any(s < 0 for s in sizes) or sum(sizes) != n:
                raise ValueError(
                    f"split: sizes {sizes} must be >= 0 and add up to {n}, the size of dim "
                    f"{dim} of shape {self.shape}"
                )
        starts = [sum(sizes[:k]) for k in range(len(sizes))]
        lead = (slice(None),) * d  # every element of the axes before `dim`
        return tuple(self[lead + (slice(a, a + s),)] for a, s in zip(starts, sizes))

    def chunk(self, chunks, dim=0):
        """`chunks` slices of ceil(n / chunks) along `dim` (fewer when they run out), as
        torch.chunk: (B, T, 3C).chunk(3, dim=2) -> three (B, T, C)."""
        if not isinstance(chunks, int) or chunks <= 0:
            raise ValueError(
                f"chunk: chunks={chunks!r} must be a positive int (shape {self.shape})"
            )
        n = self.shape[check_dim("chunk", dim, self.shape)]
        if n == 0:
            return self.split([0] * chunks, dim)
        return self.split(-(-n // chunks), dim)  # ceil(n / chunks)

    def contiguous(self):
        """The tensor itself: every array here may be read with any strides (torch's contiguous
        copies a strided view; nothing here needs that)."""
        return self
