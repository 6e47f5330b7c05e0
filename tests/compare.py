"""The comparison every suite's conftest uses: |actual - expected| <= atol + rtol |expected|
elementwise, failing with what was compared, the shape and the worst index. Each suite keeps its
own tolerance table, and its conftest says why the numbers are what they are.

(tests/ is on sys.path because tests/conftest.py lives there: `from compare import assert_close`.)
"""

import numpy as np


def assert_close(actual, expected, what, tol, nan_equal=False):
    """Raise AssertionError naming `what`, the shape and the worst index when actual and expected
    differ by more than tol["atol"] + tol["rtol"] * |expected| anywhere.

    Equal values pass (the same infinity on both sides included); an infinity against anything
    else fails. A NaN on one side only always fails; NaN on both sides passes with nan_equal, as
    in np.testing.assert_allclose."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (
        f"{what}: shape {actual.shape} != expected {expected.shape}"
    )
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    with np.errstate(invalid="ignore"):
        err = np.abs(a - e) - tol["rtol"] * np.abs(e)  # inf - inf and nan give nan: a failure
    err = np.where(a == e, -np.inf, err)  # exact equality passes, equal infinities included
    if nan_equal:
        err = np.where(np.isnan(a) & np.isnan(e), -np.inf, err)
    err = np.where(np.isnan(err), np.inf, err)
    if expected.size and not np.all(err <= tol["atol"]):
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape))
        raise AssertionError(
            f"{what}: shape {expected.shape}, worst index {worst}: got {actual[worst]!r}, "
            f"expected {expected[worst]!r} (tolerance {tol})"
        )
