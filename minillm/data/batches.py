"""Random training batches: (input, target) windows cut from one long array of token ids.

A language model is trained to predict the next token at every position. From the token array
``data`` we pick ``B`` random start offsets ``i`` and take the windows ``x = data[i : i+T]`` and
``y = data[i+1 : i+T+1]``: ``y[b, t]`` is the token that follows ``x[b, t]``, so one window gives
T training examples at once (nanoGPT's ``get_batch``).

``Corpus`` holds the train and validation token arrays of one text and draws batches from either.
All randomness comes from the ``np.random.Generator`` passed in: same seed, same batches.
"""

import numpy as np

from .corpus import train_val_split

SPLITS = ("train", "val")


def _check_size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"get_batch: {name} must be a positive int, got {value!r}")
    return int(value)


def _as_token_array(data, who: str) -> np.ndarray:
    arr = np.asarray(data)
    if arr.ndim != 1:
        raise ValueError(f"{who}: token data must be 1-D, got shape {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{who}: token data must hold integer ids, got dtype {arr.dtype}")
    return arr


def get_batch(data, batch_size: int, block_size: int, rng: np.random.Generator):
    """Draw ``batch_size`` random windows of ``block_size`` tokens from ``data``.

    ``data``: 1-D integer array of token ids, length N > block_size.
    Returns ``(x, y)``, both (B, T) int64 with B = batch_size, T = block_size, and
    ``y[:, t] == x[:, t + 1]`` (y is x shifted left by one, plus the next token at the end).
    Start offsets are uniform over ``[0, N - T)``, so every window and its target fit.
    """
    data = _as_token_array(data, "get_batch")
    B = _check_size("batch_size", batch_size)
    T = _check_size("block_size", block_size)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"get_batch: rng must be a np.random.Generator, got {type(rng).__name__}")
    if T >= len(data):
        raise ValueError(
            f"get_batch: block_size={T} needs more than {T} tokens, but data has {len(data)}"
        )
    starts = rng.integers(0, len(data) - T, size=B)  # (B,)
    idx = starts[:, None] + np.arange(T)[None, :]  # (B, T) positions of x
    x = data[idx].astype(np.int64)  # (B, T)
    y = data[idx + 1].astype(np.int64)  # (B, T) next tokens
    return x, y


class Corpus:
    """The token ids of a text cut into a training and a validation part.

    ``train`` and ``val`` are 1-D integer arrays (stored as int64). ``Corpus.from_text`` builds
    one from raw text and a tokenizer.
    """

    def __init__(self, train, val):
        self.train = _as_token_array(train, "Corpus").astype(np.int64)  # (N_train,)
        self.val = _as_token_array(val, "Corpus").astype(np.int64)  # (N_val,)

    @classmethod
    def from_text(cls, text: str, tokenizer, frac: float = 0.9) -> "Corpus":
        """Cut ``text`` with ``train_val_split(text, frac)``, then encode each part.

        Cutting the text before encoding (as nanoGPT's ``prepare.py``) keeps the split point
        exact in characters whatever the tokenizer.
        """
        train_text, val_text = train_val_split(text, frac)
        return cls(tokenizer.encode(train_text), tokenizer.encode(val_text))

    def split(self, name: str) -> np.ndarray:
        """The token array of split ``name`` ("train" or "val")."""
        if name == "train":
            return self.train
        if name == "val":
            return self.val
        raise ValueError(f"Corpus: unknown split {name!r}; expected one of {list(SPLITS)}")

    def get_batch(self, split: str, batch_size: int, block_size: int, rng: np.random.Generator):
        """``get_batch`` on the named split: (x, y), both (B, T) int64."""
        data = self.split(split)
        if isinstance(block_size, (int, np.integer)) and block_size >= len(data):
            raise ValueError(
                f"Corpus.get_batch: block_size={block_size} needs more than {block_size} tokens, "
                f"but split {split!r} has {len(data)}"
            )
        return get_batch(data, batch_size, block_size, rng)

    def __repr__(self) -> str:
        return f"Corpus(train={len(self.train)} tokens, val={len(self.val)} tokens)"
