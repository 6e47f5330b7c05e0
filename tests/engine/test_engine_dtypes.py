"""dtypes: float32 stays float32 through every op (forward and backward); a Python number takes the
tensor's dtype; float32 mixed with float64 promotes to float64, as in NumPy (docs/autograd.md)."""

import numpy as np
import pytest
from engine_cases import CASES

import minillm.functional as F
from minillm.tensor import Tensor


def probe(t, seen):
    """An identity node between a leaf and the op: records the dtype of the gradient the op sends,
    before the leaf's accumulation casts it to the leaf's dtype."""
    return Tensor.from_op(t.data, (t,), lambda d: (seen.append(d.dtype) or d,), "probe")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_float32_stays_float32_through_forward_and_backward(case):
    inputs = case.make(np.random.default_rng(0), np.float32)
    seen = []
    out = case.fn(*[probe(t, seen) if t.requires_grad else t for t in inputs])
    assert out.dtype == np.float32, f"{case.id}: forward gives {out.dtype}"
    out.backward(np.random.default_rng(1).standard_normal(out.shape).astype(np.float32))
    bad = [str(d) for d in seen if d != np.float32]
    assert not bad, f"{case.id}: backward sends gradients of dtype {bad} to float32 inputs"
    for i, t in enumerate(inputs):
        if t.requires_grad:
            assert t.grad is not None and t.grad.dtype == np.float32, f"{case.id}: input {i}"


def test_python_floats_and_lists_become_float32_and_arrays_keep_their_dtype():
    assert Tensor(1.5).dtype == np.float32
    assert Tensor([[1.0, 2.0]]).dtype == np.float32
    assert Tensor(np.zeros(2)).dtype == np.float64
    assert Tensor(np.zeros(2, dtype=np.float16)).dtype == np.float16
    assert Tensor([1, 2]).dtype.kind == "i"
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_python_number_takes_the_tensors_dtype(dtype):
    x = Tensor(np.ones(3, dtype=dtype), requires_grad=True)
    for name, y in {
        "x + 1.5": x + 1.5,
        "2.5 - x": 2.5 - x,
        "x * 3": x * 3,
        "1 / x": 1 / x,
        "x / 7.0": x / 7.0,
        "x ** 2": x**2,
        "x ** 0.5": x**0.5,
        "np.float64 * x": np.float64(2.0) * x,
    }.items():
        assert y.dtype == dtype, f"{name}: {y.dtype} for a {np.dtype(dtype)} tensor"


def test_float32_with_float64_promotes_to_float64_and_each_leaf_gets_its_own_dtype():
    a = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    b = Tensor(np.full(3, 2.0), requires_grad=True)
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad, [2.0, 2.0, 2.0])


def test_integer_and_boolean_tensors_times_a_float_are_float():
    np.testing.assert_array_equal((Tensor([1, 2, 3]) * 0.5).data, [0.5, 1.0, 1.5])
    np.testing.assert_array_equal((Tensor(np.array([True, False])) * 0.5).data, [0.5, 0.0])
    assert (Tensor(np.array([1, 2], dtype=np.int32)) + 1).dtype == np.int32


def test_float64_mask_does_not_promote_float32_attention():
    q = Tensor(np.ones((1, 1, 3, 2), dtype=np.float32))
    out = F.scaled_dot_product_attention(q, q, q, attn_mask=np.zeros((3, 3)))
    assert out.dtype == np.float32
