"""From request text to token ids and back: the prompt's checks (vocabulary, length) and stop
strings. Each refusal is an ApiError that names the field and, where there is one, the limit."""

from dataclasses import dataclass, field


@dataclass
class ApiError(Exception):
    """A refused request: HTTP status, the body field at fault, a message, the limit if any."""

    status: int
    field: str
    msg: str
    type: str = "value_error"
    ctx: dict = field(default_factory=dict)

    def body(self) -> dict:
        loc = ["body", self.field] if self.field else ["body"]
        error = {"loc": loc, "msg": self.msg, "type": self.type}
        if self.ctx:
            error["ctx"] = self.ctx
        return {"detail": [error], "error": f"{self.field or 'body'}: {self.msg}"}


def _encodes(tokenizer, ch: str) -> bool:
    try:
        tokenizer.encode(ch)
        return True
    except ValueError:
        return False


def encode_prompt(tokenizer, prompt: str, context_length, max_chars: int) -> list[int]:
    """The prompt's token ids; ApiError 413 when it is longer than max_chars characters or
    context_length tokens, 422 naming every character outside the vocabulary."""
    if len(prompt) > max_chars:
        raise ApiError(413, "prompt", f"the prompt has {len(prompt):,} characters; the limit is "
                       f"{max_chars:,}", "too_long", {"limit": max_chars})  # fmt: skip
    try:
        ids = [int(i) for i in tokenizer.encode(prompt)]
    except ValueError as e:
        bad = sorted({ch for ch in prompt if not _encodes(tokenizer, ch)})
        if not bad:
            raise ApiError(422, "prompt", f"cannot be encoded: {e}") from None
        named = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in bad[:20])
        more = f" and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise ApiError(
            422,
            "prompt",
            f"{len(bad)} character(s) outside the model's vocabulary: {named}{more}",
            "vocabulary",
            {"characters": bad},
        ) from None
    if context_length is not None and len(ids) > context_length:
        raise ApiError(
            413,
            "prompt",
            f"the prompt has {len(ids)} tokens; the model's context is {context_length} tokens",
            "too_long",
            {"limit": context_length},
        )
    return ids


class StopStrings:
    """is_stop(new_ids): whether the text generated so far contains one of the stop strings.
    Only the last tokens are decoded (enough for the longest string: a token decodes to at
    least one byte, a character to at most four); a string is found at the first token that
    completes it, so it cannot have been in the text before."""

    def __init__(self, tokenizer, strings):
        self.tokenizer, self.strings = tokenizer, list(strings)
        self.tail = 4 * max((len(s) for s in self.strings), default=0) + 1

    def __call__(self, new_ids) -> bool:
        text = self.tokenizer.decode(new_ids[-self.tail :])
        return any(s in text for s in self.strings)
