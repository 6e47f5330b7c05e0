"""minillm: the large-language-model stack from scratch in NumPy.

Layers (each imports only the ones above it; docs/architecture.md):
    minillm.tensor -> minillm.ops (and minillm.functional) -> minillm.nn, minillm.optim
    -> minillm.models -> minillm.train, minillm.generate
minillm.data (tokenizers, corpora) and minillm.kernels (CUDA) are leaves.
"""

from .tensor import Tensor, gradcheck, no_grad

__version__ = "0.1.0"
__all__ = ["Tensor", "gradcheck", "no_grad"]
