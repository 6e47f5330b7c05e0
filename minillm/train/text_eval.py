"""Loss of a model on a whole text, every token once, and the unknown-character report that comes
before it (`minillm eval --data FILE`)."""

import numpy as np

from ..models.text_loss import text_loss  # noqa: F401  (below train: finetune uses it too)


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
