"""Overfitting remedies (C22) for a classifier fine-tuned on a small training set.

Dropout, weight decay and early stopping already exist (nn.Dropout, AdamW, the loops' best
validation epoch); this file adds the two that need code of their own, and the curves:

- data augmentation for text that keeps the label (a speech stays in its play):
  `span_mask`  hides random spans of tokens behind [MASK] (about `rate` of them, in spans of
               `span`), the corruption BERT was pre-trained to see through (C12);
  `random_crop` keeps a random contiguous part (at least `keep` of the tokens) of the speech;
  `augment(task, fn)` applies one of them to every training batch, afresh each time;
- an ensemble: the mean of several models' class probabilities (`ensemble_metrics`), whose
  errors, made from different seeds, partly cancel;
- `classification_metrics`: loss and accuracy of a split, for train/validation curves
  (`class_probabilities` and `metrics_from_probabilities`, its two halves).
"""

import numpy as np

from ..tensor import no_grad


def _special(tokenizer) -> set:
    return {i for i in (tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id) if i is not None}


def span_mask(ids, tokenizer, rng, rate: float = 0.15, span: int = 3) -> np.ndarray:
    """ids (T,) with about rate * (ordinary tokens) of them, in runs of `span`, set to [MASK];
    [CLS], [SEP] and [PAD] are never masked."""
    ids = np.array(ids, dtype=np.int64)
    free = np.flatnonzero(~np.isin(ids, list(_special(tokenizer))))  # (n,) maskable positions
    n_spans = int(round(rate * len(free) / span))
    for start in rng.choice(len(free), size=min(n_spans, len(free)), replace=False):
        ids[free[start : start + span]] = tokenizer.mask_id
    return ids


def random_crop(ids, tokenizer, rng, keep: float = 0.5) -> np.ndarray:
    """[CLS] + a random contiguous run of at least keep * n of the n inner tokens + [SEP]."""
    ids = np.asarray(ids, dtype=np.int64)
    inner = ids[1:-1]  # (n,) between [CLS] and [SEP]
    n = len(inner)
    if n < 2:
        return ids
    length = int(rng.integers(max(1, int(np.ceil(keep * n))), n + 1))
    start = int(rng.integers(0, n - length + 1))
    return np.concatenate([ids[:1], inner[start : start + length], ids[-1:]])


def augment(task, fn, **kwargs):
    """A transform for steps.cycle_batches: each training batch is rebuilt from its examples
    rewritten by fn(ids, tokenizer, rng, **kwargs) and padded again (labels unchanged)."""

    def transform(batch, rng):
        (ids, mask, _), targets = batch
        rows = [ids[b][mask[b].astype(bool)] for b in range(len(ids))]  # unpadded (T_b,)
        new, new_mask = task.tokenizer.pad([fn(r, task.tokenizer, rng, **kwargs) for r in rows])
        return (new, new_mask, np.zeros_like(new)), targets

    return transform


def class_probabilities(model, task, split: str, batch_size: int = 64) -> np.ndarray:
    """softmax of a sequence classifier's logits for every example of a split: (N, classes)."""
    with no_grad():
        z = np.stack(task.logits(model, split, batch_size)).astype(np.float64)  # (N, classes)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def metrics_from_probabilities(prob, y) -> dict:
    """{"loss": mean -log p(y) (F8), "accuracy": argmax hit rate} of probabilities (N, C)."""
    y = np.asarray(y)
    loss = float(-np.log(prob[np.arange(len(y)), y] + 1e-12).mean())
    return {"loss": loss, "accuracy": float((prob.argmax(axis=1) == y).mean())}


def classification_metrics(model, task, split: str, batch_size: int = 64) -> dict:
    """{"loss": mean cross-entropy (F8), "accuracy"} of a sequence classifier on a split."""
    prob = class_probabilities(model, task, split, batch_size)
    return metrics_from_probabilities(prob, [e[1] for e in task.examples[split]])


def ensemble_metrics(models, task, split: str, batch_size: int = 64) -> dict:
    """The same for the ensemble that averages the models' class probabilities."""
    prob = np.mean([class_probabilities(m, task, split, batch_size) for m in models], axis=0)
    return metrics_from_probabilities(prob, [e[1] for e in task.examples[split]])
