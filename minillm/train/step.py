"""One optimisation step, and the loss estimate: the pieces the training loop repeats.

L(theta) = (1/N) sum_i l(M_theta(x_i), y_i)          empirical risk over a batch (F12)
grad L   = (1/k) sum_j grad L_j                        k equal micro-batches (C9)
theta   <- AdamW(theta, clip(grad L), lr(step))        (C21)

with, when asked for, data parallelism (gradients averaged over MPI ranks, C8) and mixed
precision (forward and backward in float16/bfloat16, the loss scaled, C23).
"""

import math

import numpy as np

from ..nn.precision import low_precision
from ..optim import AdamW, clip_grad_norm_
from ..tensor import no_grad

DECAYED_ROLES = ("weight", "embedding")  # Linear weights and embedding tables; not biases, norms


def configure_optimizer(model, lr, weight_decay, betas):
    """AdamW over the trainable parameters (requires_grad) in two groups, as nanoGPT: weight
    decay on the parameters whose role is "weight" or "embedding" (Module.PARAM_ROLES), none on
    biases and LayerNorm gains ("bias", "norm": decaying those towards 0 only fights the
    normalisation and shifts the activations). Frozen parameters are left out entirely: they get
    no optimizer state and are never updated."""
    roles = [(p, role) for _, p, role in model.named_parameter_roles() if p.requires_grad]
    if not roles:
        raise ValueError("configure_optimizer: the model has no trainable parameters")
    decay = [p for p, role in roles if role in DECAYED_ROLES]
    no_decay = [p for p, role in roles if role not in DECAYED_ROLES]
    groups = [{"params": decay, "weight_decay": weight_decay}] if decay else []
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return AdamW(groups, lr=lr, betas=betas)


def accumulate_gradients(model, batches, scaler=None) -> float:
    """Add the gradient of the mean loss over `batches` (a list of (x, y) micro-batches of equal
    size) into the parameters' .grad; return that mean loss. With a GradScaler the gradient is
    that of scaler.scale(loss), S times the loss (C23).

    Each micro-batch's loss is its own mean over B*T positions; scaling it by 1/k before backward
    makes the summed gradient that of the mean over all k*B*T positions, the gradient of one big
    batch (F12), while only one micro-batch's activations are alive at a time (C9)."""
    k = len(batches)
    total = 0.0
    for x, y in batches:
        _, loss = model(*_inputs(x), y)
        scaled = loss if k == 1 else loss * (1.0 / k)  # k == 1: no extra rounding
        if scaler is not None:
            scaled = scaler.scale(scaled)  # S * loss: gradients lifted into float16's range
        scaled.backward()
        total += loss.item()
    return total / k


def _inputs(x) -> tuple:
    """A batch's inputs as positional arguments: (idx,) for a language model, (src, tgt_in) for
    a seq2seq model, whose data gives them as a tuple."""
    return x if isinstance(x, tuple) else (x,)


def train_step(model, optimizer, batches, lr, grad_clip, sync=None, dtype="float32", scaler=None):
    """One optimizer step on `batches` at learning rate lr: accumulate gradients, clip the global
    norm to grad_clip (0 = off), AdamW update, clear the gradients. Returns (loss, grad_norm),
    grad_norm the norm before clipping.

    When the loss or the gradient norm is not finite the update is skipped (the weights and the
    optimizer state stay as they were) and the caller sees the non-finite value.

    sync(params, loss) -> loss runs after backward: data parallel (C8) averages the gradients
    and the loss over the ranks there. dtype "float16" or "bfloat16" runs forward and backward on
    the model's working copy in that format (nn.precision.low_precision, C23); with an enabled
    GradScaler the loss is scaled, the gradients are unscaled before clipping, and the scaler
    skips a step whose gradients overflowed (and halves its scale)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    with low_precision(model, dtype):
        loss = accumulate_gradients(model, batches, scaler)
    params = model.trainable_parameters()
    if sync is not None:
        loss = sync(params, loss)
    if scaler is not None:
        scaler.unscale_(optimizer)  # clip the true gradient, not S times it
    with np.errstate(invalid="ignore"):  # inf gradients are scaled by nan; the step is skipped
        norm = clip_grad_norm_(params, grad_clip if grad_clip > 0 else math.inf)
    if scaler is not None and scaler.is_enabled():
        scaler.step(optimizer)  # no update when a gradient is inf or nan
        scaler.update()
    elif math.isfinite(loss) and math.isfinite(norm):
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
            losses = []
            for _ in range(eval_iters):
                x, y = corpus.get_batch(split, batch_size, block_size, rng)
                losses.append(model(*_inputs(x), y)[1].item())
            out[split] = float(np.mean(losses))
    model.train(was_training)
    return out
