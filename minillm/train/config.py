"""TrainConfig: every setting of a training run, and the `--key=value` / preset overrides.

The defaults are nanoGPT's CPU "baby GPT" on the shipped Shakespeare (the `shakespeare-char`
preset spells them out). Overrides come from the command line (strings, checked against each
field's type) or from a preset, a small TOML file of `key = value` lines.
"""

import dataclasses
import types
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..models import GPTConfig

try:
    import tomllib  # Python >= 3.11
except ModuleNotFoundError:  # Python 3.10: presets are parsed by _parse_simple_toml
    tomllib = None


@dataclass(frozen=True)
class TrainConfig:
    """Every hyper-parameter of `minillm train` (nanoGPT's train.py globals) in one record."""

    # ---- output and reproducibility
    out_dir: str = "out"  # checkpoint, metrics.jsonl and loss.png go here
    seed: int = 1337  # seeds the weights, the batches and dropout: same seed, same losses
    device: str = "cpu"  # "cpu" (NumPy) or "cuda" (CuPy)
    resume: bool = False  # continue from the checkpoint in out_dir
    progress: bool = True  # tqdm bar (shown only on a terminal either way)
    # ---- data
    dataset: str = "shakespeare"  # a shipped corpus name or the path of a UTF-8 text file
    tokenizer: str = "char"  # "char" (one token per character) or "bpe" (byte-level BPE)
    bpe_vocab_size: int = 512  # vocabulary of the BPE tokenizer (trained on the train split)
    train_fraction: float = 0.9  # first 90 % of the text trains, the last 10 % validates
    # ---- model (GPTConfig; vocab_size comes from the tokenizer)
    n_layer: int = 4  # Transformer blocks
    n_head: int = 4  # attention heads per block
    n_embd: int = 128  # model width C
    block_size: int = 64  # context length T
    dropout: float = 0.0  # dropout rate (0 for small data and short runs, as nanoGPT's baby)
    bias: bool = False  # biases in Linear and LayerNorm layers
    tie_weights: bool = True  # output head shares the token embedding (C2)
    # ---- optimisation (C21)
    batch_size: int = 12  # sequences per micro-batch
    grad_accum_steps: int = 1  # micro-batches per optimizer step (C9): effective batch x this
    max_iters: int = 2000  # optimizer steps
    lr: float = 1e-3  # peak learning rate, reached after the warm-up
    min_lr: float = 1e-4  # the floor of the cosine decay
    warmup_iters: int = 100  # linear warm-up steps
    lr_decay_iters: int = 2000  # the step where the cosine reaches min_lr (nanoGPT: = max_iters)
    beta1: float = 0.9  # AdamW first-moment decay
    beta2: float = 0.99  # AdamW second-moment decay (0.99: few tokens per step)
    weight_decay: float = 0.1  # AdamW decoupled decay, on 2-D weights only
    grad_clip: float = 1.0  # clip the global gradient norm to this (0 = no clipping)
    # ---- evaluation and logging
    eval_interval: int = 250  # evaluate (and checkpoint) every this many steps
    eval_iters: int = 20  # batches averaged per split in one evaluation
    log_interval: int = 10  # steps between lines of metrics.jsonl
    early_stopping_patience: int | None = None  # stop after this many evaluations without a
    # better val loss (C22); None = off

    def __post_init__(self):
        errors = check_values(self)
        if errors:
            raise ValueError("TrainConfig: " + "; ".join(errors))

    def model_config(self, vocab_size: int) -> GPTConfig:
        """The GPTConfig of this run for a tokenizer with `vocab_size` ids."""
        return GPTConfig(
            vocab_size=vocab_size,
            block_size=self.block_size,
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_embd=self.n_embd,
            dropout=self.dropout,
            bias=self.bias,
            tie_weights=self.tie_weights,
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_values(c: TrainConfig) -> list:
    """The range errors of a config, one message each (empty when it is fine)."""
    errors = []
    for name in ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "grad_accum_steps"):
        if getattr(c, name) < 1:
            errors.append(f"{name} must be >= 1, got {getattr(c, name)}")
    for name in ("eval_interval", "eval_iters", "log_interval", "bpe_vocab_size"):
        if getattr(c, name) < 1:
            errors.append(f"{name} must be >= 1, got {getattr(c, name)}")
    checks = [
        (c.n_head >= 1 and c.n_embd % c.n_head == 0, "n_embd must be divisible by n_head"),
        (c.max_iters >= 0, "max_iters must be >= 0"),
        (0.0 <= c.dropout < 1.0, "dropout must be in [0, 1)"),
        (c.device in ("cpu", "cuda"), "device must be 'cpu' or 'cuda'"),
        (c.tokenizer in ("char", "bpe"), "tokenizer must be 'char' or 'bpe'"),
        (0.0 < c.train_fraction < 1.0, "train_fraction must be in (0, 1)"),
        (c.lr >= 0.0, "lr must be >= 0"),
        (0.0 <= c.min_lr <= c.lr, "min_lr must be in [0, lr]"),
        (c.warmup_iters >= 0, "warmup_iters must be >= 0"),
        (c.lr_decay_iters > c.warmup_iters, "lr_decay_iters must be > warmup_iters"),
        (0.0 <= c.beta1 < 1.0 and 0.0 <= c.beta2 < 1.0, "beta1 and beta2 must be in [0, 1)"),
        (c.weight_decay >= 0.0, "weight_decay must be >= 0"),
        (c.grad_clip >= 0.0, "grad_clip must be >= 0 (0 = off)"),
        (
            c.early_stopping_patience is None or c.early_stopping_patience >= 1,
            "early_stopping_patience must be >= 1 or None",
        ),
    ]
    errors += [message for ok, message in checks if not ok]
    return errors


FIELDS = {f.name: f.type for f in dataclasses.fields(TrainConfig)}


def valid_keys() -> str:
    return ", ".join(f"{k} ({_type_name(t)})" for k, t in FIELDS.items())


def _type_name(t) -> str:
    args = [a for a in typing.get_args(t) if a is not type(None)]
    return f"{args[0].__name__} or none" if args else t.__name__


def convert(key: str, value, source: str = "override"):
    """value (a string from the command line, or a TOML value) as the type of field `key`.

    Raises ValueError naming the key, the expected type and all valid keys."""
    if key not in FIELDS:
        raise ValueError(f"unknown {source} key {key!r}; valid keys: {valid_keys()}")
    t = FIELDS[key]
    optional = isinstance(t, types.UnionType) or typing.get_origin(t) is typing.Union
    base = next(a for a in typing.get_args(t) if a is not type(None)) if optional else t
    try:
        if optional and (value is None or (isinstance(value, str) and value.lower() == "none")):
            return None
        return _as_type(base, value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{source} {key}={value!r}: expected {_type_name(t)}; valid keys: {valid_keys()}"
        ) from None


def _as_type(base, value):
    if isinstance(value, str):
        if base is bool:
            lowered = value.lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return lowered in ("true", "1")
        return base(value)  # int("1.5") and float("abc") raise ValueError
    if base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if type(value) is not base:  # TOML values are typed already: 1.0 is not an int
        raise TypeError(value)
    return value


def apply_overrides(base: TrainConfig, overrides: dict, source: str = "override") -> TrainConfig:
    """A copy of base with the overrides (key -> value) converted and applied."""
    converted = {k: convert(k, v, source) for k, v in overrides.items()}
    return dataclasses.replace(base, **converted)


def parse_cli_overrides(args) -> tuple:
    """["--preset", "NAME", "--lr=3e-4", ...] -> (preset or None, {"lr": "3e-4", ...})."""
    preset, overrides = None, {}
    args = list(args)
    while args:
        arg = args.pop(0)
        if not arg.startswith("--"):
            raise ValueError(f"expected --key=value, got {arg!r}; valid keys: {valid_keys()}")
        key, eq, value = arg[2:].partition("=")
        if not eq:  # "--key value"
            if not args:
                raise ValueError(f"--{key} needs a value (--{key}=VALUE)")
            value = args.pop(0)
        if key == "preset":
            preset = value
        else:
            convert(key, value)  # reject unknown keys and bad values early, with the key list
            overrides[key] = value
    return preset, overrides


def preset_names() -> list:
    folder = resources.files("minillm").joinpath("presets")
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_preset(name_or_path: str) -> dict:
    """The key -> value pairs of a shipped preset (by name) or of a TOML file (by path)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        resource = resources.files("minillm").joinpath("presets", f"{name_or_path}.toml")
        if not resource.is_file():
            raise ValueError(
                f"unknown preset {name_or_path!r}: not a .toml file and not one of the shipped "
                f"presets {preset_names()}"
            )
        text = resource.read_text(encoding="utf-8")
    data = tomllib.loads(text) if tomllib is not None else parse_simple_toml(text)
    for key, value in data.items():
        convert(key, value, "preset")  # unknown keys and wrong types fail here
    return data


def parse_simple_toml(text: str) -> dict:
    """The subset of TOML our presets use, for Python 3.10 (no tomllib): `key = value` lines with
    strings in double quotes, ints, floats, true/false, and # comments."""
    data = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = (part.strip() for part in line.partition("="))
        if not eq or not key:
            raise ValueError(f"preset line {n}: expected key = value, got {line!r}")
        if value.startswith('"'):
            end = value.index('"', 1)
            data[key] = value[1:end]
            continue
        value = value.split("#", 1)[0].strip()
        if value in ("true", "false"):
            data[key] = value == "true"
        elif value.lstrip("+-").isdigit():
            data[key] = int(value)
        else:
            data[key] = float(value)  # ValueError for anything else
    return data


def config_from_args(args) -> TrainConfig:
    """TrainConfig from `minillm train` arguments: defaults, then the preset, then --key=value."""
    preset, overrides = parse_cli_overrides(args)
    config = TrainConfig()
    if preset is not None:
        config = apply_overrides(config, load_preset(preset), "preset")
    return apply_overrides(config, overrides)
