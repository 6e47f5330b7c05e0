"""Module and Parameter: the containers that hold a model's weights."""

import numpy as np

from ..tensor import Tensor
from ..tensor.backend import to_device


class Parameter(Tensor):
    """A Tensor that a Module registers as a trainable weight (requires_grad=True)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)


class Module:
    """Base class: attributes that are Parameters or Modules are registered by name, so
    `named_parameters()` walks the tree as `block.0.attn.W_q.W` (PyTorch's dotted names)."""

    def __init__(self):
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_params" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() first"
            )
        self._params.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._params[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- walking the tree ------------------------------------------------------------------
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def children(self):
        return iter(self._modules.values())

    def named_parameters(self, remove_duplicate=True):
        """(name, Parameter) pairs; a tied Parameter is listed once, under its first name."""
        seen = set()
        for prefix, m in self.named_modules():
            for name, p in m._params.items():
                if remove_duplicate and id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{prefix}.{name}" if prefix else name), p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def num_params(self):
        return sum(p.size for p in self.parameters())

    # ---- modes, gradients, devices -------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        """Set every parameter's .grad to None (PyTorch's default, set_to_none=True)."""
        for p in self.parameters():
            p.grad = None

    def to(self, device):
        """Move every parameter's data to "cpu" or "cuda", in place (the Parameters stay the same
        objects, so an optimizer made earlier still holds them)."""
        for p in self.parameters():
            p.data = to_device(p.data, device)
            p.grad = None if p.grad is None else to_device(p.grad, device)
        return self

    # ---- state dict ------------------------------------------------------------------------
    def state_dict(self):
        """name -> array (the live arrays, not copies), every name of a tied weight included."""
        return {name: p.data for name, p in self.named_parameters(remove_duplicate=False)}

    def load_state_dict(self, state, strict=True):
        """Copy arrays into the parameters in place. With strict=True, missing or unexpected keys
        raise KeyError naming them; a shape mismatch always raises ValueError naming the key and
        both shapes."""
        own = dict(self.named_parameters(remove_duplicate=False))
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        bad = [
            f"{k}: checkpoint {tuple(np.shape(state[k]))} vs model {own[k].shape}"
            for k in own
            if k in state and tuple(np.shape(state[k])) != own[k].shape
        ]
        if bad:
            raise ValueError("load_state_dict: shape mismatch for " + "; ".join(bad))
        for k, p in own.items():
            if k in state:
                p.data[...] = to_device(np.asarray(state[k]), p.device)
        return missing, unexpected

    def __repr__(self):
        inner = "".join(
            f"\n  ({n}): " + repr(m).replace("\n", "\n  ") for n, m in self._modules.items()
        )
        return f"{type(self).__name__}({self.extra_repr()}{inner}{chr(10) if inner else ''})"

    def extra_repr(self):
        return ""
