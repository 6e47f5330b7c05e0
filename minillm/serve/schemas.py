"""The request and response bodies of the HTTP API (pydantic), which FastAPI checks and documents
at /docs. A field that fails its check is a 422 naming it; an unknown field is one too (a typo
such as "max_tokens" is not silently ignored)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

STOP_STRINGS = 4  # at most this many stop strings, of at most STOP_CHARS characters each
STOP_CHARS = 64
BATCH_TEXTS = 64  # texts per /v1/embed or /v1/classify request


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerateRequest(Strict):
    """POST /v1/generate. Sampling as minillm.generate.generate (C19): temperature 0 is greedy,
    top_k keeps the k most likely tokens, top_p the smallest set of probability >= p (after
    top_k); the same seed gives the same text, alone or batched with other requests."""

    prompt: str = Field(min_length=1, description="the text to continue")
    max_new_tokens: int | None = Field(
        None, ge=1, strict=True, description="tokens to generate; default 64 or the cap if lower"
    )
    temperature: float = Field(1.0, ge=0, allow_inf_nan=False, description="0 = greedy")
    top_k: int | None = Field(None, ge=1, strict=True)
    top_p: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)
    seed: int | None = Field(None, ge=0, lt=2**63, strict=True, description="fixes the draws")
    stop: str | list[str] | None = Field(
        None,
        description=f"up to {STOP_STRINGS} strings; generation ends once one appears",
    )
    stream: bool = Field(False, strict=True, description="server-sent events, one per token")

    @field_validator("stop")
    @classmethod
    def _stop(cls, v):
        strings = [v] if isinstance(v, str) else v or []
        if len(strings) > STOP_STRINGS:
            raise ValueError(f"at most {STOP_STRINGS} stop strings, got {len(strings)}")
        for s in strings:
            if not 1 <= len(s) <= STOP_CHARS:
                raise ValueError(f"a stop string has 1 to {STOP_CHARS} characters, got {s!r}")
        return v

    def stop_strings(self) -> list[str]:
        return [] if self.stop is None else [self.stop] if isinstance(self.stop, str) else self.stop


class GenerateResponse(BaseModel):
    text: str = Field(description="the generated text (the prompt not repeated)")
    token_ids: list[int] = Field(description="the generated token ids")
    prompt_tokens: int
    completion_tokens: int
    finish_reason: Literal["length", "stop"]


class TextsRequest(Strict):
    """POST /v1/embed and /v1/classify: one text or a list of texts."""

    input: str | list[str] = Field(description=f"a text or up to {BATCH_TEXTS} texts")

    @field_validator("input")
    @classmethod
    def _input(cls, v):
        texts = [v] if isinstance(v, str) else v
        if not 1 <= len(texts) <= BATCH_TEXTS or not all(texts):
            raise ValueError(f"give 1 to {BATCH_TEXTS} non-empty texts, got {len(texts)}")
        return v

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class EmbedResponse(BaseModel):
    embeddings: list[list[float]] = Field(description="one unit vector per text (mean-pooled)")
    dimensions: int


class Classification(BaseModel):
    label: int = Field(description="the most likely class id (argmax, F11)")
    scores: list[float] = Field(description="softmax probability of each class")


class ClassifyResponse(BaseModel):
    predictions: list[Classification]
