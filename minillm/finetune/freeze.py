"""Freezing by name pattern, and linear probing: the simplest parameter-efficient method (C16).

    freeze(model, ["bert.*"])          requires_grad_(False) on every parameter whose name matches
    unfreeze(model, ["head.*"])        ... and back on
    linear_probe(model)                everything frozen but the task head: "--method=head"

Erratum (002 §4.3): the source calls freezing the encoder and training only the classifier
"PEFT". That is linear probing, the simplest member of the parameter-efficient family; adapters,
LoRA and prefix tuning (adapters.py, lora.py, prefix.py) are the others (docs/formulas.md, C16).

Patterns are fnmatch patterns over dotted parameter names ("blocks.*.ff.*", "head.*"). A
pattern that matches nothing is an error naming it, so a typo never freezes nothing silently.
"""

from fnmatch import fnmatchcase

from ..nn import TiedLinear
from .methods import register_method


def _as_list(patterns) -> list:
    return [p for p in patterns.split(",") if p] if isinstance(patterns, str) else list(patterns)


def matching(model, patterns) -> list:
    """The (name, Parameter) pairs whose name matches any of `patterns`; ValueError naming a
    pattern that matches no parameter."""
    named = list(model.named_parameters())
    out, seen = [], set()
    for pattern in _as_list(patterns):
        hits = [(n, p) for n, p in named if fnmatchcase(n, pattern)]
        if not hits:
            some = ", ".join(n for n, _ in named[:6])
            raise ValueError(
                f"freeze: pattern {pattern!r} matches no parameter of {type(model).__name__} "
                f"(names look like: {some}, ...)"
            )
        out += [(n, p) for n, p in hits if id(p) not in seen]
        seen.update(id(p) for _, p in hits)
    return out


def freeze(model, patterns=("*",)):
    """requires_grad_(False) on the parameters matching `patterns` (default: all); the model."""
    for _, p in matching(model, patterns):
        p.requires_grad_(False)
    return model


def unfreeze(model, patterns):
    """requires_grad_(True) on the parameters matching `patterns`; the model."""
    for _, p in matching(model, patterns):
        p.requires_grad_(True)
    return model


def head_patterns(model) -> list:
    """The parameter patterns of a model's task head: a classifier's fresh `head`; a language
    model's final layer norm and output layer (for a head tied to the token embedding, C2, that
    is the embedding table itself, which the input shares)."""
    if "head" in model._modules:
        return ["head.*"]
    if "lm_head" in model._modules:
        tied = isinstance(model.lm_head, TiedLinear)
        own = [f"lm_head.{n}" for n, p in model.lm_head.named_parameters()]
        norm = ["ln_f.*"] if "ln_f" in model._modules else []
        return norm + own + (["wte.*"] if tied else [])
    raise ValueError(f"{type(model).__name__} has no task head (no `head` or `lm_head` module)")


def new_head_patterns(model) -> list:
    """The patterns of a head that fine-tuning adds fresh (a classifier's `head`), which every
    parameter-efficient method trains too; [] for a language model, whose head is pre-trained."""
    return ["head.*"] if "head" in model._modules else []


def unfreeze_new_head(model):
    """Let a fresh task head train (new_head_patterns); a language model is returned as it is."""
    heads = new_head_patterns(model)
    return unfreeze(model, heads) if heads else model


def linear_probe(model):
    """Freeze everything but the task head (head_patterns): the encoder's features stay as
    pre-training left them and only the last linear map (and its norm) learns."""
    return unfreeze(freeze(model), head_patterns(model))


def parameter_report(model) -> dict:
    """{"trainable", "total", "share"}: scalar parameters (tied weights once), share in %."""
    c = model.parameter_counts()
    return {"trainable": c["trainable"], "total": c["total"],
            "share": 100.0 * c["trainable"] / max(c["total"], 1)}  # fmt: skip


def trainable_summary(model) -> str:
    """'trainable 12,345 of 1,234,567 parameters (1.00 %)'."""
    c = model.parameter_counts()
    share = 100.0 * c["trainable"] / max(c["total"], 1)
    return f"trainable {c['trainable']:,} of {c['total']:,} parameters ({share:.2f} %)"


register_method(
    "head",
    linear_probe,
    "linear probing: the pre-trained body frozen, only the task head trains (the source's "
    "'PEFT', erratum C16)",
)
