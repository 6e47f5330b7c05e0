"""Training a language model: the config, the loop, one step, checkpoints and the run's record."""

from .checkpoint import (
    load_checkpoint,
    load_optimizer,
    load_weights,
    read_manifest,
    save_checkpoint,
)
from .config import TrainConfig, apply_overrides, config_from_args, load_preset, preset_names
from .loop import TrainResult, prepare_data, train
from .metrics import plot_losses, read_metrics
from .step import accumulate_gradients, configure_optimizer, estimate_loss, train_step

__all__ = [
    "TrainConfig",
    "TrainResult",
    "accumulate_gradients",
    "apply_overrides",
    "config_from_args",
    "configure_optimizer",
    "estimate_loss",
    "load_checkpoint",
    "load_optimizer",
    "load_preset",
    "load_weights",
    "plot_losses",
    "prepare_data",
    "preset_names",
    "read_manifest",
    "read_metrics",
    "save_checkpoint",
    "train",
    "train_step",
]
