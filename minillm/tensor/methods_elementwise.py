"""Tensor methods that act on each element, with PyTorch's names: abs, clamp/clip, masked_fill,
and the dtype casts float, double, type_as, astype.

No new math for the first three: abs is x * sign(x) (mul), clamp and masked_fill are the where
primitive. The casts are the astype primitive, so they stay in the graph: a float32 tensor taken
to float64 and back gets its gradient in float32.
"""

import functools

import numpy as np

from . import primitives as P
from . import primitives_shape as S
from .backend import array_module


class ElementwiseMethods:
    """Mixed into Tensor; uses only Tensor's operators, _unary, _binary and _lift."""

    __slots__ = ()

    def _where(self, cond, other):
        """other where cond is True, self elsewhere: the where primitive, cond a boolean array."""
        fwd = functools.partial(S.where_forward, cond)  # (other, self) -> where(cond, other, self)
        return self._binary(other, fwd, S.where_backward, "where", swap=True)

    def _array(self, x):
        """The array of a Tensor, anything else as it is."""
        return x.data if isinstance(x, ElementwiseMethods) else x  # Tensor subclasses this mixin

    def abs(self):
        """|x| = x * sign(x), sign a constant: d|x|/dx = sign(x), 0 at x = 0 and at nan (torch)."""
        xp = array_module(self.data)
        sign = xp.nan_to_num(xp.sign(self.data))  # sign(nan) = nan -> 0: the gradient at nan
        return self * self._lift(sign)

    def clamp(self, min=None, max=None):
        """x limited to [min, max] (either may be None; numbers or tensors), as torch.clamp.

        The gradient passes where min <= x <= max, boundaries included (torch's rule); below
        min it goes to min, above max to max. With min > max every element is max, and NaN
        stays NaN, with gradient 0 (it is not between min and max)."""
        if min is None and max is None:
            raise TypeError(f"clamp: give min, max or both (got neither), shape {self.shape}")
        y = self
        if min is not None:
            y = y._where(self.data < self._array(min), min)  # below min -> min
        if max is not None:
            y = y._where(y.data > self._array(max), max)  # above max -> max
        nan = array_module(self.data).isnan(self.data)
        return y._where(nan, float("nan")) if nan.any() else y  # nan -> a constant nan

    def clip(self, min=None, max=None):
        """clamp under its other torch name."""
        return self.clamp(min, max)

    def masked_fill(self, mask, value):
        """value where mask is True, x elsewhere (torch.masked_fill). mask is boolean and
        broadcasts against x; x gets no gradient where it was filled, a tensor value gets the
        sum of the gradient over the filled places."""
        mask = self._array(mask)
        if getattr(mask, "dtype", None) != np.bool_:
            dtype = getattr(mask, "dtype", type(mask).__name__)
            raise TypeError(
                f"masked_fill: mask must be boolean, got {dtype} (shape {self.shape}); "
                "compare first, e.g. mask == 0"
            )
        return self._where(mask, value)

    def astype(self, dtype):
        """x converted to `dtype` (NumPy's name), in the graph: the gradient comes back in
        x's dtype. float() and double() are torch's names for the two float dtypes."""
        return self._unary(P.astype_forward, P.astype_backward, "astype", np.dtype(dtype))

    def float(self):
        """x as float32 (torch.Tensor.float), in the graph."""
        return self.astype(np.float32)

    def double(self):
        """x as float64 (torch.Tensor.double), in the graph."""
        return self.astype(np.float64)

    def type_as(self, other):
        """x converted to other's dtype (torch.Tensor.type_as), in the graph."""
        return self.astype(other.dtype)
