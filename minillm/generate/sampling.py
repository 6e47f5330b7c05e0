"""Choosing the next token from the logits: greedy, temperature, top-k and top-p (C19).

Plain array functions on logits of shape (B, V); a filtered-out token gets logit -inf, so the
softmax gives it probability exactly 0.
"""

import numpy as np


def top_k_filter(logits, k):
    """Keep the k largest logits of each row, set the rest to -inf.

    Ties at the k-th value are all kept (nanoGPT's rule: keep logits >= the k-th largest), so a
    row may keep more than k tokens when values repeat. k >= V keeps everything."""
    V = logits.shape[-1]
    if k >= V:
        return logits
    kth = np.partition(logits, V - k, axis=-1)[..., V - k : V - k + 1]  # (B, 1) k-th largest
    return np.where(logits < kth, -np.inf, logits)  # (B, V)


def top_p_filter(logits, p):
    """Nucleus filter: keep the smallest set of most likely tokens whose probability mass is >= p,
    set the rest to -inf (Holtzman et al., 2020).

    Tokens are ranked by probability (ties broken by the lower id); token r of the ranking is kept
    when the mass of the tokens ranked before it is < p, so the most likely token is always kept
    and p = 1 keeps every token of non-zero probability."""
    probs = softmax(logits)  # (B, V)
    order = np.argsort(-probs, axis=-1, kind="stable")  # (B, V) most likely first
    sorted_p = np.take_along_axis(probs, order, axis=-1)  # (B, V)
    mass_before = np.cumsum(sorted_p, axis=-1) - sorted_p  # (B, V) exclusive prefix sums
    keep_sorted = mass_before < p  # (B, V)
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)  # back to token order
    return np.where(keep, logits, -np.inf)  # (B, V)


def softmax(logits):
    """Row softmax in float64 (max-subtracted, F17): sampling needs probabilities that sum to 1."""
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)  # (B, V)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)  # (B, V)


def sample_next(logits, rng, temperature=1.0, top_k=None, top_p=None):
    """One token id per row of logits (B, V) -> (B,) int64.

    temperature == 0: argmax (greedy; top_k and top_p do not change it). Otherwise the logits are
    divided by the temperature, filtered by top-k then top-p, and a token is drawn from the
    softmax with rng (inverse CDF on one uniform number per row, so a seed fixes the draw)."""
    logits = np.asarray(logits)
    if temperature == 0:
        return logits.argmax(axis=-1).astype(np.int64)  # (B,)
    z = logits.astype(np.float64) / temperature  # (B, V)
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    cdf = np.cumsum(softmax(z), axis=-1)  # (B, V)
    u = rng.random((z.shape[0], 1)) * cdf[:, -1:]  # (B, 1)
    ids = (cdf <= u).sum(axis=-1)  # (B,) first index whose cdf exceeds u
    return np.minimum(ids, z.shape[-1] - 1).astype(np.int64)


def sample_rows(logits, rngs, settings):
    """One token id per row of logits (B, V) -> (B,) int64, row b drawn by sample_next with its
    own generator rngs[b] and its own settings[b] = (temperature, top_k, top_p).

    So a row of a batch gets exactly the token it gets alone with the same generator (one
    uniform number per row and step either way): requests of different seeds and settings share
    a batch (minillm.serve), and generate(..., row_seeds=[...]) seeds each row apart."""
    if len(rngs) != logits.shape[0] or len(settings) != logits.shape[0]:
        raise ValueError(
            f"sample_rows: {logits.shape[0]} rows of logits, {len(rngs)} generators and "
            f"{len(settings)} settings"
        )
    ids = [sample_next(logits[b : b + 1], rngs[b], *settings[b])[0] for b in range(len(rngs))]
    return np.array(ids, dtype=np.int64)  # (B,)
