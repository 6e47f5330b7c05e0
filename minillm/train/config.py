"""TrainConfig: every setting of a training run, with the model's own config nested inside it.

    TrainConfig(model="gpt", model_config=GPTConfig(n_layers=6), lr=3e-4, ...)

`model` names a registry entry (minillm.models.MODELS); `model_config` is that model's frozen
config dataclass (its vocabulary size is filled in from the tokenizer when the run starts). The
defaults are nanoGPT's CPU "baby GPT" on the shipped Shakespeare (the `shakespeare-char` preset
spells them out). Overrides (`--key=value`, `--model.FIELD=value`, presets) are in overrides.py.
"""

import dataclasses
from dataclasses import dataclass

from ..models import get_spec
from ..nn.precision import FORMATS

# settings a resumed run must share with the checkpoint: changing them would make the resumed
# run something other than a continuation (different model, data, batches or weights)
FIXED_ON_RESUME = (
    "model",
    "model_config",
    "seed",
    "dataset",
    "tokenizer",
    "bpe_vocab_size",
    "train_fraction",
    "batch_size",
    "grad_accum_steps",
)
INT_FIELDS = (
    "seed",
    "bpe_vocab_size",
    "batch_size",
    "grad_accum_steps",
    "max_iters",
    "warmup_iters",
    "eval_interval",
    "eval_iters",
    "log_interval",
)
FLOAT_FIELDS = (
    "train_fraction",
    "lr",
    "min_lr",
    "beta1",
    "beta2",
    "weight_decay",
    "grad_clip",
    "bucket_mb",
)


@dataclass(frozen=True)
class TrainConfig:
    """Every hyper-parameter of `minillm train` (nanoGPT's train.py globals) in one record."""

    # ---- output and reproducibility
    out_dir: str = "out/run"  # checkpoint, metrics.jsonl and loss.png go here
    seed: int = 1337  # seeds the weights, the batches and dropout: same seed, same losses
    device: str = "cpu"  # "cpu" (NumPy) or "cuda" (CuPy)
    resume: bool = False  # continue from the checkpoint in out_dir
    overwrite: bool = False  # start afresh in an out_dir that holds another run (deletes it)
    progress: bool = True  # tqdm bar (shown only on a terminal either way)
    # ---- data
    dataset: str = "shakespeare"  # a shipped corpus name or the path of a UTF-8 text file
    tokenizer: str = "char"  # "char" (one token per character) or "bpe" (byte-level BPE)
    bpe_vocab_size: int = 512  # vocabulary of the BPE tokenizer (trained on the train split)
    train_fraction: float = 0.9  # first 90 % of the text trains, the last 10 % validates
    # ---- the model: a registry entry and its config (vocab_size comes from the tokenizer)
    model: str = "gpt"  # "gpt", "rnnlm", ... (minillm.models.MODELS)
    model_config: object = None  # the model's config dataclass; None = the entry's defaults
    # ---- optimisation (C21)
    batch_size: int = 12  # sequences per micro-batch
    grad_accum_steps: int = 1  # micro-batches per optimizer step (C9): effective batch x this
    max_iters: int = 2000  # optimizer steps
    lr: float = 1e-3  # peak learning rate, reached after the warm-up
    min_lr: float = 1e-4  # the floor of the cosine decay
    warmup_iters: int = 100  # linear warm-up steps
    lr_decay_iters: int | None = None  # the step where the cosine reaches min_lr; None = max_iters
    beta1: float = 0.9  # AdamW first-moment decay
    beta2: float = 0.99  # AdamW second-moment decay (0.99: few tokens per step)
    weight_decay: float = 0.1  # AdamW decoupled decay, on weights and embeddings only
    grad_clip: float = 1.0  # clip the global gradient norm to this (0 = no clipping)
    # ---- evaluation and logging
    eval_interval: int = 250  # evaluate (and checkpoint) every this many steps
    eval_iters: int = 20  # batches averaged per split in one evaluation
    log_interval: int = 10  # steps between lines of metrics.jsonl
    early_stopping_patience: int | None = None  # stop after this many evaluations without a
    # better val loss (C22); None = off
    # ---- scale: data parallel (C8), mixed precision (C23), recomputation (C10)
    distributed: bool = False  # data parallel over the ranks of `mpirun -n R` (MPI, C8); each
    # rank takes batch_size rows of an R * batch_size batch
    bucket_mb: float = 25.0  # distributed: gradients are averaged in flat buffers of this many MiB
    dtype: str = "float32"  # compute format: "float32", "float16" (loss-scaled) or "bfloat16"
    # (emulated); the weights stay float32 (C23)
    recompute: bool = False  # activation checkpointing: blocks recompute their insides in
    # backward instead of keeping them (C10)

    def __post_init__(self):
        spec = get_spec(self.model)  # ValueError naming the registered models
        object.__setattr__(self, "model", spec.name)
        if self.model_config is None:
            object.__setattr__(self, "model_config", spec.default_config())
        elif isinstance(self.model_config, dict):
            object.__setattr__(self, "model_config", spec.config.from_dict(self.model_config))
        if not isinstance(self.model_config, spec.config):
            raise TypeError(
                f"TrainConfig: model_config must be a {spec.config.__name__} for model "
                f"{spec.name!r}, got {type(self.model_config).__name__}"
            )
        errors = check_values(self)
        if errors:
            raise ValueError("TrainConfig: " + "; ".join(errors))

    @property
    def block_size(self) -> int | None:
        """The training window: the model config's block_size (tokens per sequence); None for a
        model trained on whole examples (seq2seq)."""
        return getattr(self.model_config, "block_size", None)

    @property
    def decay_iters(self) -> int:
        """The step where the cosine reaches min_lr: lr_decay_iters, or when unset max_iters (at
        least warmup_iters + 1, so a run shorter than its warm-up still has a schedule)."""
        if self.lr_decay_iters is None:
            return max(self.max_iters, self.warmup_iters + 1)
        return self.lr_decay_iters

    def model_config_for(self, vocab_size: int):
        """The model's config with the tokenizer's vocabulary size filled in (for a config that
        has a vocab_size field; a seq2seq config carries its own source and target sizes)."""
        if "vocab_size" not in {f.name for f in dataclasses.fields(self.model_config)}:
            return self.model_config
        return dataclasses.replace(self.model_config, vocab_size=vocab_size)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["model_config"] = self.model_config.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict):
        """A TrainConfig from to_dict()'s output (or a checkpoint's stored train config)."""
        return cls(**d)


def check_values(c: TrainConfig) -> list:
    """The type and range errors of a config, one message each (empty when it is fine)."""
    errors = [
        f"{name} must be an int, got {getattr(c, name)!r}"
        for name in INT_FIELDS
        if isinstance(getattr(c, name), bool) or not isinstance(getattr(c, name), int)
    ]
    errors += [
        f"{name} must be a number, got {getattr(c, name)!r}"
        for name in FLOAT_FIELDS
        if isinstance(getattr(c, name), bool) or not isinstance(getattr(c, name), (int, float))
    ]
    if errors:
        return errors
    for name in ("batch_size", "grad_accum_steps", "eval_interval", "eval_iters", "log_interval"):
        if getattr(c, name) < 1:
            errors.append(f"{name} must be >= 1, got {getattr(c, name)}")
    decay = c.decay_iters
    checks = [
        (c.bpe_vocab_size >= 257, "bpe_vocab_size must be >= 257 (256 bytes + 1 merge)"),
        (c.max_iters >= 0, "max_iters must be >= 0"),
        (c.device in ("cpu", "cuda"), "device must be 'cpu' or 'cuda'"),
        (c.tokenizer in ("char", "bpe"), "tokenizer must be 'char' or 'bpe'"),
        (c.dtype in FORMATS, f"dtype must be one of {', '.join(FORMATS)}"),
        (c.bucket_mb > 0, "bucket_mb must be > 0"),
        (not (c.distributed and c.device != "cpu"), "distributed runs on device=cpu only"),
        (0.0 < c.train_fraction < 1.0, "train_fraction must be in (0, 1)"),
        (c.lr >= 0.0 and c.lr < float("inf"), "lr must be finite and >= 0"),
        (0.0 <= c.min_lr <= c.lr, "min_lr must be in [0, lr]"),
        (c.warmup_iters >= 0, "warmup_iters must be >= 0"),
        (
            isinstance(decay, int) and decay > c.warmup_iters,
            "lr_decay_iters must be an int > warmup_iters",
        ),
        (0.0 <= c.beta1 < 1.0 and 0.0 <= c.beta2 < 1.0, "beta1 and beta2 must be in [0, 1)"),
        (c.weight_decay >= 0.0, "weight_decay must be >= 0"),
        (c.grad_clip >= 0.0, "grad_clip must be >= 0 (0 = off)"),
        (not (c.resume and c.overwrite), "resume and overwrite exclude each other"),
        (
            c.early_stopping_patience is None
            or (isinstance(c.early_stopping_patience, int) and c.early_stopping_patience >= 1),
            "early_stopping_patience must be an int >= 1 or None",
        ),
    ]
    errors += [message for ok, message in checks if not ok]
    return errors
