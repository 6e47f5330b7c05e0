"""The KV cache appends into doubling buffers under no_grad (a step copies only its new rows), and
into the graph when a row carries a gradient; both give the same keys and values."""

import numpy as np

from minillm.nn import KVCache
from minillm.tensor import Tensor, no_grad


def rows(rng, T, requires_grad=False):
    return Tensor(rng.standard_normal((2, 3, T, 4)), requires_grad=requires_grad)  # (B, H, T, D)


def test_cache_buffers_equal_concatenation_and_grow_by_doubling():
    rng = np.random.default_rng(0)
    chunks = [(rows(rng, T), rows(rng, T)) for T in (5, 1, 1, 12, 1, 30)]
    with no_grad():
        cache = KVCache()
        capacities = []
        for k, v in chunks:
            k_all, v_all = cache.extend(k, v)
            capacities.append(cache._buffers[0].shape[-2])
    expected_k = np.concatenate([k.data for k, _ in chunks], axis=-2)
    expected_v = np.concatenate([v.data for _, v in chunks], axis=-2)
    assert np.array_equal(k_all.data, expected_k) and np.array_equal(v_all.data, expected_v)
    assert cache.position == len(cache) == 50
    assert capacities == [16, 16, 16, 38, 38, 100], capacities  # realloc only when full


def test_views_returned_earlier_keep_their_values_after_later_appends():
    rng = np.random.default_rng(1)
    with no_grad():
        cache = KVCache()
        first_k, _ = cache.extend(rows(rng, 3), rows(rng, 3))
        snapshot = first_k.data.copy()
        cache.extend(rows(rng, 2), rows(rng, 2))
    assert np.array_equal(first_k.data, snapshot)


def test_a_prefix_with_gradients_goes_through_the_graph():
    rng = np.random.default_rng(2)
    prefix = (rows(rng, 2, requires_grad=True), rows(rng, 2, requires_grad=True))
    cache = KVCache(prefix)
    k_all, v_all = cache.extend(rows(rng, 3), rows(rng, 3))
    assert cache._buffers is None and k_all.requires_grad
    (k_all.sum() + v_all.sum()).backward()
    assert np.array_equal(prefix[0].grad, np.ones((2, 3, 2, 4)))
