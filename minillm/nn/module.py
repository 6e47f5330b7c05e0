"""Module and Parameter: the containers that hold a model's weights, buffers and sub-modules.

PyTorch's names and semantics: attributes that are Parameters, Modules or registered buffers are
kept in ordered tables, so `named_parameters()` walks the tree as `blocks.0.self_attn.W_q.W`.
Assigning to an existing name keeps its slot (its position in the table): swapping block 0 for a
quantized copy leaves the blocks in order 0, 1, 2, ... and the optimizer's parameter indices
unchanged. Surgery by path (`get_submodule`, `set_submodule`), freezing, hooks, the state dict
and the train/eval, device and dtype switches live in module_tree.py, module_hooks.py,
module_state.py and module_modes.py; this file holds the tables.
"""

from ..tensor import Tensor
from .module_hooks import HooksMixin
from .module_modes import ModesMixin
from .module_state import StateMixin
from .module_tree import TreeMixin


class Parameter(Tensor):
    """A Tensor that a Module registers as a trainable weight (requires_grad=True)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)


class Module(TreeMixin, StateMixin, HooksMixin, ModesMixin):
    """Base class of every layer and model.

    - `self.W = Parameter(...)`, `self.block = Linear(...)`: registered by name, in order;
    - `self.register_buffer("pe", array, persistent=True)`: an array that is state but not a
      weight (a positional table, an int8 weight, a quantization scale): in `state_dict` when
      persistent, moved by `to()`, never trained;
    - re-assigning a registered name keeps its position; assigning None to a registered
      Parameter, buffer or Module keeps the name registered as empty, as PyTorch.
    PARAM_ROLES maps a parameter name to its role ("weight", "bias", "embedding", "norm"); the
    optimizer's weight-decay groups come from the roles (see `named_parameter_roles`)."""

    PARAM_ROLES: dict = {}

    def __init__(self):
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_pre_hooks", {})
        object.__setattr__(self, "_forward_hooks", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_params" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() first"
            )
        tables = (self._params, self._buffers, self._modules)
        if isinstance(value, Parameter):
            table = self._params
        elif isinstance(value, Module):
            table = self._modules
        elif name in self._buffers and (value is None or hasattr(value, "shape")):
            table = self._buffers  # a registered buffer takes a new array (or None)
        elif value is None and (name in self._params or name in self._modules):
            table = self._params if name in self._params else self._modules
        else:
            table = None
        for other in tables:  # a name lives in at most one table
            if other is not table and name in other:
                del other[name]
        if table is not None:
            table[name] = value  # an existing key keeps its position in the dict
        if table is not self._buffers:
            self._non_persistent.discard(name)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for table in (self._params, self._buffers, self._modules):
            table.pop(name, None)
        self._non_persistent.discard(name)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, array, persistent: bool = True) -> None:
        """Register `array` (NumPy or CuPy, any dtype, or None) as a buffer named `name`.

        Buffers move with `to()`, are cast by `to(dtype)` when floating, are saved by `state_dict`
        when persistent, and are never handed to an optimizer."""
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"register_buffer: name must be a non-empty string without '.', got "
                             f"{name!r}")  # fmt: skip
        if array is not None and not hasattr(array, "shape"):
            raise TypeError(
                f"register_buffer: {name!r} must be an array or None, got {type(array).__name__}"
            )
        if name in self._params or name in self._modules:
            raise KeyError(f"register_buffer: {name!r} is already a parameter or a sub-module")
        self._buffers[name] = array
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, array)

    def register_parameter(self, name: str, param) -> None:
        """Register a Parameter (or None) under `name`, as `setattr` does."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter: {name!r} must be a Parameter or None, got "
                f"{type(param).__name__}"
            )
        self._params[name] = param
        object.__setattr__(self, name, param)

    def add_module(self, name: str, module) -> None:
        """Register a sub-module (or None) under `name`, as `setattr` does."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        self._modules[name] = module
        object.__setattr__(self, name, module)

    def param_role(self, name: str) -> str:
        """The role of this module's own parameter `name` (PARAM_ROLES, default "weight")."""
        return self.PARAM_ROLES.get(name, "weight")

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks):
            return self.forward(*args, **kwargs)  # the common case: no hooks, no overhead
        return self._call_with_hooks(args, kwargs)

    def __repr__(self):
        inner = "".join(
            f"\n  ({n}): " + repr(m).replace("\n", "\n  ") for n, m in self._modules.items()
        )
        return f"{type(self).__name__}({self.extra_repr()}{inner}{chr(10) if inner else ''})"

    def extra_repr(self):
        return ""
