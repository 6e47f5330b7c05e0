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

Two optional manifest keys keep the weights file honest about a changed model:
    "aliases"   name -> name: a shared array (ALBERT-style cross-layer sharing, C2) is stored once,
                under its first name; the other names it has point at it
    "surgery"   [{"name", "args"}, ...]: the layer swaps done to the registered model after it was
                built (quantisation, pruning, low-rank factors, LoRA), in order. load_checkpoint
                builds the model, replays each through SURGERIES (filled by the package that
                defines it, e.g. minillm.compress), then loads the weights into the new layers.
    "base"      {"path", "abs_path", "model", "sha256"}: a delta checkpoint (a parameter-efficient
                fine-tune: LoRA, adapters, prefix rows, a head) whose weights file holds only the
                arrays that differ from the base checkpoint it names (by path relative to this
                folder, and absolute). load_checkpoint loads the base's weights first, then these;
                a base whose sha256 is not the recorded one is refused, naming both.
"""

import hashlib
import json
import os
import secrets
from pathlib import Path

import numpy as np
from safetensors.numpy import load as _load_bytes
from safetensors.numpy import save_file

from ..data import tokenizer_from_dict
from ..tensor.backend import to_device
from . import checkpoint_delta as delta  # calls back into this module at run time only
from .registry import get_spec, spec_of
from .surgery import SURGERIES, apply_surgery, record_surgery, register_surgery  # noqa: F401

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


REQUIRED = ("format", "model", "model_config", "tokenizer", "state", "files")


def fingerprint(manifest: dict, weights_path: Path) -> str:
    """sha256 over the model's registry name, its config, its tokenizer and the weights file's
    bytes: what the weights cannot check by themselves (an edited n_heads or vocabulary in
    checkpoint.json would otherwise load and compute something else, silently)."""
    h = hashlib.sha256()
    meta = {k: manifest[k] for k in ("model", "model_config", "tokenizer")}
    meta.update({k: manifest[k] for k in ("surgery", "aliases", "base") if k in manifest})
    h.update(json.dumps(meta, sort_keys=True).encode("utf-8"))
    h.update(weights_path.read_bytes())
    return h.hexdigest()


def load_arrays(path: Path) -> dict:
    """The arrays of a .safetensors file; ValueError naming the file when it is missing,
    truncated, empty or not a safetensors file."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {str(path)!r} is missing")
    try:
        return _load_bytes(path.read_bytes())
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type for bad bytes
        raise ValueError(
            f"checkpoint file {str(path)!r} is not a readable safetensors file "
            f"({type(e).__name__}: {str(e)[:120]}); it may be truncated or corrupted"
        ) from None


def save_checkpoint(
    folder, model, tokenizer, train_config: dict, optimizer=None, state=None, base=None
):
    """Write a checkpoint of `model` (and `optimizer`, `state`) into `folder`, atomically.

    state: JSON-serialisable run state (step, RNG states, early-stopping counters).
    base: a checkpoint folder the model was fine-tuned from: only the arrays that differ from
    it (or that it lacks: LoRA's A and B, adapters, a new head) are written, with a reference
    to it ("base" in the manifest). The model must be registered (ValueError otherwise)."""
    spec = spec_of(model)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tag = f"{(state or {}).get('step', 0):06d}-{secrets.token_hex(4)}"
    files = {"model": f"model-{tag}.safetensors"}
    weights, aliases, first = {}, {}, {}
    arrays = model.state_dict()
    if base is not None:
        ref, base_state = delta.base_reference(folder, base), load_checkpoint(base)[0].state_dict()
        arrays = {k: v for k, v in arrays.items() if not delta.same_as_base(v, base_state.get(k))}
    for k, v in arrays.items():  # a shared array once, under its first name (C2)
        if id(v) in first:
            aliases[k] = first[id(v)]
        else:
            first[id(v)] = k
            weights[k] = _host(v)
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
    manifest.update({"aliases": aliases} if aliases else {})
    manifest.update({"base": ref} if base is not None else {})
    surgery = getattr(model, "surgery", [])
    manifest.update({"surgery": surgery} if surgery else {})
    manifest["sha256"] = fingerprint(manifest, folder / files["model"])
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
    """checkpoint.json of a checkpoint folder, checked; a clear error naming the file when there
    is none, when it is not JSON (truncated) or when a required key is missing."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint in {str(folder)!r}: {MANIFEST} is missing (train with "
            f"`minillm train --out_dir={folder}` first)"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(
            f"{path}: not valid JSON ({e}); the file is truncated or damaged"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") not in READABLE:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(f"{path}: not a minillm checkpoint (format {found!r})")
    missing = [k for k in REQUIRED if k not in manifest]
    if missing or "model" not in manifest["files"]:
        raise ValueError(f"{path}: required keys missing: {missing or ['files.model']}")
    return manifest


def check_fingerprint(folder, manifest: dict) -> None:
    """ValueError when checkpoint.json's model, config or tokenizer no longer match the weights
    they were saved with (checkpoints written before the fingerprint existed are not checked)."""
    if "sha256" not in manifest:
        return
    weights = Path(folder) / manifest["files"]["model"]
    if not weights.is_file():
        raise FileNotFoundError(f"checkpoint file {str(weights)!r} is missing")
    if fingerprint(manifest, weights) != manifest["sha256"]:
        raise ValueError(
            f"{Path(folder) / MANIFEST}: the model, model_config or tokenizer it holds do not "
            f"match the weights file {manifest['files']['model']} they were saved with (was "
            "checkpoint.json edited, or a weights file replaced?)"
        )


def load_weights(model, folder, manifest=None, strict=True):
    """Copy the checkpoint's weights into model; return (missing_keys, unexpected_keys).

    strict=True: ValueError naming every missing, unexpected or mis-shaped key when the
    checkpoint is for another architecture or vocabulary. strict=False: loads every key the
    model has and returns the keys it left alone (a base model's checkpoint into a model with
    extra parameters, e.g. LoRA's A and B, reports those as missing); shapes must still match."""
    manifest = manifest or read_manifest(folder)
    done, own_surgery = manifest.get("surgery", []), getattr(model, "surgery", [])
    if done != own_surgery[: len(done)]:
        raise ValueError(
            f"checkpoint {str(folder)!r} holds a model changed by surgery "
            f"{[r['name'] for r in done]} ({done[0]['args']}), but this model has "
            f"{[r['name'] for r in own_surgery] or 'none'}: load it with load_checkpoint, "
            "which replays the surgery, not into a plain float model"
        )
    weights = load_arrays(Path(folder) / manifest["files"]["model"])
    for name, source in manifest.get("aliases", {}).items():
        if source not in weights:
            raise ValueError(f"checkpoint {str(folder)!r}: alias {name!r} -> missing {source!r}")
        weights[name] = weights[source]
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
    arrays = load_arrays(Path(folder) / manifest["files"]["optimizer"])
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


def load_checkpoint(folder, device: str = "cpu", base=None):
    """(model, tokenizer, manifest) rebuilt from a checkpoint folder, the model in eval mode.
    Any registered model; its weights are checked key by key and shape by shape. A delta
    checkpoint (manifest "base") loads its base first: the recorded folder, or `base`."""
    manifest = read_manifest(folder)
    check_fingerprint(folder, manifest)
    model = build_from_manifest(manifest)
    apply_surgery(model, manifest.get("surgery", []))
    model.to(device)
    if "base" in manifest:
        delta.load_base_then_delta(model, folder, manifest, base)
    else:
        load_weights(model, folder, manifest)
    stored = manifest.get("tokenizer")
    tokenizer = None if stored is None else tokenizer_from_dict(stored)
    V = getattr(model.config, "vocab_size", None)
    if tokenizer is not None and V is not None and tokenizer.vocab_size != V:
        raise ValueError(
            f"checkpoint {str(folder)!r}: its tokenizer has {tokenizer.vocab_size} ids but the "
            f"model's vocabulary is {V}"
        )
    return model.eval(), tokenizer, manifest
