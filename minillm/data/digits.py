"""The ids of the digit-reversal task (C13's toy translation): PAD, BOS, EOS and the ten digits.

    PAD = 0, BOS = 1, EOS = 2, digit d = 3 + d             13 ids, source and target alike

`DigitTokenizer` turns a digit string into those ids and back, so a reversal model's checkpoint
carries its tokenizer like a language model's (`minillm generate --prompt 12345`).
"""

import numpy as np

PAD, BOS, EOS = 0, 1, 2  # special ids; digit d has id FIRST_DIGIT + d
FIRST_DIGIT = 3
VOCAB_SIZE = 13  # PAD, BOS, EOS and the ten digits


def digits_to_ids(s):
    """'305' -> [6, 3, 8]"""
    return [FIRST_DIGIT + int(ch) for ch in s]


def ids_to_digits(ids):
    """Digits up to the first EOS (or PAD): [6, 3, 8, 2, 0] -> '305'"""
    out = []
    for i in ids:
        if i in (EOS, PAD):
            break
        out.append(str(int(i) - FIRST_DIGIT) if i >= FIRST_DIGIT else "?")
    return "".join(out)


class DigitTokenizer:
    """encode("305") -> [6, 3, 8] (no BOS/EOS); decode stops at the first EOS or PAD."""

    special_ids = {"pad": PAD, "bos": BOS, "eos": EOS}
    vocab_size = VOCAB_SIZE

    def encode(self, text: str) -> np.ndarray:
        """(N,) int64 ids of a string of digits; ValueError naming the first other character."""
        if not isinstance(text, str):
            raise TypeError(f"DigitTokenizer.encode: expected str, got {type(text).__name__}")
        bad = next(((i, ch) for i, ch in enumerate(text) if ch not in "0123456789"), None)
        if bad is not None:
            raise ValueError(
                f"DigitTokenizer.encode: {bad[1]!r} at position {bad[0]} is not a digit (the "
                "reversal task reads digit strings only)"
            )
        return np.asarray(digits_to_ids(text), dtype=np.int64)  # (N,)

    def decode(self, ids) -> str:
        return ids_to_digits([int(i) for i in np.asarray(ids).ravel()])

    def to_dict(self) -> dict:
        return {"type": "digits"}

    @classmethod
    def from_dict(cls, d: dict) -> "DigitTokenizer":
        return cls()
