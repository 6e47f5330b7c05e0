"""Shared by the optimizer tests: the tolerance table and an assert that names op, shape, index."""

import numpy as np
import pytest
from compare import assert_close as _compare

# One table per dtype: the optimizers' updates are a few flops per element, so float64 results
# agree with PyTorch and with the hand-written equations to a few ulps, even after several steps.
TOLERANCES = {
    np.dtype(np.float64): {"rtol": 1e-12, "atol": 1e-14},
    np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-7},
}


def _assert_close(actual, expected, op):
    """compare.assert_close with this suite's table, chosen by the expected dtype."""
    _compare(actual, expected, op, TOLERANCES[np.asarray(expected).dtype])


@pytest.fixture
def assert_close():
    return _assert_close
