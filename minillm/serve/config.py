"""The server's settings (ServeConfig, read by the engine, the app and `minillm serve`) and what it
serves (AppSource)."""

from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class ServeConfig:
    """How the server batches and what it accepts. `minillm serve --FIELD=value` sets each."""

    max_batch_size: int = 16  # rows decoded together in one forward; 1 = one request at a time
    max_wait_ms: float = 5.0  # how long a request may wait for others to join it at a step
    max_new_tokens_cap: int = 512  # a request asking for more is refused (422, naming the cap)
    max_queue: int = 256  # requests waiting beyond this are refused (503, retry later)
    max_prompt_chars: int = 100_000  # a longer prompt string is refused before it is encoded

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"ServeConfig: {f.name} must be a number >= 0, got {value!r}")
        for name in ("max_batch_size", "max_new_tokens_cap", "max_queue", "max_prompt_chars"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"ServeConfig: {name} must be an int >= 1")


@dataclass(frozen=True)
class AppSource:
    """What to serve, as plain values: a worker process builds its own app from it
    (runner.build_app)."""

    checkpoint: str | None = None  # a checkpoint folder (any registered model)
    pretrained: str | None = None  # or a pre-trained model, by name or folder (all-MiniLM-L6-v2)
    device: str = "cpu"  # "cpu" or "cuda"
    config: ServeConfig = field(default_factory=ServeConfig)

    def __post_init__(self):
        if (self.checkpoint is None) == (self.pretrained is None):
            raise ValueError("AppSource: give a checkpoint folder or a pretrained name, not both")
