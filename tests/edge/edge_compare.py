"""Shared by the edge-case tests: one tolerance table per dtype, and a comparison that holds nan
and infinity positions exactly before it compares the finite values. (A module of its own, not
conftest.py: `from conftest import` picks whichever folder's conftest Python imported first.)

compare.assert_close(nan_equal=True) lets a nan pass against a nan; here the rule is stricter,
because the edge rows are about exactly these values: a nan, a +inf and a -inf must sit where
PyTorch's do, and only the finite entries are compared with the tolerance of their dtype.
"""

import numpy as np
from compare import assert_close as _compare

# float32: minillm against PyTorch 2.13 in float32 (sums of a few terms, A&S erf in GELU within
#   1.5e-7): a few ulps of O(1) values. float64: the same formulas in float64.
TOLERANCES = {
    np.dtype(np.float64): {"rtol": 1e-10, "atol": 1e-12},
    np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-6},
}


def assert_edge_close(actual, expected, what):
    """Same shape and dtype; nan, +inf and -inf at the same positions; the finite entries within
    TOLERANCES of the dtype (integers and booleans exactly). Names `what`, the shape and the
    first index that differs."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    if expected.dtype.kind != "f":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    for name, test in (("nan", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        differ = test(actual) != test(expected)
        if differ.any():
            i = tuple(int(j) for j in np.argwhere(differ)[0])
            raise AssertionError(
                f"{what}: shape {expected.shape}, {name} positions differ first at index {i}: "
                f"got {actual[i]!r}, expected {expected[i]!r}"
            )
    finite = np.isfinite(expected)  # the non-finite entries agree: compare the others
    a, e = np.where(finite, actual, 0), np.where(finite, expected, 0)
    _compare(a.astype(expected.dtype), e, what, TOLERANCES[expected.dtype])
