"""clip_grad_norm_: the global norm over all gradients, against NumPy on the concatenation."""

import math

import numpy as np
import pytest

from minillm.optim import clip_grad_norm_
from minillm.tensor import Tensor

SHAPES = [(3, 5), (7,), (1,), (2, 1, 3)]


def make_params(seed, scale=1.0, none=(), dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = []
    for i, s in enumerate(SHAPES):
        p = Tensor(np.zeros(s, dtype=dtype), requires_grad=True)
        p.grad = None if i in none else (rng.standard_normal(s) * scale).astype(dtype)
        params.append(p)
    return params


def numpy_norm(grads, norm_type):
    flat = np.concatenate([g.ravel() for g in grads])
    return np.linalg.norm(flat, ord=norm_type)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf])
def test_clip_grad_norm_scales_to_max_norm(norm_type, assert_close):
    params = make_params(0, none=(1,))
    before = [p.grad.copy() for p in params if p.grad is not None]
    want = numpy_norm(before, norm_type)
    total = clip_grad_norm_(params, max_norm=0.5, norm_type=norm_type)
    assert isinstance(total, float), f"total norm is a {type(total).__name__}, expected float"
    assert_close(np.array(total), np.array(want), f"clip total norm p={norm_type}")
    coef = 0.5 / (want + 1e-6)
    after = [p.grad for p in params if p.grad is not None]
    for i, (a, b) in enumerate(zip(after, before, strict=True)):
        assert_close(a, b * coef, f"clip grad {i} p={norm_type}")
    assert params[1].grad is None, "a None grad must stay None"
    assert_close(
        np.array(numpy_norm(after, norm_type)),
        np.array(0.5 * want / (want + 1e-6)),
        "clip norm after",
    )


def test_clip_grad_norm_leaves_small_gradients_unchanged():
    params = make_params(1, scale=1e-3)
    before = [p.grad.copy() for p in params]
    total = clip_grad_norm_(params, max_norm=1.0)
    assert total < 1.0, f"total norm {total} should be small"
    for i, (p, b) in enumerate(zip(params, before, strict=True)):
        assert np.array_equal(p.grad, b), f"grad {i} changed although its norm is below max_norm"


def test_clip_grad_norm_works_in_place_on_one_tensor_and_float32(assert_close):
    (p,) = make_params(2, scale=10.0, none=(1, 2, 3), dtype=np.float32)[:1]
    grad = p.grad
    want = np.linalg.norm(grad.astype(np.float64))
    total = clip_grad_norm_(p, max_norm=1.0)
    assert p.grad is grad, "clip_grad_norm_ must scale the grad array in place"
    assert p.grad.dtype == np.float32, f"clipped grad has dtype {p.grad.dtype}"
    assert_close(np.array(total, dtype=np.float32), np.array(want, dtype=np.float32), "float32")
    assert_close(np.linalg.norm(p.grad), np.float32(want / (want + 1e-6)), "float32 clipped")


def test_clip_grad_norm_without_gradients_returns_zero():
    assert clip_grad_norm_(make_params(3, none=(0, 1, 2, 3)), max_norm=1.0) == 0.0
    assert clip_grad_norm_([], max_norm=1.0) == 0.0


def test_clip_grad_norm_non_finite():
    params = make_params(4)
    params[1].grad[2] = np.inf
    with pytest.raises(RuntimeError, match="non-finite \\(inf\\)"):
        clip_grad_norm_(params, max_norm=1.0, error_if_nonfinite=True)
    params[1].grad[2] = np.nan
    total = clip_grad_norm_(params, max_norm=1.0)  # PyTorch's default: scale by nan, no error
    assert math.isnan(total), f"total norm {total}, expected nan"
    assert np.isnan(params[0].grad).all(), "grads must be scaled by the nan coefficient"


@pytest.mark.parametrize(
    "kwargs, message",
    [({"norm_type": 0.0}, "norm_type=0.0"), ({"norm_type": -2}, "norm_type=-2.0")],
)
def test_clip_grad_norm_rejects_bad_norm_type(kwargs, message):
    with pytest.raises(ValueError, match=message):
        clip_grad_norm_(make_params(5), max_norm=1.0, **kwargs)


def test_clip_grad_norm_rejects_negative_max_norm():
    with pytest.raises(ValueError, match="max_norm=-1.0"):
        clip_grad_norm_(make_params(5), max_norm=-1.0)
