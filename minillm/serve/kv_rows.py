"""Rows of a batch of KV caches: requests join and leave a running batch between decoding steps.

A batch is a list of KVCache (one per block, k and v of shape (B, H, S, D)) and a key mask
(B, S) of 1 (a token) / 0 (padding), as GPT.forward reads it. Every row is right-aligned: its
tokens fill the last columns and the padding is on the left, so the width S is the longest
row's token count once `trim` has dropped the columns no row uses. A padded column is never
attended to and does not count in the row's positions (GPT.forward), so a row of a batch
computes what it computes alone (tests/serve).
"""

import numpy as np

from ..nn import KVCache
from ..tensor import Tensor
from ..tensor.backend import array_module


def _cache(k, v) -> KVCache:
    """A KVCache holding the arrays k, v (B, H, S, D), positioned after its S columns."""
    cache = KVCache()
    cache.k, cache.v, cache.position = Tensor(k), Tensor(v), k.shape[2]
    return cache


def take_rows(caches, mask, rows):
    """The batch of the given rows (a list of indices), in that order."""
    idx = np.asarray(rows, dtype=np.int64)  # (B',)
    xp = array_module(caches[0].k.data)
    sel = xp.asarray(idx)
    taken = [_cache(c.k.data[sel], c.v.data[sel]) for c in caches]  # (B', H, S, D) each
    return trim(taken, mask[idx])


def _pad_left(a, n, xp):
    """(B, H, S, D) -> (B, H, n + S, D), zeros in front."""
    if n == 0:
        return a
    return xp.concatenate([xp.zeros(a.shape[:2] + (n,) + a.shape[3:], a.dtype), a], axis=2)


def stack(groups):
    """One batch from several (caches, mask) groups of possibly different widths: each is padded
    on the left to the widest, then the rows are concatenated in order."""
    groups = [g for g in groups if g[1].shape[0] > 0]
    if len(groups) == 1:
        return groups[0]
    width = max(m.shape[1] for _, m in groups)  # W
    xp = array_module(groups[0][0][0].k.data)
    out = []
    for layer in range(len(groups[0][0])):
        ks = [_pad_left(g[0][layer].k.data, width - g[1].shape[1], xp) for g in groups]
        vs = [_pad_left(g[0][layer].v.data, width - g[1].shape[1], xp) for g in groups]
        out.append(_cache(xp.concatenate(ks, axis=0), xp.concatenate(vs, axis=0)))  # (B, H, W, D)
    masks = [np.pad(m, ((0, 0), (width - m.shape[1], 0))) for _, m in groups]  # (B_g, W) each
    return out, np.concatenate(masks, axis=0)  # (B, W)


def trim(caches, mask):
    """Drop the leading columns that are padding in every row (rows left the batch)."""
    used = mask.any(axis=0)  # (S,)
    first = int(used.argmax()) if used.any() else mask.shape[1]
    if first == 0:
        return caches, mask
    trimmed = [_cache(c.k.data[:, :, first:], c.v.data[:, :, first:]) for c in caches]
    return trimmed, mask[:, first:]  # (B, S - first)


def truncate(caches, width):
    """Undo a forward that failed half-way: drop the columns after `width` that some of the
    blocks had already appended."""
    for c in caches:
        if c.position > width:
            c.k, c.v, c.position = (
                Tensor(c.k.data[:, :, :width]),
                Tensor(c.v.data[:, :, :width]),
                width,
            )
