"""A step-budgeted fine-tuning loop with evaluation along the way: what the comparisons of
issue 11 (C16-C18, C22) share, so that every method gets the same number of steps and the same
batches, and every curve is recorded the same way.

    for step in 0 .. steps - 1:
        L = L_fine(batch_step) + penalty(theta)       F10, plus e.g. EWC's quadratic term (C18)
        theta <- AdamW(theta, clip(grad L), lr(step)) warm-up then cosine to 0 (C21)

The epoch-based `finetune()` (loop.py) is what `minillm finetune` runs; this one counts steps and
calls `evaluate(model)` every `eval_every` steps (and at the start and the end), which the
continual-learning and overfitting studies plot.
"""

import math
import time

import numpy as np

from ..optim import clip_grad_norm_, warmup_cosine_lr
from .config import FinetuneConfig
from .loop import make_optimizer


def cycle_batches(task, batch_size: int, seed: int = 0, split: str = "train", transform=None):
    """Endless batches of a task's split, epoch after epoch, each epoch in a fresh order from
    default_rng([seed, 6]) (the order finetune() uses). transform(batch, rng) may rewrite each
    batch (data augmentation, C22)."""
    rng = np.random.default_rng([seed, 6])
    while True:
        for batch in task.batches(split, batch_size, rng):
            yield batch if transform is None else transform(batch, rng)


def train_steps(model, batches, steps: int, lr: float, *, weight_decay=0.01, warmup=0,
                grad_clip=1.0, penalty=None, evaluate=None, eval_every=0,
                log=None) -> list:  # fmt: skip
    """Train `model`'s trainable parameters for `steps` steps on `batches` (an iterator of
    (inputs tuple, targets)); return the history: one {"step", "loss", "lr", "seconds"} per
    step (seconds: this process's CPU time for the step), and {"step", "eval": evaluate(model)}
    at step 0, every eval_every steps and after the last. ValueError for lr <= 0 or a loss that
    is not finite."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise ValueError(f"train_steps: lr must be a number > 0, got {lr!r}")
    optimizer = make_optimizer(model, FinetuneConfig(lr=lr, weight_decay=weight_decay))
    params = model.trainable_parameters()
    history = []

    def record_eval(step):
        if evaluate is not None:
            history.append({"step": step, "eval": evaluate(model)})
            model.train()

    model.train()
    record_eval(0)
    for step in range(steps):
        t0 = time.process_time()
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine_lr(step, lr, 0.0, warmup, max(steps, warmup + 1))
        x, y = next(batches)
        _, loss = model(*x, y)  # F10
        total = loss if penalty is None else loss + penalty(model)
        total.backward()
        clip_grad_norm_(params, grad_clip if grad_clip > 0 else math.inf)
        optimizer.step()
        optimizer.zero_grad()
        value = loss.item()
        if not math.isfinite(value):
            raise ValueError(f"train_steps: the loss turned {value} at step {step}; lower lr")
        history.append({"step": step + 1, "loss": value, "lr": optimizer.param_groups[0]["lr"],
                        "seconds": time.process_time() - t0})  # fmt: skip
        if log is not None and (step + 1) % max(1, steps // 5) == 0:
            log(f"step {step + 1}/{steps}: loss {value:.4f}")
        if eval_every and (step + 1) % eval_every == 0 and step + 1 < steps:
            record_eval(step + 1)
    record_eval(steps)
    return history


def losses(history) -> list:
    """The per-step training losses of a history."""
    return [h["loss"] for h in history if "loss" in h]


def evals(history) -> list:
    """(step, evaluation) pairs of a history."""
    return [(h["step"], h["eval"]) for h in history if "eval" in h]
