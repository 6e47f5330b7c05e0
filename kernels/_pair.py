"""KernelPair: one numbered kernel version, a forward and the backward that reads its cache."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class KernelPair:
    """forward(*reference args) -> (out, cache); backward(dout, cache, ...) -> gradients.

    Calling the pair calls its forward, so a VERSIONS value is itself a callable with the NumPy
    reference's signature. The cache is opaque: pass it only to the same pair's backward.
    """

    forward: Callable
    backward: Callable

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)
