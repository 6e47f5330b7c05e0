"""The autograd engine: Tensor, the primitive op table, backward, no_grad and gradcheck."""

# The primitive op table: name -> (forward, backward) array pairs. A meta-test checks that each
# entry (and each composite in minillm.ops.OP_TABLE) has a gradcheck test.
from . import primitives as _P  # noqa: E402
from . import primitives_shape as _S  # noqa: E402
from .backend import array_module
from .gradcheck import gradcheck
from .graph import is_grad_enabled, no_grad, set_grad_enabled
from .methods_reduce import ValuesIndices
from .tensor import Tensor, cat, concatenate, matmul, stack, where

_ELEMENTWISE = ("add", "sub", "mul", "div", "neg", "pow", "exp", "log", "tanh", "astype", "matmul")
_SHAPE = (
    "sum",
    "max",
    "reshape",
    "expand",
    "transpose",
    "getitem",
    "where",
    "concatenate",
    "stack",
)
PRIMITIVES = {
    name: (getattr(mod, f"{name}_forward"), getattr(mod, f"{name}_backward"))
    for mod, names in ((_P, _ELEMENTWISE), (_S, _SHAPE))
    for name in names
}

__all__ = [
    "PRIMITIVES",
    "Tensor",
    "ValuesIndices",
    "array_module",
    "cat",
    "concatenate",
    "gradcheck",
    "is_grad_enabled",
    "matmul",
    "no_grad",
    "set_grad_enabled",
    "stack",
    "where",
]
