"""The Tensor: an array plus the recipe (parents, backward function) that produced it."""

import numpy as np

from . import dispatch
from . import primitives as P
from . import primitives_shape as S
from .args import alias, check_dim
from .backend import array_module, device_of, to_device
from .graph import is_grad_enabled, run_backward
from .methods_elementwise import ElementwiseMethods
from .methods_reduce import ReductionMethods
from .methods_shape import ShapeMethods


def _as_array(data, dtype):
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        arr = array_module(data).asarray(data, dtype=dtype)
    elif hasattr(data, "dtype") and hasattr(data, "shape"):
        arr = data  # an ndarray (NumPy or CuPy) keeps its dtype
    else:
        arr = np.asarray(data)
        arr = arr.astype(np.float32) if arr.dtype == np.float64 else arr  # Python floats: float32
    if arr.dtype.kind not in "biuf":  # strings, objects, complex: no op here takes them
        raise TypeError(f"Tensor: data must be numbers, got dtype {arr.dtype}: {str(data)[:40]}")
    return arr


class Tensor(ShapeMethods, ReductionMethods, ElementwiseMethods):
    """An n-dimensional array that records the ops applied to it, for reverse-mode autodiff.

    Python floats and lists become float32; an ndarray keeps its dtype (float64 works end to end,
    for gradient checks). Mixing float32 and float64 follows NumPy promotion (the result is
    float64), and a Python number takes the tensor's dtype.

    The methods have PyTorch's names and arguments (`dim`, `keepdim`), with NumPy's `axis` and
    `keepdims` as aliases: shape methods in methods_shape.py, reductions in methods_reduce.py,
    abs/clamp/masked_fill/casts in methods_elementwise.py."""

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_op", "_freed")
    __array_priority__ = 1000  # ndarray + Tensor defers to Tensor.__radd__
    __hash__ = (
        object.__hash__
    )  # __eq__ is elementwise; identity hashing keeps tensors usable as keys

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        self.data = _as_array(data, dtype)
        if device is not None:  # "cpu" (NumPy) or "cuda" (CuPy; RuntimeError without a GPU)
            self.data = to_device(self.data, device)
        self.grad = None
        self._parents = ()
        self._backward = None
        self._op = "leaf"
        self._freed = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_()

    @classmethod
    def from_op(cls, out, parents, backward, op):
        """A graph node: `backward(dout)` returns one gradient (or None) per parent."""
        t = cls.__new__(cls)
        t.data, t.grad, t._op, t._freed = out, None, op, False
        t.requires_grad = is_grad_enabled() and any(p.requires_grad for p in parents)
        t._parents = parents if t.requires_grad else ()
        t._backward = backward if t.requires_grad else None
        return t

    # ---- properties -------------------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    device = property(lambda self: device_of(self.data))
    is_leaf = property(lambda self: self._backward is None and not self._freed)

    def __len__(self):
        return len(self.data)

    def __bool__(self):
        """The truth of a one-element tensor; ValueError for more (else `if t:` and `t in list`
        would fall back to len() and be True for any non-empty tensor)."""
        if self.data.size != 1:
            raise ValueError(f"bool(): the truth of shape {self.shape} is ambiguous; use .any()")
        return bool(self.data)

    def __repr__(self):
        grad = f", requires_grad=True, op={self._op}" if self.requires_grad else ""
        return f"Tensor({np.array2string(np.asarray(self.numpy()), precision=4)}{grad})"

    def numpy(self):
        return to_device(self.data, "cpu")

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): needs a one-element tensor, got shape {self.shape}")
        return self.data.item()

    def detach(self):
        return Tensor(self.data)

    def requires_grad_(self, flag=True):
        if flag and self.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad; got dtype {self.dtype}")
        self.requires_grad = flag
        return self

    def to(self, device):
        """A copy on "cpu" or "cuda" (the same tensor when already there), as a new leaf."""
        if device == self.device:
            return self
        return Tensor(to_device(self.data, device), self.requires_grad)

    def backward(self, grad=None, retain_graph=False):
        """Compute d self / d leaf for every leaf that requires grad, adding it into leaf.grad."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad (no graph to walk)"
            )
        xp = array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without `grad` needs a scalar output, got shape {self.shape}; "
                    "pass grad= an array of that shape"
                )
            grad = xp.ones_like(self.data)
        grad = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=self.dtype)
        if grad.shape != self.shape:
            raise ValueError(f"backward(): grad shape {grad.shape} != tensor shape {self.shape}")
        run_backward(self, grad, retain_graph)

    # ---- the op table, bound to operators --------------------------------------------------
    def _lift(self, other):
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float, bool)):
            # a number (np.float64 too) takes a float tensor's dtype; with an int/bool tensor,
            # NumPy's promotion (a mask * 0.5 must not truncate to 0)
            xp = array_module(self.data)
            is_float = self.dtype.kind == "f"
            dtype = self.dtype if is_float else xp.result_type(self.data, other)
            return Tensor(xp.asarray(other, dtype=dtype))
        return Tensor(other)

    def _binary(self, other, fwd, bwd, op, swap=False):
        a, b = (self._lift(other), self) if swap else (self, self._lift(other))
        try:
            out, cache = fwd(a.data, b.data)
        except ValueError as e:
            raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from e
        return Tensor.from_op(out, (a, b), lambda d: bwd(d, cache), op)

    def _unary(self, fwd, bwd, op, *args):
        out, cache = fwd(self.data, *args)
        return Tensor.from_op(out, (self,), lambda d: bwd(d, cache), op)

    def __add__(self, o):
        return self._binary(o, P.add_forward, P.add_backward, "add")

    def __radd__(self, o):
        return self._binary(o, P.add_forward, P.add_backward, "add", swap=True)

    def __sub__(self, o):
        return self._binary(o, P.sub_forward, P.sub_backward, "sub")

    def __rsub__(self, o):
        return self._binary(o, P.sub_forward, P.sub_backward, "sub", swap=True)

    def __mul__(self, o):
        return self._binary(o, P.mul_forward, P.mul_backward, "mul")

    def __rmul__(self, o):
        return self._binary(o, P.mul_forward, P.mul_backward, "mul", swap=True)

    def __truediv__(self, o):
        return self._binary(o, P.div_forward, P.div_backward, "div")

    def __rtruediv__(self, o):
        return self._binary(o, P.div_forward, P.div_backward, "div", swap=True)

    def __matmul__(self, o):
        return matmul(self, self._lift(o))

    def __rmatmul__(self, o):
        return matmul(self._lift(o), self)

    def __neg__(self):
        return self._unary(P.neg_forward, P.neg_backward, "neg")

    def __pow__(self, p):
        if not isinstance(p, (int, float)):
            raise TypeError(f"pow: the exponent must be a Python number, got {type(p).__name__}")
        return self._unary(P.pow_forward, P.pow_backward, "pow", p)

    def exp(self):
        return self._unary(P.exp_forward, P.exp_backward, "exp")

    def log(self):
        return self._unary(P.log_forward, P.log_backward, "log")

    def tanh(self):
        return self._unary(P.tanh_forward, P.tanh_backward, "tanh")

    def sqrt(self):
        return self**0.5

    def __getitem__(self, index):
        if isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        elif isinstance(index, Tensor):
            index = index.data
        try:
            return self._unary(S.getitem_forward, S.getitem_backward, "getitem", index)
        except IndexError as e:  # NumPy's message names neither the op nor the whole shape
            raise IndexError(f"getitem: {e} (tensor of shape {self.shape})") from e

    # ---- comparisons: plain boolean results, no graph -------------------------------------
    def _cmp(self, o, fn):
        return Tensor(fn(self.data, o.data if isinstance(o, Tensor) else o))

    def __lt__(self, o):
        return self._cmp(o, lambda a, b: a < b)

    def __le__(self, o):
        return self._cmp(o, lambda a, b: a <= b)

    def __gt__(self, o):
        return self._cmp(o, lambda a, b: a > b)

    def __ge__(self, o):
        return self._cmp(o, lambda a, b: a >= b)

    def __eq__(self, o):
        return self._cmp(o, lambda a, b: a == b)

    def __ne__(self, o):
        return self._cmp(o, lambda a, b: a != b)


def matmul(a, b):
    """a @ b with batching and broadcasting; names both shapes when the inner dimensions differ."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: scalars cannot be multiplied with @, got {a.shape} @ {b.shape}")
    k_a, k_b = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape} ({k_a} != {k_b})")
    fwd, bwd = dispatch.matmul_pair(a.data, b.data)  # P.matmul_*, or a kernel for CuPy arrays
    try:
        out, cache = fwd(a.data, b.data)
    except ValueError as e:
        raise ValueError(f"matmul: batch shapes of {a.shape} and {b.shape} do not broadcast") from e
    return Tensor.from_op(out, (a, b), lambda d: bwd(d, cache), "matmul")


def where(cond, a, b):
    """Elementwise a if cond else b; cond gets no gradient."""
    cond = cond.data if isinstance(cond, Tensor) else cond
    a = a if isinstance(a, Tensor) else b._lift(a)
    b = b if isinstance(b, Tensor) else a._lift(b)
    try:
        out, cache = S.where_forward(cond, a.data, b.data)
    except ValueError as e:
        raise ValueError(f"where: cond {np.shape(cond)}, {a.shape}, {b.shape} mismatch") from e
    return Tensor.from_op(out, (a, b), lambda d: S.where_backward(d, cache), "where")


def _join(method, tensors, dim, axis, op):
    """concatenate or stack (`op`, a primitive) along dim, called as `method`."""
    tensors = tuple(tensors)
    if not tensors:
        raise ValueError(f"{method}: needs at least one tensor")
    new_axis = op == "stack"  # stack may put its new axis after the last one
    dim = check_dim(
        method, alias(method, "dim", dim, "axis", axis, 0), tensors[0].shape, extra=int(new_axis)
    )
    fwd, bwd = getattr(S, f"{op}_forward"), getattr(S, f"{op}_backward")
    try:
        out, cache = fwd([t.data for t in tensors], dim)
    except ValueError as e:
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ValueError(f"{method}: shapes {shapes} do not fit along dim {dim}") from e
    return Tensor.from_op(out, tensors, lambda d: bwd(d, cache), op)


def concatenate(tensors, dim=None, *, axis=None):
    """The tensors joined along an existing dim (default 0), as np.concatenate / torch.cat."""
    return _join("concatenate", tensors, dim, axis, "concatenate")


def cat(tensors, dim=None, *, axis=None):
    """concatenate under torch's name."""
    return _join("cat", tensors, dim, axis, "concatenate")


def stack(tensors, dim=None, *, axis=None):
    """The tensors (all of one shape) stacked along a new dim (default 0), as torch.stack."""
    return _join("stack", tensors, dim, axis, "stack")
