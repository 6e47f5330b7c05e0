"""Loss of a model on a whole text, every token once, and the unknown-character report that comes
before it (`minillm eval --data FILE`)."""

import numpy as np

from ..tensor import no_grad


def encode_reporting_unknown(tokenizer, text: str, policy: str = "error"):
    """(ids, report) for `text`: characters the tokenizer has no id for are counted and named in
    `report` (None when there are none), then handled by `policy`: "error" (ValueError naming
    them), "skip" (dropped), "unk" (the tokenizer's unknown token; ValueError without one) or a
    single character of the vocabulary that replaces each of them."""
    known = getattr(tokenizer, "stoi", None)
    if known is None:  # byte-level BPE: every text encodes
        return np.asarray(tokenizer.encode(text), dtype=np.int64), None
    unknown = sorted({ch for ch in set(text) if ch not in known})
    if not unknown:
        return np.asarray(tokenizer.encode(text), dtype=np.int64), None
    count = sum(text.count(ch) for ch in unknown)
    report = f"{count} characters outside the vocabulary ({len(unknown)} distinct: {unknown[:20]})"
    if policy == "error":
        raise ValueError(
            f"{report}; pass --unknown=skip to drop them, --unknown=unk to map them to the "
            "tokenizer's unknown token, or --unknown=C to replace them with the character C"
        )
    if policy == "skip":
        text = "".join(ch for ch in text if ch in known)
    elif policy == "unk":
        if getattr(tokenizer, "unk_id", None) is None:
            raise ValueError(f"{report}; this tokenizer has no unknown token (--unknown=unk)")
        return np.asarray(tokenizer.encode(text), dtype=np.int64), report + ", mapped to unk"
    elif len(policy) == 1 and policy in known:
        text = "".join(ch if ch in known else policy for ch in text)
    else:
        raise ValueError(
            f"--unknown={policy!r}: expected 'error', 'skip', 'unk' or one character of the "
            "vocabulary"
        )
    return np.asarray(tokenizer.encode(text), dtype=np.int64), report + f", handled by {policy!r}"


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
