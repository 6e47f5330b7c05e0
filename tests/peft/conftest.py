"""Shared by the fine-tuning tests of issue 11 (C16-C18, C21, C22, F10, F11): the tolerance
table, an assert naming what was compared, the shape and the index, and two tokenizers."""

import numpy as np
import pytest
from compare import assert_close as _compare
from peft_tiny import TEXT

from minillm.data import CharTokenizer, WordPieceTokenizer, load_text

# One table per dtype. float64: one function computed two ways (merged vs unmerged LoRA, the
# library vs the equation in NumPy) agrees to a few ulps times the depth; float32: rounding.
TOLERANCES = {
    np.dtype(np.float64): {"rtol": 1e-10, "atol": 1e-12},
    np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-6},
}


def _assert_close(actual, expected, what, dtype=None):
    _compare(actual, expected, what, TOLERANCES[np.dtype(dtype or np.asarray(expected).dtype)])


@pytest.fixture
def assert_close():
    return _assert_close


@pytest.fixture(scope="session")
def char_tok():
    return CharTokenizer.from_text(TEXT)


@pytest.fixture(scope="session")
def wp_tok():
    return WordPieceTokenizer().train(load_text("shakespeare")[:40_000], 200)
