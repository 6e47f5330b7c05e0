"""Checking a sequence of token ids before it is decoded (shared by both tokenizers)."""

import numpy as np


def as_id_array(ids, vocab_size: int, who: str) -> np.ndarray:
    """Return ``ids`` as a 1-D int64 array, or raise naming the first bad id and its position.

    Accepts a list/tuple of ints or a 1-D integer array (NumPy or anything ``np.asarray`` takes).
    Raises TypeError for non-integer ids, ValueError for a shape other than 1-D and IndexError
    for an id outside ``[0, vocab_size)``.
    """
    arr = np.asarray(ids)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)  # (0,) an empty list comes in as float64
    if arr.ndim != 1:
        raise ValueError(f"{who}: ids must be 1-D, got shape {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{who}: ids must be integers, got dtype {arr.dtype}")
    bad = np.flatnonzero((arr < 0) | (arr >= vocab_size))
    if bad.size:
        pos = int(bad[0])
        raise IndexError(
            f"{who}: id {int(arr[pos])} at position {pos} is outside the vocabulary "
            f"[0, {vocab_size}) ({bad.size} bad id(s) in all)"
        )
    return arr.astype(np.int64, copy=False)  # (N,)
