"""Choosing the next token from the logits: greedy, temperature, top-k and top-p (C19).

Plain array functions on logits of shape (B, V); a filtered-out token gets logit -inf, so the
softmax gives it probability exactly 0. No filter and no combination of them can empty a row:
the most likely token (the argmax) always survives, and an argument that could only empty it
(top_k < 1, top_p outside [0, 1], a negative temperature) is a ValueError naming it.
"""

import math
import numbers

import numpy as np


def _check_k(name, k):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1, got {k!r}")
    if k < 1:
        raise ValueError(f"{name} must be >= 1 (keep at least the most likely token), got {k}")


def _check_p(name, p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1], got {p!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {p!r}")


def check_logits(logits):
    """logits as a float (B, V) array. ValueError for another shape, for nan or +inf, and for a
    row of -inf only: no token can be drawn from it (a filter never makes one)."""
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[1] == 0 or logits.dtype.kind not in "fiu":
        raise ValueError(
            f"sample_next: logits must be a (B, V) array of numbers with V >= 1, got shape "
            f"{logits.shape} of {logits.dtype} (one row: logits[None])"
        )
    bad = np.isnan(logits) | np.isposinf(logits)
    dead = ~np.isfinite(logits).any(axis=-1)  # (B,) every logit -inf
    if bad.any() or dead.any():
        r = int(np.flatnonzero(bad.any(axis=-1) | dead)[0])
        raise ValueError(
            f"sample_next: row {r} of logits {logits.shape} holds nan or +inf, or only -inf, so no "
            f"token can be drawn: {logits[r][:8].tolist()}..."
        )
    return logits


def top_k_filter(logits, k):
    """Keep the k largest logits of each row, set the rest to -inf.

    Ties at the k-th value are all kept (nanoGPT's rule: keep logits >= the k-th largest), so a
    row may keep more than k tokens when values repeat. k >= V keeps everything; k < 1 is a
    ValueError (it would keep nothing)."""
    _check_k("top_k_filter: k", k)
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
    (p = 0 keeps it alone: greedy, as Hugging Face's min_tokens_to_keep=1) and p = 1 keeps every
    token of non-zero probability. p outside [0, 1] is a ValueError."""
    _check_p("top_p_filter: p", p)
    # BEGIN EXERCISE C19: keep (B, V) boolean: rank tokens by probability; keep a token while the
    # mass ranked before it is < p; always keep the most likely
    probs = softmax(logits)  # (B, V)
    order = np.argsort(-probs, axis=-1, kind="stable")  # (B, V) most likely first
    sorted_p = np.take_along_axis(probs, order, axis=-1)  # (B, V)
    mass_before = np.cumsum(sorted_p, axis=-1) - sorted_p  # (B, V) exclusive prefix sums
    keep_sorted = mass_before < p  # (B, V)
    keep_sorted[..., 0] = True  # the most likely token, also for p = 0 (mass_before = 0 < 0)
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)  # back to token order
    # END EXERCISE
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
    softmax with rng (inverse CDF on one uniform number per row, so a seed fixes the draw).
    The argmax survives every combination (the max is subtracted before dividing, so a tiny
    temperature gives 0 - (-inf), not inf - inf); bad logits or arguments raise ValueError."""
    logits = check_logits(logits)
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"sample_next: temperature must be a number >= 0, got {temperature!r}")
    if not temperature >= 0 or math.isinf(temperature):
        raise ValueError(f"sample_next: temperature must be finite and >= 0, got {temperature}")
    if top_k is not None:
        _check_k("sample_next: top_k", top_k)
    if top_p is not None:
        _check_p("sample_next: top_p", top_p)
    if temperature == 0:
        return logits.argmax(axis=-1).astype(np.int64)  # (B,)
    if not callable(getattr(rng, "random", None)):
        raise TypeError(f"sample_next: rng must be a np.random.Generator, got {rng!r}")
    z = logits.astype(np.float64)  # (B, V)
    with np.errstate(over="ignore"):  # a tiny temperature: -inf for every token but the argmax
        z = (z - z.max(axis=-1, keepdims=True)) / temperature  # (B, V) the max becomes 0
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

    Rows of equal settings go through one sample_next call, whose one uniform number per row
    comes from that row's generator (RowGenerators), so a row of a batch gets exactly the token
    it gets alone with the same generator: requests of different seeds and settings share a
    batch (minillm.serve), and generate(..., row_seeds=[...]) seeds each row apart."""
    B = np.shape(logits)[0]
    if len(rngs) != B or len(settings) != B:
        raise ValueError(
            f"sample_rows: {B} rows of logits, {len(rngs)} generators and {len(settings)} settings"
        )
    groups = {}
    for b, setting in enumerate(settings):
        groups.setdefault(tuple(setting), []).append(b)
    ids = np.zeros(B, dtype=np.int64)  # (B,)
    for setting, rows in groups.items():
        draws = RowGenerators([rngs[b] for b in rows])
        ids[rows] = sample_next(np.asarray(logits)[rows], draws, *setting)  # (b,)
    return ids


class RowGenerators:
    """Looks like one np.random.Generator to sample_next, but row b of each random((B, ...))
    draw comes from generators[b]: what that row draws alone, rng.random((1, ...))."""

    def __init__(self, generators):
        self.generators = list(generators)

    def random(self, size):
        if size[0] != len(self.generators):
            raise ValueError(f"RowGenerators: {len(self.generators)} rows, asked for {size}")
        return np.stack([g.random(tuple(size[1:])) for g in self.generators])  # (B, ...)
