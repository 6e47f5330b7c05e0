"""Delta checkpoints: a parameter-efficient fine-tune (LoRA, adapters, prefix rows, a head) saves
only the arrays that differ from its base checkpoint, and names the base in the manifest's "base"
entry (relative and absolute path, model, sha256). These functions write that entry and load the
base first, then the delta; the rest of the checkpoint format is in checkpoint.py."""

import os
from pathlib import Path

import numpy as np

from . import checkpoint as ckpt  # a cycle: each calls the other at run time, never at import


def same_as_base(a, b) -> bool:
    """Whether array a equals the base's array b (None: the base has no such array)."""
    return b is not None and tuple(a.shape) == tuple(b.shape) and np.array_equal(ckpt._host(a), b)


def base_reference(folder, base) -> dict:
    """The manifest's "base" entry for a delta checkpoint in `folder` over checkpoint `base`."""
    where = Path(base).resolve()
    found = ckpt.read_manifest(where)
    sha = found.get("sha256") or ckpt.fingerprint(found, where / found["files"]["model"])
    rel = os.path.relpath(where, Path(folder).resolve())
    return {"path": rel, "abs_path": str(where), "model": found["model"], "sha256": sha}


def load_base_then_delta(model, folder, manifest, base=None) -> None:
    """The base checkpoint's weights into every key of `model` it shares (by name and shape),
    then the delta's; ValueError when the base is not the one recorded, or a key is in neither."""
    ref = manifest["base"]
    places = (
        [Path(base)] if base is not None else [Path(folder) / ref["path"], Path(ref["abs_path"])]
    )
    where = next((p for p in places if (p / ckpt.MANIFEST).is_file()), None)
    if where is None:
        raise FileNotFoundError(
            f"checkpoint {str(folder)!r} holds only what fine-tuning changed; its base checkpoint "
            f"is missing (looked in {', '.join(repr(str(p)) for p in places)}): pass base=FOLDER"
        )
    found = ckpt.read_manifest(where)
    if found.get("sha256") != ref["sha256"]:
        raise ValueError(
            f"checkpoint {str(folder)!r} was fine-tuned from base {ref['abs_path']!r} (a "
            f"{ref['model']}, sha256 {ref['sha256'][:12]}), but {str(where)!r} holds another model "
            f"(a {found['model']}, sha256 {str(found.get('sha256'))[:12]}): load it onto the base "
            "it was trained from"
        )
    own = model.state_dict()
    shared = {
        k: v
        for k, v in ckpt.load_checkpoint(where)[0].state_dict().items()
        if k in own and tuple(v.shape) == tuple(own[k].shape)
    }
    model.load_state_dict(shared, strict=False)
    missing, unexpected = ckpt.load_weights(model, folder, manifest, strict=False)
    left = sorted(set(missing) - set(shared))
    if left or unexpected:
        raise ValueError(
            f"checkpoint {str(folder)!r} and its base {str(where)!r} do not fit this model: keys "
            f"in neither {left}, delta keys the model lacks {sorted(unexpected)}"
        )
