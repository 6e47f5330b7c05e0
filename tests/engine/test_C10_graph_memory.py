"""C10, computation-graph optimisation to cut compute and memory, as the engine does it: fused
composite nodes (one attention node instead of a dozen primitive ones), no graph under no_grad,
and the graph's saved arrays released as soon as backward has used them."""

import gc
import weakref

import numpy as np

import minillm.functional as F
from minillm.tensor import Tensor, no_grad
from minillm.tensor.graph import topological_order


def _qkv():
    rng = np.random.default_rng(10)
    return [Tensor(rng.standard_normal((2, 3, 4, 5)), requires_grad=True) for _ in range(3)]


def test_C10_fused_attention_is_one_node_where_primitives_take_many():
    q, k, v = _qkv()
    fused = F.scaled_dot_product_attention(q, k, v)
    scores = (q @ k.transpose(-2, -1)) * (1 / np.sqrt(5))
    e = (scores - scores.max(axis=-1, keepdims=True).detach()).exp()
    unfused = (e / e.sum(axis=-1, keepdims=True)) @ v
    np.testing.assert_allclose(fused.data, unfused.data, rtol=1e-12)
    n_fused = len(topological_order(fused)) - 3  # minus the three leaves
    n_unfused = len(topological_order(unfused)) - 3
    assert n_fused == 1 and n_unfused >= 7, (n_fused, n_unfused)


def test_C10_no_grad_records_no_graph():
    q, k, v = _qkv()
    with no_grad():
        out = F.scaled_dot_product_attention(q, k, v)
    assert not out.requires_grad and out._parents == () and out._backward is None


def test_C10_saved_arrays_are_released_after_backward():
    q, k, v = _qkv()
    out = F.scaled_dot_product_attention(q, k, v)
    saved = weakref.ref(out._backward)  # the closure that holds P and the inputs' arrays
    out.sum().backward()
    gc.collect()
    assert saved() is None, "the attention node's saved arrays outlived backward"
    assert q.grad is not None and q.grad.shape == q.shape
