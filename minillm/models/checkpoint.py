"""Checkpoints: weights, optimizer state, configs, tokenizer, step and RNG states, atomically.

Below the training loop (models layer), so generation, evaluation, a server or a notebook load
weights without importing `minillm.train`. Any registered model (models/registry.py) saves and
loads: the manifest names its registry entry and its config.

A checkpoint is a folder holding
    checkpoint.json                 configs, tokenizer, step, RNG states, optimizer scalars, and
                                    the names of the two array files below
    model-<tag>.safetensors         the model's parameters, by name (state_dict)
    optimizer-<tag>.safetensors     the optimizer's arrays ("<param index>.exp_avg", ...)
Atomic: the array files are written under temporary names, renamed to fresh names (<tag> =
step + random suffix), and only then is checkpoint.json replaced with os.replace, the commit point.
A crash at any moment before it leaves the previous checkpoint.json and the files it names intact;
files no manifest names are removed by the next save.
"""

import json
import os
import secrets
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from ..data import tokenizer_from_dict
from ..tensor.backend import to_device
from .registry import get_spec, spec_of

MANIFEST = "checkpoint.json"
FORMAT = "minillm-checkpoint-2"
READABLE = ("minillm-checkpoint-1", FORMAT)  # format 1: "GPT" and nanoGPT's config names


def _write_atomic(path: Path, write) -> None:
    """write(tmp_path) then rename tmp_path to path (same folder, so the rename is atomic)."""
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _host(a):
    return np.ascontiguousarray(to_device(a, "cpu"))


def save_checkpoint(folder, model, tokenizer, train_config: dict, optimizer=None, state=None):
    """Write a checkpoint of `model` (and `optimizer`, `state`) into `folder`, atomically.

    state: JSON-serialisable run state (step, RNG states, early-stopping counters).
    The model must be registered (ValueError naming the registered models otherwise)."""
    spec = spec_of(model)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tag = f"{(state or {}).get('step', 0):06d}-{secrets.token_hex(4)}"
    files = {"model": f"model-{tag}.safetensors"}
    weights = {k: _host(v) for k, v in model.state_dict().items()}
    _write_atomic(folder / files["model"], lambda p: save_file(weights, str(p)))
    manifest = {
        "format": FORMAT,
        "model": spec.name,
        "model_config": model.config.to_dict(),
        "train_config": train_config,
        "tokenizer": None if tokenizer is None else tokenizer.to_dict(),
        "state": state or {},
        "files": files,
    }
    if optimizer is not None:
        arrays, scalars, groups = _flatten_optimizer(optimizer.state_dict())
        files["optimizer"] = f"optimizer-{tag}.safetensors"
        _write_atomic(folder / files["optimizer"], lambda p: save_file(arrays, str(p)))
        manifest["optimizer"] = {"param_groups": groups, "scalars": scalars}
    text = json.dumps(manifest, indent=1)
    _write_atomic(folder / MANIFEST, lambda p: p.write_text(text, encoding="utf-8"))
    _remove_stale(folder, set(files.values()))
    return folder


def _remove_stale(folder: Path, keep: set) -> None:
    """Delete array files and temporaries that the new manifest does not name."""
    for p in folder.iterdir():
        stale = p.name.endswith(".safetensors") and p.name.startswith(("model-", "optimizer-"))
        if (stale and p.name not in keep) or ".tmp-" in p.name:
            p.unlink()


def _flatten_optimizer(sd: dict):
    """Optimizer.state_dict() -> (arrays {"<i>.<key>": array}, scalars {i: {key: v}}, groups)."""
    arrays, scalars = {}, {}
    for i, s in sd["state"].items():
        for k, v in s.items():
            if hasattr(v, "shape") and hasattr(v, "dtype"):
                arrays[f"{i}.{k}"] = _host(v)
            else:
                scalars.setdefault(str(i), {})[k] = v
    groups = [
        {k: list(v) if isinstance(v, tuple) else v for k, v in g.items()}
        for g in sd["param_groups"]
    ]
    return arrays, scalars, groups


def read_manifest(folder) -> dict:
    """checkpoint.json of a checkpoint folder, or a clear error when there is none."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint in {str(folder)!r}: {MANIFEST} is missing (train with "
            f"`minillm train --out_dir={folder}` first)"
        )
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") not in READABLE:
        raise ValueError(f"{path}: not a minillm checkpoint (format {manifest.get('format')!r})")
    return manifest


def load_weights(model, folder, manifest=None, strict=True):
    """Copy the checkpoint's weights into model; return (missing_keys, unexpected_keys).

    strict=True: ValueError naming every missing, unexpected or mis-shaped key when the
    checkpoint is for another architecture or vocabulary. strict=False: loads every key the
    model has and returns the keys it left alone (a base model's checkpoint into a model with
    extra parameters, e.g. LoRA's A and B, reports those as missing); shapes must still match."""
    manifest = manifest or read_manifest(folder)
    weights = load_file(str(Path(folder) / manifest["files"]["model"]))
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    shapes = [
        f"{k}: checkpoint {weights[k].shape} vs model {tuple(own[k].shape)}"
        for k in own
        if k in weights and weights[k].shape != tuple(own[k].shape)
    ]
    if shapes or (strict and (missing or unexpected)):
        raise ValueError(
            f"checkpoint {str(folder)!r} does not fit this model (checkpoint: "
            f"{manifest['model']} {manifest['model_config']}): missing keys {missing}, "
            f"unexpected keys {unexpected}, shape mismatches [{'; '.join(shapes)}]"
        )
    return model.load_state_dict(weights, strict=False)


def load_optimizer(optimizer, folder, manifest=None) -> None:
    """Restore the optimizer's state saved with the checkpoint."""
    manifest = manifest or read_manifest(folder)
    if "optimizer" not in manifest:
        raise ValueError(f"checkpoint {str(folder)!r} has no optimizer state")
    arrays = load_file(str(Path(folder) / manifest["files"]["optimizer"]))
    state = {int(i): dict(s) for i, s in manifest["optimizer"]["scalars"].items()}
    for name, a in arrays.items():
        i, key = name.split(".", 1)
        state.setdefault(int(i), {})[key] = a
    optimizer.load_state_dict(
        {"state": state, "param_groups": manifest["optimizer"]["param_groups"]}
    )


def build_from_manifest(manifest: dict, seed: int = 0):
    """An untrained model of the checkpoint's registry entry and config."""
    spec = get_spec(manifest["model"])
    return spec.build(spec.config.from_dict(manifest["model_config"]), seed)


def load_checkpoint(folder, device: str = "cpu"):
    """(model, tokenizer, manifest) rebuilt from a checkpoint folder, the model in eval mode.
    Any registered model; its weights are checked key by key and shape by shape."""
    manifest = read_manifest(folder)
    model = build_from_manifest(manifest).to(device)
    load_weights(model, folder, manifest)
    stored = manifest.get("tokenizer")
    tokenizer = None if stored is None else tokenizer_from_dict(stored)
    return model.eval(), tokenizer, manifest
