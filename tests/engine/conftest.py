"""Shared by the engine tests: the tolerance tables (one per dtype) and an assert that names the
op, the shape and the worst index."""

import numpy as np
import pytest
from compare import assert_close as _compare

# Comparisons of two computations of the same formula, by dtype of the expected values.
# float64: our hand-written backward against autograd over the primitives (same math, different
#   summation order: a few ulps, amplified by cancellation in layer norm's backward).
# float32: minillm against the PyTorch fixtures (both in float32; reductions of up to ~100 terms
#   and the A&S erf in GELU, |error| <= 1.5e-7, stay within a few hundred ulps of O(1) values).
TOLERANCES = {
    np.dtype(np.float64): {"rtol": 1e-10, "atol": 1e-12},
    np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-6},
}


def assert_close(actual, expected, what):
    """compare.assert_close with this suite's table; NaN on both sides counts as equal."""
    tol = TOLERANCES[np.asarray(expected).dtype]
    _compare(actual, expected, what, tol, nan_equal=True)


@pytest.fixture(scope="session")
def close():
    """The assert above, as a fixture (test modules cannot import this conftest by name)."""
    return assert_close
