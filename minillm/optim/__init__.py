"""Optimizers (SGD, Adam, AdamW), the warm-up + cosine learning-rate schedule, gradient clipping,
and the loss scaler of float16 training (GradScaler).

Each optimizer updates `p.data` in place from `p.grad` for the Tensors it was given, with
PyTorch's semantics (parameter groups, state_dict by parameter index, None grads skipped).
"""

from . import lr_scheduler
from .adam import Adam
from .adamw import AdamW
from .clip_grad import clip_grad_norm_
from .grad_scaler import GradScaler
from .lr_scheduler import WarmupCosineLR, warmup_cosine_lr
from .optimizer import Optimizer
from .sgd import SGD

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "GradScaler",
    "Optimizer",
    "WarmupCosineLR",
    "clip_grad_norm_",
    "lr_scheduler",
    "warmup_cosine_lr",
]
