"""The short training runs compression needs (a recovery fine-tune after pruning or factorising,
a distilled or a baseline student) and the held-out loss they are judged by.

minillm.compress sits beside minillm.train and never imports it (the layering contract), so this
is a small loop of its own over minillm.optim: AdamW with weight decay on weights and embeddings
only, linear warm-up then cosine decay, global-norm clipping (C21), the same steps as the
training loop's, without run folders, checkpoints or logging.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..optim import AdamW, clip_grad_norm_, warmup_cosine_lr
from ..tensor import no_grad

DECAYED_ROLES = ("weight", "embedding")


@dataclass(frozen=True)
class FitConfig:
    """A short run: the steps, their batches and the optimiser."""

    steps: int = 200  # optimiser steps
    batch_size: int = 12  # sequences per step
    block_size: int | None = None  # tokens per sequence (None: the model's context_length)
    lr: float = 1e-3  # peak learning rate
    min_lr: float = 1e-4  # learning rate at the last step (cosine floor)
    warmup: int = 10  # linear warm-up steps
    weight_decay: float = 0.1  # AdamW decay on weights and embeddings
    grad_clip: float = 1.0  # global-norm clipping (0: off)
    seed: int = 0  # draws the batches


def _optimizer(model, cfg: FitConfig):
    roles = [(p, r) for _, p, r in model.named_parameter_roles() if p.requires_grad]
    if not roles:
        raise ValueError("fit: the model has no trainable parameters")
    decay = [p for p, r in roles if r in DECAYED_ROLES]
    rest = [p for p, r in roles if r not in DECAYED_ROLES]
    groups = [{"params": g, "weight_decay": wd} for g, wd in ((decay, cfg.weight_decay),
                                                              (rest, 0.0)) if g]  # fmt: skip
    return AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99))


def lm_loss(model, x, y):
    """The model's own next-token cross-entropy (F9)."""
    return model(x, y)[1]


def fit(model, corpus, cfg: FitConfig | None = None, loss_fn=lm_loss, callback=None) -> list:
    """Train `model` on random windows of corpus.train for cfg.steps AdamW steps; return the
    loss of every step. loss_fn(model, x, y) -> scalar Tensor (default: the model's
    cross-entropy; distillation passes its own). callback(step, model) runs after each step."""
    cfg = cfg or FitConfig()
    T = cfg.block_size or model.context_length
    rng = np.random.default_rng([cfg.seed, 7])
    opt = _optimizer(model, cfg)
    params = model.trainable_parameters()
    decay_iters = max(cfg.steps, cfg.warmup + 1)
    model.train()
    losses = []
    for step in range(cfg.steps):
        lr = warmup_cosine_lr(step, cfg.lr, cfg.min_lr, cfg.warmup, decay_iters)
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = corpus.get_batch("train", cfg.batch_size, T, rng)  # (B, T) each
        loss = loss_fn(model, x, y)
        loss.backward()
        clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
        if callback is not None:
            callback(step, model)
    model.eval()
    return losses


def eval_loss(model, ids, block_size=None, batch_size=32, max_tokens=None) -> float:
    """Mean next-token loss over consecutive windows of `ids` (every token predicted once, from
    up to block_size tokens before it), in eval mode without a graph; perplexity = exp (F9).
    max_tokens: only the first max_tokens + 1 ids."""
    ids = np.asarray(ids, dtype=np.int64)  # (N,)
    ids = ids[: max_tokens + 1] if max_tokens else ids
    T = block_size or model.context_length
    n = (len(ids) - 1) // T
    if n < 1:
        raise ValueError(f"eval_loss: need more than {T} tokens, got {len(ids)}")
    rows = np.arange(n)[:, None] * T + np.arange(T)  # (n, T) positions of the inputs
    was_training = model.training
    model.eval()
    total = 0.0
    with no_grad():
        for b in range(0, n, batch_size):
            r = rows[b : b + batch_size]  # (B, T)
            total += model(ids[r], ids[r + 1])[1].item() * r.shape[0]
    model.train(was_training)
    return total / n
