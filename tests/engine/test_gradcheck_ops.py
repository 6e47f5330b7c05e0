"""Every op of the op table passes a float64 finite-difference gradcheck (docs/style.md, 5.1).

The cases live in engine_cases.py; a meta-test fails when an op of `minillm.tensor.PRIMITIVES` or
`minillm.ops.OP_TABLE` has no case, and another shows that gradcheck catches a wrong backward.
"""

import numpy as np
import pytest
from engine_cases import CASES

from minillm.ops import OP_TABLE
from minillm.tensor import PRIMITIVES, Tensor, gradcheck


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gradcheck_op(case):
    inputs = case.make(np.random.default_rng(0), np.float64)
    assert gradcheck(case.fn, *inputs), case.id


def test_every_op_in_the_op_tables_has_a_gradcheck_case():
    ops = set(PRIMITIVES) | set(OP_TABLE)
    covered = {c.op for c in CASES}
    assert not ops - covered, f"ops without a gradcheck case: {sorted(ops - covered)}"
    assert not covered - ops, f"cases name ops that are not in the tables: {sorted(covered - ops)}"


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def wrong_square(x):
    """y = x^2 with the backward missing its factor 2: the bug gradcheck exists to catch"""
    return Tensor.from_op(x.data**2, (x,), lambda d: (d * x.data,), "wrong_square")


def test_gradcheck_catches_a_wrong_backward_and_names_op_input_shape_index():
    x = Tensor(np.random.default_rng(1).uniform(0.5, 2.0, (3, 4)), requires_grad=True)
    with pytest.raises(AssertionError) as info:
        gradcheck(wrong_square, x)
    msg = str(info.value)
    for part in ("wrong_square", "input 0", "(3, 4)", "index ("):
        assert part in msg, f"gradcheck message {msg!r} lacks {part!r}"


def test_gradcheck_names_the_second_input_when_only_its_gradient_is_wrong():
    def half_wrong(a, b):
        return Tensor.from_op(a.data * b.data, (a, b), lambda d: (d * b.data, d), "half_wrong")

    rng = np.random.default_rng(2)
    a = Tensor(rng.uniform(2.0, 3.0, (2, 5)), requires_grad=True)
    b = Tensor(rng.standard_normal((2, 5)), requires_grad=True)
    with pytest.raises(AssertionError, match=r"half_wrong.*input 1 of shape \(2, 5\).*index"):
        gradcheck(half_wrong, a, b)


def test_gradcheck_passes_a_correct_op_and_leaves_the_inputs_unchanged():
    x = Tensor(np.random.default_rng(3).standard_normal((4, 3)).T, requires_grad=True)
    before = x.data.copy()
    assert gradcheck(lambda t: (t * t).sum(axis=0), x)
    np.testing.assert_array_equal(x.data, before)


def test_gradcheck_refuses_float32_inputs():
    x = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: t * t, x)
