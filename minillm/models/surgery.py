"""Surgery records: the layer swaps done to a registered model after it was built (quantisation,
pruning, low-rank factors, LoRA, adapters, prefix rows), so a checkpoint of the changed model can
be rebuilt. The package that defines a swap registers it; the checkpoint manifest's "surgery" list
names the swaps in order and load_checkpoint replays them before loading the weights."""

import json

# surgery name -> fn(model, **args): re-does a recorded layer swap on a freshly built model
SURGERIES: dict = {}


def register_surgery(name: str, fn) -> None:
    """Let checkpoints that record surgery `name` rebuild: fn(model, **args) redoes it."""
    if name in SURGERIES and SURGERIES[name] is not fn:
        raise ValueError(f"register_surgery: {name!r} is already registered")
    SURGERIES[name] = fn


def record_surgery(model, name: str, args: dict) -> None:
    """Note on `model` that surgery `name` was applied with JSON-serialisable `args`; the next
    save_checkpoint writes the list into the manifest."""
    if name not in SURGERIES:
        raise ValueError(f"record_surgery: {name!r} is not registered (register_surgery first)")
    record = {"name": name, "args": json.loads(json.dumps(args))}  # as the manifest holds it
    object.__setattr__(model, "surgery", [*getattr(model, "surgery", []), record])


def apply_surgery(model, records: list) -> None:
    """Replay recorded surgery on a freshly built model (before its weights are loaded)."""
    for rec in records:
        if rec["name"] not in SURGERIES:
            raise ValueError(
                f"the checkpoint's model was changed by surgery {rec['name']!r}, which no imported "
                f"package registers (registered: {sorted(SURGERIES) or 'none'}); import the "
                "package that defines it first (minillm.compress: quantize, prune, lowrank, ...)"
            )
        SURGERIES[rec["name"]](model, **rec["args"])
