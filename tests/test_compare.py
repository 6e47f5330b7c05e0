"""The suites' shared comparison fails where it should and names the worst index."""

import numpy as np
import pytest
from compare import assert_close

TOL = {"rtol": 1e-5, "atol": 1e-6}


def test_passes_within_tolerance_and_fails_beyond_naming_the_worst_index():
    assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-5]), "within", TOL)
    with pytest.raises(AssertionError, match=r"beyond: shape \(2, 2\), worst index \(1, 0\)"):
        assert_close(np.eye(2) + [[0, 0], [1e-3, 0]], np.eye(2), "beyond", TOL)
    with pytest.raises(AssertionError, match=r"shape \(3,\) != expected \(2,\)"):
        assert_close(np.zeros(3), np.zeros(2), "shapes", TOL)


def test_nan_fails_on_one_side_always_and_on_both_sides_unless_nan_equal():
    with pytest.raises(AssertionError, match="worst index"):
        assert_close(np.array([np.nan]), np.array([1.0]), "one side", TOL, nan_equal=True)
    with pytest.raises(AssertionError, match="worst index"):
        assert_close(np.array([np.nan]), np.array([np.nan]), "both", TOL)
    assert_close(np.array([np.nan, np.inf]), np.array([np.nan, np.inf]), "both", TOL, True)


def test_an_infinity_passes_only_against_the_same_infinity():
    assert_close(np.array([np.inf, -np.inf]), np.array([np.inf, -np.inf]), "equal infs", TOL)
    for got, want in ((1.0, np.inf), (np.inf, 1.0), (-np.inf, np.inf), (np.nan, np.inf)):
        for nan_equal in (False, True):
            with pytest.raises(AssertionError, match="worst index"):
                assert_close(np.array([got]), np.array([want]), "inf", TOL, nan_equal=nan_equal)
