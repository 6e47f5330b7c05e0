"""FinetuneConfig: every setting of a fine-tuning run (`minillm finetune --key=value`)."""

import dataclasses
from dataclasses import dataclass

PRETRAINING_LR = 1e-3  # the learning rate `minillm train --preset bert-small` pre-trains with


@dataclass(frozen=True)
class FinetuneConfig:
    """A fine-tuning run: the task, the method, and an optimisation recipe of BERT's kind
    (AdamW, warm-up, decay to 0, a few epochs, dropout 0.1). The learning rate is one order
    below the pre-training's 1e-3 (C21: fine-tuning lrs sit 1-2 orders below pre-training, so
    the pre-trained weights move a little rather than being overwritten)."""

    task: str = "play"  # "play" (sequence classification) or "persons" (token classification)
    method: str = "full"  # how the model adapts (finetune.METHODS)
    lr: float = 1e-4  # peak learning rate (C21: 1-2 orders below pre-training's)
    epochs: int = 4  # passes over the training examples
    batch_size: int = 16  # examples per step
    max_len: int = 128  # tokens per example, [CLS] and [SEP] included (longer ones are cut)
    warmup_frac: float = 0.1  # linear warm-up over this share of the steps, then cosine to 0
    weight_decay: float = 0.01  # AdamW decay on weights and embeddings (BERT's 0.01)
    grad_clip: float = 1.0  # clip the global gradient norm (0 = off)
    dropout: float | None = 0.1  # the encoder's and head's dropout while fine-tuning (None: keep
    # the encoder's own)
    seed: int = 0  # the head's weights, dropout and the order of the examples
    max_train: int | None = None  # N training texts only, stratified by play (quick runs)
    eval_batch_size: int = 64  # examples per batch when predicting

    def __post_init__(self):
        errors = []
        for name in ("epochs", "batch_size", "max_len", "eval_batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                errors.append(f"{name} must be an int >= 1, got {v!r}")
        if not isinstance(self.lr, (int, float)) or not 0 < self.lr < float("inf"):
            errors.append(f"lr must be a number > 0, got {self.lr!r}")
        if not 0 <= self.warmup_frac < 1:
            errors.append(f"warmup_frac must be in [0, 1), got {self.warmup_frac!r}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            errors.append("weight_decay and grad_clip must be >= 0")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            errors.append(f"dropout must be in [0, 1) or None, got {self.dropout!r}")
        if self.max_train is not None and (
            not isinstance(self.max_train, int) or self.max_train < 1
        ):
            errors.append(f"max_train must be an int >= 1 or None, got {self.max_train!r}")
        if errors:
            raise ValueError("FinetuneConfig: " + "; ".join(errors))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
