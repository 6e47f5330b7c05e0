"""train()/eval(), zero_grad, and moving or casting a Module's arrays in place (to, double,
float)."""

import numpy as np

from ..tensor.backend import to_device


class ModesMixin:
    """The mode and placement half of Module (PyTorch's names)."""

    def train(self, mode: bool = True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        """Set every parameter's .grad to None (PyTorch's default, set_to_none=True)."""
        for p in self.parameters():
            p.grad = None

    def to(self, device_or_dtype):
        """Move to "cpu" / "cuda", or cast to a floating dtype (np.float64, "float32"), in place.

        The Parameters stay the same objects, so an optimizer made earlier still holds them.
        A dtype casts the floating parameters (and their grads) and the floating buffers only:
        integer buffers (an int8 weight, token ids) keep their dtype, as in PyTorch."""
        if isinstance(device_or_dtype, str) and device_or_dtype in ("cpu", "cuda"):
            move = lambda a: to_device(a, device_or_dtype)  # noqa: E731
            movable = lambda a: True  # noqa: E731
        else:
            try:
                dtype = np.dtype(device_or_dtype)
            except TypeError:
                raise ValueError(
                    f"Module.to: expected 'cpu', 'cuda' or a floating dtype, got "
                    f"{device_or_dtype!r}"
                ) from None
            if dtype.kind != "f":
                raise ValueError(f"Module.to: can only cast to a floating dtype, got {dtype}")
            move = lambda a: a.astype(dtype, copy=False)  # noqa: E731
            movable = lambda a: a.dtype.kind == "f"  # noqa: E731
        for p in self.parameters():
            if movable(p.data):
                p.data = move(p.data)
                p.grad = None if p.grad is None else move(p.grad)
        for m in self.modules():
            for name, b in list(m._buffers.items()):
                if b is not None and movable(b):
                    m._buffers[name] = move(b)
                    object.__setattr__(m, name, m._buffers[name])
        return self

    def double(self):
        """Cast floating parameters and buffers to float64 (for gradchecks of whole layers)."""
        return self.to(np.float64)

    def float(self):
        """Cast floating parameters and buffers to float32."""
        return self.to(np.float32)
