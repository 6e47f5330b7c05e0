"""What the method comparison measures besides the score (C16): the cost of a training step.

- `step_cost(model, batches, lr)`: CPU time per step (the median over a few steps, the first
  left out: it allocates AdamW's moments) and the peak memory a step allocates on top of the model
  (tracemalloc, which NumPy reports its arrays to): activations, gradients and AdamW's two
  moments per trained number. Both run on copies, so the model itself is not trained.
- `subsample(data, per_class, seed)`: a small, class-balanced training split (C22's deliberately
  small training set) of a play_classification-style dict.
"""

import copy
import statistics
import tracemalloc

import numpy as np

from .steps import train_steps


def step_cost(model, batches, lr: float, steps: int = 4) -> dict:
    """{"step_ms": median CPU milliseconds of steps 2..steps, "peak_mib": the most memory two
    training steps held above the model}. batches: an iterator of (inputs, targets)."""
    history = train_steps(copy.deepcopy(model), batches, steps, lr)
    seconds = [h["seconds"] for h in history if "seconds" in h][1:]
    traced = copy.deepcopy(model)
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        train_steps(traced, batches, 2, lr)
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    return {"step_ms": 1000.0 * statistics.median(seconds), "peak_mib": peak / 2**20}


def subsample(data: dict, per_class: int, seed: int = 0) -> dict:
    """The same splits with train cut to `per_class` examples of each class, drawn with
    default_rng([seed, 10]) (in corpus order within the result)."""
    rng = np.random.default_rng([seed, 10])
    labels = np.asarray(data["train"]["label"])
    keep = np.sort(np.concatenate([
        rng.choice(np.flatnonzero(labels == c), size=min(per_class, int((labels == c).sum())),
                   replace=False)
        for c in np.unique(labels)
    ]))  # fmt: skip
    train = {k: [v[i] for i in keep] if isinstance(v, list) else np.asarray(v)[keep]
             for k, v in data["train"].items()}  # fmt: skip
    return {**data, "train": train}
