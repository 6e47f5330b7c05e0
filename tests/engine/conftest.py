"""Shared by the engine tests: the tolerance tables (one per dtype) and an assert that names the
op, the shape and the worst index."""

import numpy as np
import pytest

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
    """Raise AssertionError naming `what` (op, case, which array), the shape and the worst index."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (
        f"{what}: shape {actual.shape} != expected {expected.shape}"
    )
    tol = TOLERANCES[np.dtype(expected.dtype)]
    with np.errstate(invalid="ignore"):
        err = np.abs(actual.astype(np.float64) - expected) - tol["rtol"] * np.abs(expected)
    err = np.where(np.isnan(err) & (np.isnan(actual) == np.isnan(expected)), -np.inf, err)
    err = np.where(np.isnan(err), np.inf, err)  # nan on one side only is a failure
    if expected.size and not np.all(err <= tol["atol"]):
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape))
        raise AssertionError(
            f"{what}: shape {expected.shape}, worst index {worst}: got {actual[worst]!r}, "
            f"expected {expected[worst]!r} (tolerance {tol})"
        )


@pytest.fixture(scope="session")
def close():
    """The assert above, as a fixture (test modules cannot import this conftest by name)."""
    return assert_close
