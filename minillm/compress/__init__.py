"""minillm.compress: make a trained model smaller or faster, and the weight-level studies that
go with it (C1-C4, C6, C7).

- quantisation (C4): ``QuantLinear``, ``quantize_model`` (formulas in minillm.ops.quantize);
- pruning (C3): ``prune_model`` (unstructured magnitude, masks as buffers), ``head_importance``,
  ``prune_heads``, ``ffn_importance``, ``prune_ffn`` (structured);
- distillation (C6): ``distillation_loss``, ``distill``;
- low-rank factorisation (C7): ``svd_factors``, ``LowRankLinear``, ``factorize_model``;
- sharing (C2): ``share_blocks`` (ALBERT-style); initialisation (C1): ``layer_statistics``;
- ``fit`` and ``eval_loss``: the short runs and the held-out loss the techniques are judged by.
Every layer swap is recorded in the model (minillm.models.checkpoint's surgery hook), so a
compressed model saves with save_checkpoint and rebuilds with load_checkpoint once this package
is imported.
"""

from .distill import (
    distill,
    distillation_loss,
    distillation_loss_backward,
    distillation_loss_forward,
)
from .init_study import layer_statistics
from .loop import FitConfig, eval_loss, fit, lm_loss
from .lowrank import (
    LowRankLinear,
    energy,
    factorize_model,
    plan_ranks,
    rank_for_energy,
    svd_factors,
)
from .prune import MaskedLinear, magnitude_masks, prune_model, sparsity_report
from .quantize import QuantLinear, quantize_model, weight_bytes
from .sharing import share_blocks
from .structured import (
    HeadPrunedAttention,
    ffn_importance,
    head_importance,
    prune_ffn,
    prune_heads,
    top_k,
)

__all__ = [
    "FitConfig",
    "HeadPrunedAttention",
    "LowRankLinear",
    "MaskedLinear",
    "QuantLinear",
    "distill",
    "distillation_loss",
    "distillation_loss_backward",
    "distillation_loss_forward",
    "energy",
    "eval_loss",
    "factorize_model",
    "ffn_importance",
    "fit",
    "head_importance",
    "layer_statistics",
    "lm_loss",
    "magnitude_masks",
    "plan_ranks",
    "prune_ffn",
    "prune_heads",
    "prune_model",
    "quantize_model",
    "rank_for_energy",
    "share_blocks",
    "sparsity_report",
    "svd_factors",
    "top_k",
    "weight_bytes",
]
