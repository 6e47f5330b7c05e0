"""How a pre-trained model adapts to a task: one table of fine-tuning methods (C16).

A method takes the model built for the task (the pre-trained encoder with a fresh head) and
returns the model to train: it may freeze parameters (requires_grad_(False)), swap layers in by
path (model.set_submodule) or add parameters of its own; the fine-tuning loop trains whatever is
left trainable. `options` are its settings, given at the command line as --NAME=value and
converted to the type of the default.

    full     every parameter trains: the encoder and the head (Devlin et al. 2019, section 4)

A parameter-efficient method (freezing with a linear probe, adapters, LoRA, prefix tuning) is one
more `register_method` line with its own options, e.g.
    register_method("lora", add_lora, "...", {"lora_r": 8, "lora_alpha": 16.0})
"""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Method:
    """A fine-tuning method: prepare(model, **options) -> the model to train."""

    name: str
    prepare: Callable
    description: str
    options: dict = field(default_factory=dict)  # option name -> default value (and type)

    def apply(self, model, **options):
        """prepare(model, **options) with the defaults filled in; ValueError naming an option
        this method does not have."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(self.options) or "none"
            raise ValueError(
                f"--method={self.name}: unknown options {unknown}; its options: {known}"
            )
        return self.prepare(model, **{**self.options, **options})


METHODS: dict = {}


def register_method(name: str, prepare, description: str, options=None) -> Method:
    """Add a method to the table (ValueError for a name taken)."""
    if name in METHODS:
        raise ValueError(f"register_method: a method named {name!r} is already registered")
    METHODS[name] = Method(name, prepare, description, dict(options or {}))
    return METHODS[name]


def get_method(name: str) -> Method:
    """The method of a name; ValueError naming the registered ones."""
    if name not in METHODS:
        raise ValueError(f"unknown fine-tuning method {name!r}; methods: {', '.join(METHODS)}")
    return METHODS[name]


def full_finetuning(model):
    """Every parameter trains (C16's full fine-tuning)."""
    return model.requires_grad_(True)


register_method("full", full_finetuning, "every parameter trains: the encoder and the new head")
