"""The engine's semantics, PyTorch's (docs/autograd.md): leaves accumulate, non-leaves keep no grad,
the graph is freed after backward unless retain_graph=True, no_grad builds no graph."""

import gc
import weakref

import numpy as np
import pytest

from minillm.tensor import Tensor, is_grad_enabled, no_grad, where


def leaf(*shape, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def test_a_10000_step_chain_backpropagates_without_recursion_error():
    x = Tensor(np.array([0.5]), requires_grad=True)
    h = x
    for _ in range(10_000):
        h = h * 1.0001 + 0.0  # two nodes per step: 20,000 deep
    h.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001**10_000], rtol=1e-10)


def test_a_used_twice_accumulates_both_paths():
    """b = a + a; c = b * b  ->  dc/da = 2 b * 2 = 8 a"""
    a = Tensor(np.array([1.5, -2.0, 3.0]), requires_grad=True)
    b = a + a
    c = b * b
    c.backward(np.ones(3))
    np.testing.assert_allclose(a.grad, 8 * a.data, rtol=1e-15)


def test_diamond_graph_sums_gradients_at_the_shared_node():
    """y = exp(x); z = y * y + 3 y  ->  dz/dx = (2 y + 3) y: three paths meet at y"""
    x = leaf(4)
    y = x.exp()
    z = y * y + 3.0 * y
    z.backward(np.ones(4))
    y_ = np.exp(x.data)
    np.testing.assert_allclose(x.grad, (2 * y_ + 3) * y_, rtol=1e-14)


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b, g: (g, g)),
    "sub": (lambda a, b: a - b, lambda a, b, g: (g, -g)),
    "mul": (lambda a, b: a * b, lambda a, b, g: (g * b, g * a)),
    "div": (lambda a, b: a / b, lambda a, b, g: (g / b, -g * a / b**2)),
    "where": (
        lambda a, b: where(a.data > 0, a, b),
        lambda a, b, g: (g * (a > 0), g * (a <= 0)),
    ),
}
BROADCASTS = [((3, 1, 5), (4, 5)), ((2, 3), (1,)), ((1, 4), (3, 1)), ((5,), ()), ((), (2, 2))]


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("shape_a,shape_b", BROADCASTS)
def test_broadcasting_binary_ops_unbroadcast_their_gradients(op, shape_a, shape_b):
    fn, grads = BINARY[op]
    rng = np.random.default_rng(1)
    a = Tensor(rng.uniform(0.5, 2.0, shape_a) * rng.choice([-1, 1], shape_a), requires_grad=True)
    b = Tensor(rng.uniform(0.5, 2.0, shape_b), requires_grad=True)
    out = fn(a, b)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    full_a, full_b = grads(a.data, b.data, g)  # gradients at the broadcast shape
    for name, t, full in (("a", a, full_a), ("b", b, full_b)):
        assert t.grad.shape == t.shape, f"{op}: grad of {name} {t.grad.shape} != {t.shape}"
        expected = np.broadcast_to(full, out.shape)  # sum it back to t's shape by hand
        expected = expected.sum(axis=tuple(range(expected.ndim - t.ndim)))
        axes = tuple(i for i, n in enumerate(t.shape) if n == 1 and expected.shape[i] != 1)
        expected = expected.sum(axis=axes, keepdims=True)
        np.testing.assert_allclose(t.grad, expected, rtol=1e-12, err_msg=f"{op} d{name}")


def test_leaves_accumulate_across_two_backward_calls():
    x = leaf(3, 2)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 3.0 + 2 * x.data, rtol=1e-15)


def test_non_leaf_grad_stays_none():
    x = leaf(3)
    h = x.tanh()
    (h * 2.0).sum().backward()
    assert h.grad is None
    assert x.grad is not None
    assert x.is_leaf and not h.is_leaf


def test_second_backward_without_retain_graph_raises():
    x = leaf(4)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_a_second_backward_that_accumulates():
    x = leaf(4)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-15)
    np.testing.assert_allclose(first, np.exp(x.data) * (1 + x.data), rtol=1e-14)


def test_backward_on_a_non_scalar_without_grad_raises_and_says_so():
    y = leaf(2, 3) * 2.0
    with pytest.raises(RuntimeError, match=r"scalar.*\(2, 3\)"):
        y.backward()


def test_backward_with_an_explicit_grad_of_the_wrong_shape_raises():
    y = leaf(2, 3) * 2.0
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        y.backward(np.ones((3, 2)))


@pytest.mark.parametrize("data", [np.arange(3), np.array([True, False]), [1, 2]])
def test_integer_and_boolean_tensors_cannot_require_grad(data):
    with pytest.raises(TypeError, match="floating"):
        Tensor(data, requires_grad=True)


def test_no_grad_context_builds_no_graph():
    x = leaf(3)
    with no_grad():
        y = x * 2.0 + x.exp()
    assert not y.requires_grad and y._parents == ()
    assert is_grad_enabled()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_decorator_builds_no_graph_and_restores_the_mode_even_when_recursing():
    @no_grad()
    def f(t, depth):
        assert not is_grad_enabled()
        return t * 2.0 if depth == 0 else f(t, depth - 1)

    y = f(leaf(3), 3)
    assert not y.requires_grad
    assert is_grad_enabled()


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ValueError), no_grad():
        raise ValueError("inside")
    assert is_grad_enabled()


def test_backward_frees_the_graph_and_its_cached_arrays():
    x = leaf(5)
    h = x.tanh()
    y = h * h  # mul caches h's array
    loss = y.sum()
    cached = weakref.ref(h.data)
    del h
    gc.collect()
    assert cached() is not None, "the cache must hold the array until backward"
    loss.backward()
    gc.collect()
    assert y._parents == () and loss._parents == ()
    assert cached() is None, "backward must drop the cached arrays of the graph"


def test_retain_graph_keeps_parents():
    x = leaf(5)
    y = x.tanh() * 2.0
    y.sum().backward(retain_graph=True)
    assert len(y._parents) == 2


def test_comparisons_return_boolean_tensors_without_grad():
    x = leaf(4)
    for name, r in {"<": x < 0, "<=": x <= 0, ">": x > 0.1, ">=": x >= x, "==": x == 0}.items():
        assert r.dtype == np.bool_, f"{name}: dtype {r.dtype}"
        assert not r.requires_grad, name
    np.testing.assert_array_equal((x > 0).data, x.data > 0)
    np.testing.assert_array_equal((x != x).data, np.zeros(4, dtype=bool))


def test_detach_shares_data_and_cuts_the_graph():
    x = leaf(3)
    d = (x * 2.0).detach()
    assert not d.requires_grad and d.is_leaf
    y = (d * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)  # d counted as a constant


def test_item_and_numpy():
    x = Tensor(np.array([[2.5]]))
    assert x.item() == 2.5 and isinstance(x.item(), float)
    arr = leaf(2, 3).numpy()
    assert isinstance(arr, np.ndarray) and arr.shape == (2, 3)


def test_mean_divides_by_the_reduced_count():
    x = leaf(3, 4, 5)
    np.testing.assert_allclose(x.mean(axis=(0, 2)).data, x.data.mean(axis=(0, 2)), rtol=1e-14)
    x.mean().backward()
    np.testing.assert_allclose(x.grad, np.full((3, 4, 5), 1 / 60), rtol=1e-14)


def test_max_with_three_way_tie_shares_the_gradient_equally():
    """Deviation (primitives_shape.max_backward): ties share dy equally, like torch.amax."""
    x = Tensor(np.array([[2.0, 5.0, 5.0, 5.0, 1.0]]), requires_grad=True)
    x.max(axis=1).backward(np.array([3.0]))
    np.testing.assert_allclose(x.grad, [[0.0, 1.0, 1.0, 1.0, 0.0]], rtol=1e-15)


def test_getitem_repeated_integer_index_accumulates():
    x = leaf(4)
    x[np.array([1, 1, 3, 1])].backward(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_allclose(x.grad, [0.0, 7.0, 0.0, 3.0])


def test_truth_of_a_tensor_is_its_single_value_and_ambiguous_otherwise():
    assert not Tensor(np.array([0.0])) and Tensor(np.array(2.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor(np.ones(3)))
    p, q = Tensor(np.ones(3)), Tensor(np.ones(3))
    assert [t for t in (p, q) if t is q] == [q]  # membership by identity still works
