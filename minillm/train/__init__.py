"""Training a language model: the config and its overrides, the loop, one step, the run's record.
Checkpoint I/O lives below, in minillm.models (re-exported here)."""

from ..models import load_checkpoint, load_optimizer, load_weights, read_manifest, save_checkpoint
from .config import TrainConfig
from .data import TASK_DATA, prepare_data
from .loop import TrainingStopped, TrainResult, train
from .metrics import plot_losses, read_metrics
from .overrides import apply_overrides, config_from_args, load_preset, preset_names
from .run_folder import stored_train_config
from .step import accumulate_gradients, configure_optimizer, estimate_loss, train_step

__all__ = [
    "TASK_DATA",
    "TrainConfig",
    "TrainResult",
    "TrainingStopped",
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
    "stored_train_config",
    "train",
    "train_step",
]
