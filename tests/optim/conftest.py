"""Shared by the optimizer tests: the tolerance table and an assert that names op, shape, index."""

import numpy as np
import pytest

# One table per dtype: the optimizers' updates are a few flops per element, so float64 results
# agree with PyTorch and with the hand-written equations to a few ulps, even after several steps.
TOLERANCES = {
    np.dtype(np.float64): {"rtol": 1e-12, "atol": 1e-14},
    np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-7},
}


def _assert_close(actual, expected, op):
    """Raise AssertionError naming op, shape and the worst index when actual != expected."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (
        f"{op}: shape {actual.shape} != expected {expected.shape}"
    )
    tol = TOLERANCES[np.dtype(expected.dtype)]
    err = np.abs(actual - expected) - tol["rtol"] * np.abs(expected)
    if expected.size and not np.all(err <= tol["atol"]):
        worst = np.unravel_index(int(np.nanargmax(np.where(np.isnan(err), np.inf, err))), err.shape)
        raise AssertionError(
            f"{op}: shape {expected.shape}, worst index {tuple(int(i) for i in worst)}: "
            f"got {actual[worst]!r}, expected {expected[worst]!r} ({tol})"
        )


@pytest.fixture
def assert_close():
    return _assert_close
