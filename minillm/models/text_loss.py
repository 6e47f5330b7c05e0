"""A causal language model's loss on a whole token array, every token predicted once (F9 over a
text): what `minillm eval --data FILE` reports and what fine-tuning's language-model task scores."""

import numpy as np

from ..tensor import no_grad


def text_loss(model, ids, block_size: int, batch_size: int):
    """(mean loss per predicted token, number of predicted tokens) over the whole id array.

    The text is cut into consecutive windows x = ids[i : i + T], y = ids[i + 1 : i + T + 1] with
    i = 0, T, 2T, ... (non-overlapping, so every token but the first is predicted exactly once,
    from the part of its window before it), batched batch_size at a time, in eval mode."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError(f"text_loss: need at least 2 tokens, got {len(ids)}")
    T = block_size
    starts = list(range(0, len(ids) - 1, T))
    full = [i for i in starts if i + T + 1 <= len(ids)]
    tail = [i for i in starts if i + T + 1 > len(ids)]
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with no_grad():
            for b in range(0, len(full), batch_size):
                rows = np.array(full[b : b + batch_size])[:, None] + np.arange(T)  # (B, T)
                _, loss = model(ids[rows], ids[rows + 1])
                total += loss.item() * rows.size
                count += rows.size
            for i in tail:  # the last, shorter window
                x, y = ids[i:-1][None], ids[i + 1 :][None]  # (1, T')
                _, loss = model(x, y)
                total += loss.item() * x.size
                count += x.size
    finally:
        model.train(was_training)
    return total / count, count
