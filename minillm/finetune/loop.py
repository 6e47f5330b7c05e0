"""The fine-tuning loop (F10, F11, C21): a few epochs of AdamW over a labelled task, the best
epoch on the validation split kept, the test split scored once at the end.

    L_fine = -(1/N) sum_n log P_theta(y_n | x_n)        F10, over each batch
    theta <- AdamW(theta, clip(grad L_fine), lr(step))   warm-up, then cosine to 0 (C21)
    y_hat = argmax_y P_theta_hat(y | x)                  F11, inference with the tuned weights

Deliberately separate from minillm.train (which pre-trains): fine-tuning walks a fixed set of
labelled examples epoch by epoch and picks its epoch by a task score (accuracy, entity F1)
rather than by loss. The learning rate sits 1-2 orders below pre-training's (C21): the encoder
starts from weights that already encode the language, and big steps would wash them out.
"""

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..optim import AdamW, clip_grad_norm_, warmup_cosine_lr
from .config import FinetuneConfig
from .methods import get_method

DECAYED_ROLES = ("weight", "embedding")  # as pre-training: no decay on biases and norms


@dataclass
class FinetuneResult:
    """What a run ends with: the tuned model (best validation epoch), the evaluations, the log."""

    model: object
    val: dict  # the task's evaluation on the validation split, best epoch
    test: dict  # ... on the test split (report, score, predictions)
    best_epoch: int
    history: list = field(default_factory=list)  # one dict per epoch: loss, val score, seconds
    parameters: dict = field(default_factory=dict)  # trainable / frozen / total
    seconds: float = 0.0


def make_optimizer(model, cfg: FinetuneConfig) -> AdamW:
    """AdamW over the trainable parameters: decay on weights and embeddings only."""
    roles = [(p, role) for _, p, role in model.named_parameter_roles() if p.requires_grad]
    if not roles:
        raise ValueError("finetune: the method left no parameter trainable")
    decay = [p for p, r in roles if r in DECAYED_ROLES]
    rest = [p for p, r in roles if r not in DECAYED_ROLES]
    groups = [
        {"params": g, "weight_decay": wd} for g, wd in ((decay, cfg.weight_decay), (rest, 0.0)) if g
    ]
    return AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999))


def finetune(model, task, cfg: FinetuneConfig, log=print, method_options=None) -> FinetuneResult:
    """Fine-tune `model` (the task's classifier over a pre-trained encoder) on task's train split
    with cfg's recipe and method; return the best validation epoch's model and both evaluations.
    Randomness: the example order from default_rng([seed, 6]); dropout from the model's own
    generators (seeded when it was built)."""
    start = time.perf_counter()
    model = get_method(cfg.method).apply(model, **(method_options or {}))
    model.train()
    optimizer = make_optimizer(model, cfg)
    counts = model.parameter_counts()
    log(
        f"finetune: task {task.name} ({task.kind}), method {cfg.method}: "
        f"{counts['trainable']:,} of {counts['total']:,} parameters train; "
        f"{task.size('train')} training examples, lr {cfg.lr:g}"
    )
    steps_per_epoch = math.ceil(task.size("train") / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    warmup = int(cfg.warmup_frac * total)
    rng = np.random.default_rng([cfg.seed, 6])
    params = model.trainable_parameters()
    best, history, step = None, [], 0
    for epoch in range(1, cfg.epochs + 1):
        t0, losses = time.perf_counter(), []
        for x, y in task.batches("train", cfg.batch_size, rng):
            lr = warmup_cosine_lr(step, cfg.lr, 0.0, warmup, max(total, warmup + 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            _, loss = model(*x, y)  # F10
            loss.backward()
            clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            step += 1
        if not np.isfinite(losses).all():
            raise ValueError(f"finetune: the loss turned {losses[-1]} in epoch {epoch}; lower --lr")
        val = task.evaluate(model, "val", cfg.eval_batch_size)  # F11
        record = {"epoch": epoch, "step": step, "train_loss": float(np.mean(losses)),
                  "val_score": val["score"], "seconds": time.perf_counter() - t0}  # fmt: skip
        history.append(record)
        log(
            f"epoch {epoch}: train loss {record['train_loss']:.4f}, val score "
            f"{val['score']:.4f} ({record['seconds']:.0f} s)"
        )
        if best is None or val["score"] > best[1]["score"]:
            best = (epoch, val, copy.deepcopy(model.state_dict()))
    best_epoch, val, state = best
    model.load_state_dict(state)
    test = task.evaluate(model, "test", cfg.eval_batch_size)
    log(f"best epoch {best_epoch}: val score {val['score']:.4f}, test score {test['score']:.4f}")
    return FinetuneResult(model.eval(), val, test, best_epoch, history, counts,
                          time.perf_counter() - start)  # fmt: skip
