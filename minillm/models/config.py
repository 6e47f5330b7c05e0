"""What every model config shares: a frozen dataclass with one comment per field, `to_dict()`,
`from_dict(d)` (which also reads other codebases' names for the same field) and range checks.

One vocabulary across models and layers (docs/notation.md has the table against nanoGPT's,
PyTorch's and Hugging Face's names): vocab_size, block_size, d_model, n_heads, n_layers, d_ff,
dropout, bias.
"""

import dataclasses
from typing import ClassVar


class ModelConfig:
    """Mixin for a model's frozen config dataclass.

    ALIASES maps a foreign field name to ours (nanoGPT's n_embd -> d_model), so a config written
    by an older minillm or another codebase still loads through from_dict."""

    ALIASES: ClassVar[dict] = {}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        """The config from a dict of field values; ValueError naming unknown keys."""
        if not isinstance(d, dict):
            raise TypeError(f"{cls.__name__}.from_dict: expected a dict, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        values = {}
        for key, value in d.items():
            key = cls.ALIASES.get(key, key)
            if key not in names:
                raise ValueError(
                    f"{cls.__name__}: unknown field {key!r}; fields: {', '.join(sorted(names))}"
                )
            values[key] = value
        return cls(**values)

    def _check_ints(self, *names, allow_none=()):
        """ValueError unless each named field is an int >= 1 (or None, for those in allow_none)."""
        for name in names:
            value = getattr(self, name)
            if value is None and name in allow_none:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{type(self).__name__}: {name} must be a positive int, got {value!r}"
                )

    def _check_dropout(self):
        if isinstance(self.dropout, bool) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(
                f"{type(self).__name__}: dropout must be in [0, 1), got {self.dropout!r}"
            )
