"""Typed `--key=value` overrides and TOML presets for any config dataclass (nanoGPT's
configurator idea, without `exec`).

    minillm train --preset shakespeare-char --max_iters=500 --model.n_layers=6
    minillm train --model=rnnlm --model.cell=lstm

- `--KEY=value` sets a TrainConfig field; `--model=NAME` picks the registry entry and
  `--model.FIELD=value` sets a field of that model's config;
- a preset is a TOML file of the same keys, with the model's in a `[model]` table (its `name`
  picks the entry);
- nanoGPT's flat model keys (`--n_layer=6`) still work for the GPT; for another model they fail
  with a message naming the new spelling.
Values from the command line are strings, converted to the field's type; TOML values are typed
already and must match (1.0 is not an int). Every error names the key and the valid keys.
"""

import dataclasses
import inspect
import re
import types
import typing
from importlib import resources
from pathlib import Path

from ..models import get_spec
from .config import TrainConfig

try:
    import tomllib  # Python >= 3.11
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

# nanoGPT's flat model keys -> the GPT config field they set
LEGACY_MODEL_KEYS = {
    "n_layer": "n_layers",
    "n_head": "n_heads",
    "n_embd": "d_model",
    "block_size": "block_size",
    "dropout": "dropout",
    "bias": "bias",
    "tie_weights": "tie_weights",
}
NOT_SETTABLE = {"model_config", "vocab_size"}  # set through model.*, or by the tokenizer


def field_types(cls) -> dict:
    """name -> type of every field of a dataclass (string annotations resolved)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def type_name(t) -> str:
    args = [a for a in typing.get_args(t) if a is not type(None)]
    if args:
        return f"{args[0].__name__} or none"
    return getattr(t, "__name__", str(t))


def field_help(cls) -> dict:
    """name -> the comment on the field's line of the class source (STYLE: a comment on each
    field), continuation comment lines joined; the one place each setting is explained."""
    out, last = {}, None
    for line in inspect.getsource(cls).splitlines():
        m = re.match(r"\s+(\w+): [^=]+=.*?#\s?(.*)$", line)
        if m:
            last = m.group(1)
            out[last] = m.group(2).strip()
        elif last and re.match(r"\s+#\s?(.*)$", line) and not line.strip().startswith("# ----"):
            out[last] += " " + line.strip().lstrip("#").strip()
        else:
            last = None
    return out


def describe(cls, instance, prefix="") -> list:
    """Help lines `--KEY=DEFAULT  (type) meaning` for every settable field of a dataclass."""
    helps = field_help(cls)
    lines = []
    for name, t in field_types(cls).items():
        if name in NOT_SETTABLE:
            continue
        default = getattr(instance, name)
        lines.append(f"  --{prefix}{name}={default}  ({type_name(t)}) {helps.get(name, '')}")
    return lines


def valid_keys(cls=TrainConfig, prefix="") -> str:
    return ", ".join(
        f"{prefix}{k} ({type_name(t)})"
        for k, t in field_types(cls).items()
        if k not in NOT_SETTABLE
    )


def convert(cls, key: str, value, source: str = "override", prefix: str = ""):
    """value (a string from the command line, or a TOML value) as the type of field `key` of the
    dataclass `cls`. ValueError naming the key, the expected type and all valid keys."""
    types_ = field_types(cls)
    if key not in types_ or key in NOT_SETTABLE:
        raise ValueError(
            f"unknown {source} key {prefix + key!r}; valid keys: {valid_keys(cls, prefix)}"
        )
    t = types_[key]
    optional = isinstance(t, types.UnionType) or typing.get_origin(t) is typing.Union
    base = next(a for a in typing.get_args(t) if a is not type(None)) if optional else t
    try:
        if optional and (value is None or (isinstance(value, str) and value.lower() == "none")):
            return None
        return _as_type(base, value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{source} {prefix}{key}={value!r}: expected {type_name(t)}; valid keys: "
            f"{valid_keys(cls, prefix)}"
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


def split_keys(overrides: dict, model: str) -> tuple:
    """{key: value} -> (train fields, model fields, model name): "model.FIELD" keys and the GPT's
    legacy flat keys go to the model; "model" / "model.name" pick the entry."""
    name = overrides.get("model", overrides.get("model.name", model))
    spec = get_spec(name)
    top, fields = {}, {}
    for key, value in overrides.items():
        if key in ("model", "model.name"):
            continue
        if key.startswith("model."):
            fields[key[len("model.") :]] = value
        elif key in LEGACY_MODEL_KEYS and spec.name == "gpt":
            fields[LEGACY_MODEL_KEYS[key]] = value
        elif key in LEGACY_MODEL_KEYS and key not in field_types(TrainConfig):
            raise ValueError(
                f"--{key} is a GPT key; for model {spec.name!r} set its fields as --model.FIELD "
                f"({valid_keys(spec.config, 'model.')})"
            )
        else:
            top[key] = value
    return top, fields, spec.name


def apply_overrides(base: TrainConfig, overrides: dict, source: str = "override") -> TrainConfig:
    """A copy of base with the overrides (key -> value) converted and applied. Choosing another
    model starts its config from that entry's defaults."""
    top, fields, name = split_keys(overrides, base.model)
    spec = get_spec(name)
    model_config = base.model_config if name == base.model else spec.default_config()
    model_values = {k: convert(spec.config, k, v, source, "model.") for k, v in fields.items()}
    values = {k: convert(TrainConfig, k, v, source) for k, v in top.items()}
    model_config = dataclasses.replace(model_config, **model_values)
    return dataclasses.replace(base, model=name, model_config=model_config, **values)


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
            overrides[key] = value
    return preset, overrides


def preset_names() -> list:
    folder = resources.files("minillm").joinpath("presets")
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_preset(name_or_path: str) -> dict:
    """The key -> value pairs of a shipped preset (by name) or of a TOML file (by path), with a
    `[model]` table flattened to "model.FIELD" keys."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.is_file():
            raise FileNotFoundError(f"preset file {str(path)!r} does not exist")
        text = path.read_text(encoding="utf-8")
    else:
        resource = resources.files("minillm").joinpath("presets", f"{name_or_path}.toml")
        if not resource.is_file():
            raise ValueError(
                f"unknown preset {name_or_path!r}: not a shipped preset {preset_names()} "
                "(a preset file must end in .toml)"
            )
        text = resource.read_text(encoding="utf-8")
    if tomllib is None:
        raise RuntimeError("presets need Python >= 3.11 (tomllib)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"preset {name_or_path!r}: not valid TOML ({e})") from None
    flat = {k: v for k, v in data.items() if k != "model" or not isinstance(v, dict)}
    for key, value in (data.get("model") if isinstance(data.get("model"), dict) else {}).items():
        flat[f"model.{key}"] = value
    apply_overrides(TrainConfig(), flat, "preset")  # unknown keys and wrong types fail here
    return flat


def config_from_args(args, base: TrainConfig | None = None) -> TrainConfig:
    """TrainConfig from `minillm train` arguments: base (default: the defaults), then the
    preset, then --key=value."""
    preset, overrides = parse_cli_overrides(args)
    config = base if base is not None else TrainConfig()
    if preset is not None:
        config = apply_overrides(config, load_preset(preset), "preset")
    return apply_overrides(config, overrides)
