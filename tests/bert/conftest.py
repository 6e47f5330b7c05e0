"""Shared by the BERT tests: the tolerance table and an assert naming quantity, shape, index."""

import numpy as np
import pytest
from compare import assert_close as _compare

# One table per dtype. float64: one model computed two ways (a batch vs its rows alone, a formula
# by hand vs the library) agrees to a few ulps times the depth; float32: the same, rounding.
TOLERANCES = {
    np.dtype(np.float64): {"rtol": 1e-9, "atol": 1e-11},
    np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-5},
}


def _assert_close(actual, expected, what, dtype=None):
    _compare(actual, expected, what, TOLERANCES[np.dtype(dtype or np.asarray(expected).dtype)])


@pytest.fixture
def assert_close():
    return _assert_close
