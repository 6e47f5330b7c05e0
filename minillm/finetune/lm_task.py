"""Language-model fine-tuning as a task of the fine-tuning table: adapt a pre-trained GPT to a text
(domain adaptation), `minillm finetune --checkpoint GPT_DIR --dataset=PATH --method=lora`.

The text is encoded with the checkpoint's own tokenizer and cut 80/10/10 into train, val and
test, in order (the last 10 % is the part `minillm eval` calls val, as a training run's
`train_fraction=0.9` would). An example is a window of block_size + 1 tokens, the windows laid
end to end over the split; a batch is ((x,), y) with y = x shifted by one, so the fine-tuning loop
runs it as it runs a classifier: `_, loss = model(x, y)` is F9's per-token loss, here F10 with the
text as its own label. The score that picks the best epoch is minus the validation loss;
evaluation goes over every token of the split once (non-overlapping windows, as `minillm eval
--data`), giving the loss and the perplexity exp(loss).

`play_texts()` cuts the shipped corpus into its eight plays (title to the next title), the data
of the domain-adaptation comparison: pre-train on seven (`pretraining_text`), adapt to the
eighth.
"""

import dataclasses
import math

import numpy as np

from ..data import load_text
from ..data.plays import short_name
from ..models import spec_of
from ..models.text_loss import text_loss

BY_LINE = "by William Shakespeare"


def play_texts(text: str | None = None) -> dict:
    """{short name: the play's raw text, from its title line to the next play's} in corpus order."""
    text = load_text("shakespeare") if text is None else text
    lines = text.split("\n")
    rows = [i - 2 for i, line in enumerate(lines) if line.strip() == BY_LINE and i >= 2]
    if not rows:
        raise ValueError(f"play_texts: no {BY_LINE!r} line, so no play to cut")
    ends = [*rows[1:], len(lines)]
    return {short_name(lines[a].strip()): "\n".join(lines[a:b]) for a, b in zip(rows, ends)}


def pretraining_text(held_out: str, fraction: float = 0.9) -> tuple:
    """(text, train_fraction, tails) for pre-training on every play but `held_out`: each play's
    first `fraction`, then each play's rest, so that a training run's split at train_fraction
    holds out the end of every play (tails: that held-out part)."""
    texts = play_texts()
    if held_out not in texts:
        raise ValueError(f"pretraining_text: no play {held_out!r}; plays: {', '.join(texts)}")
    kept = [t for name, t in texts.items() if name != held_out]
    heads = "".join(t[: int(fraction * len(t))] for t in kept)
    tails = "".join(t[int(fraction * len(t)) :] for t in kept)
    return heads + tails, (len(heads) + 0.5) / len(heads + tails), tails


def text_nll(model, ids, block_size: int, batch_size: int = 16):
    """(mean loss per predicted token, tokens predicted) over a whole id array: consecutive
    windows ids[i : i + T] -> ids[i + 1 : i + T + 1], i = 0, T, 2T, ..., each token predicted once
    (minillm.models.text_loss, the loss `minillm eval --data` reports)."""
    return text_loss(model, ids, block_size, batch_size)


def with_model_dropout(model, dropout):
    """The same weights in a model whose config has another dropout rate (None: the model)."""
    if dropout is None or dropout == model.config.dropout:
        return model
    spec = spec_of(model)
    fresh = spec.build(dataclasses.replace(model.config, dropout=dropout))
    fresh.load_state_dict(model.state_dict())
    return fresh


class LanguageModelling:
    """Adapt a causal language model to a text. tokenizer: the checkpoint's; text: the text to
    adapt to; block_size: tokens per window (the model's context at most); max_train: use only
    the first N training windows."""

    name = "lm"
    kind = "causal_lm"
    labels: list = []

    def __init__(self, tokenizer, text: str, block_size: int, max_train=None):
        if not isinstance(text, str) or not text:
            raise ValueError("lm task: the text to adapt to is empty")
        ids = np.asarray(tokenizer.encode(text), dtype=np.int64)
        a, b = int(0.8 * len(ids)), int(0.9 * len(ids))
        self.ids = {"train": ids[:a], "val": ids[a:b], "test": ids[b:]}
        self.block_size = int(block_size)
        T = self.block_size
        if len(self.ids["train"]) < T + 1 or min(len(self.ids[s]) for s in ("val", "test")) < 2:
            raise ValueError(
                f"lm task: the text is {len(ids)} tokens, too short for train/val/test splits "
                f"with windows of {T} + 1 tokens"
            )
        starts = np.arange(0, len(self.ids["train"]) - T, T)  # (N,) windows of T + 1 tokens
        self.starts = starts if max_train is None else starts[:max_train]

    def size(self, split: str) -> int:
        """Training windows (train), or tokens to predict (val, test)."""
        return len(self.starts) if split == "train" else len(self.ids[split]) - 1

    def build_model(self, model, seed: int = 0):
        """The language model itself: its head is already the vocabulary's."""
        return model

    def batch(self, rows) -> tuple:
        """((x,), y) for training windows `rows`: x (B, T), y = x shifted by one (B, T)."""
        idx = self.starts[np.asarray(rows)][:, None] + np.arange(self.block_size)  # (B, T)
        ids = self.ids["train"]
        return (ids[idx],), ids[idx + 1]

    def batches(self, split: str, batch_size: int, rng=None):
        """Every training window once, shuffled by rng (the loop trains on split "train")."""
        if split != "train":
            raise ValueError("lm task: batches are drawn from the train split only")
        n = len(self.starts)
        order = rng.permutation(n) if rng is not None else np.arange(n)
        for start in range(0, n, batch_size):
            yield self.batch(order[start : start + batch_size])

    def evaluate(self, model, split: str, batch_size: int = 16) -> dict:
        """{"score": -loss, "loss", "perplexity": exp(loss), "tokens"} over every token once."""
        loss, n = text_nll(model, self.ids[split], self.block_size, batch_size)
        return {"score": -loss, "loss": loss, "perplexity": math.exp(loss), "tokens": n}
