"""One optimisation step, and the loss estimate: the pieces the training loop repeats.

L(theta) = (1/N) sum_i l(M_theta(x_i), y_i)          empirical risk over a batch (F12)
grad L   = (1/k) sum_j grad L_j                        k equal micro-batches (C9)
theta   <- AdamW(theta, clip(grad L), lr(step))        (C21)
"""

import numpy as np

from ..optim import AdamW, clip_grad_norm_
from ..tensor import no_grad


def configure_optimizer(model, lr, weight_decay, betas):
    """AdamW with two parameter groups, as nanoGPT: weight decay on the 2-D weights (Linear
    weights and embeddings), none on biases and LayerNorm gains (decaying those towards 0 only
    fights the normalisation and shifts the activations)."""
    params = model.parameters()
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return AdamW(groups, lr=lr, betas=betas)


def accumulate_gradients(model, batches) -> float:
    """Add the gradient of the mean loss over `batches` (a list of (x, y) micro-batches of equal
    size) into the parameters' .grad; return that mean loss.

    Each micro-batch's loss is its own mean over B*T positions; scaling it by 1/k before backward
    makes the summed gradient that of the mean over all k*B*T positions, the gradient of one big
    batch (F12), while only one micro-batch's activations are alive at a time (C9)."""
    k = len(batches)
    total = 0.0
    for x, y in batches:
        _, loss = model(x, y)
        scaled = loss if k == 1 else loss * (1.0 / k)  # k == 1: no extra rounding
        scaled.backward()
        total += loss.item()
    return total / k


def train_step(model, optimizer, batches, lr, grad_clip):
    """One optimizer step on `batches` at learning rate lr: accumulate gradients, clip the global
    norm to grad_clip (0 = off), AdamW update, clear the gradients. Returns (loss, grad_norm);
    grad_norm is the norm before clipping, or None when grad_clip is 0."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = accumulate_gradients(model, batches)
    norm = clip_grad_norm_(model.parameters(), grad_clip) if grad_clip > 0 else None
    optimizer.step()
    optimizer.zero_grad()
    return loss, norm


def estimate_loss(model, corpus, batch_size, block_size, eval_iters, rng) -> dict:
    """{"train": mean loss, "val": mean loss} over eval_iters random batches of each split, in
    eval mode (no dropout) and without building a graph. rng draws the batches."""
    was_training = model.training
    model.eval()
    out = {}
    with no_grad():
        for split in ("train", "val"):
            losses = [
                model(*corpus.get_batch(split, batch_size, block_size, rng))[1].item()
                for _ in range(eval_iters)
            ]
            out[split] = float(np.mean(losses))
    model.train(was_training)
    return out
