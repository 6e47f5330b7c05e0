"""The per-op checks shared by the simulator, emulator and GPU tests: run a kernel pair's forward
and backward on float32 inputs and hold every output against the NumPy reference in float64."""

import numpy as np
from kernel_check import assert_close, f64, rand

from minillm.ops.attention import attention_backward, attention_forward, combine_masks
from minillm.ops.cross_entropy import cross_entropy_backward, cross_entropy_forward
from minillm.ops.gelu import gelu_backward, gelu_forward
from minillm.ops.layer_norm import layer_norm_backward, layer_norm_forward
from minillm.ops.softmax import softmax_backward, softmax_forward
from minillm.tensor.primitives import matmul_backward, matmul_forward


def check_matmul(pair, rng, a_shape, b_shape):
    """y = a @ b, da = dy b^T, db = a^T dy against the reference (inputs scaled so |y| ~ 1)."""
    a = rand(rng, *a_shape)
    b = rand(rng, *b_shape, scale=1.0 / np.sqrt(a_shape[-1]))
    y, cache = pair(a, b)
    ref_y, ref_cache = matmul_forward(f64(a), f64(b))
    shape = f"{a_shape} @ {b_shape}"
    assert_close(y, ref_y, "matmul", "y", shape)
    dy = rand(rng, *ref_y.shape)
    da, db = pair.backward(dy, cache)
    ref_da, ref_db = matmul_backward(f64(dy), ref_cache)
    assert_close(da, ref_da, "matmul", "da", shape)
    assert_close(db, ref_db, "matmul", "db", shape)


def check_softmax(pair, rng, shape, scale=3.0, neg_inf=False):
    """s = softmax(x) over the last axis and dx = s (dy - sum(dy s)) against the reference;
    neg_inf puts one -inf logit (a masked entry: probability exactly 0) in the first row."""
    x = rand(rng, *shape, scale=scale)
    if neg_inf and shape[-1] > 1:
        x.reshape(-1, shape[-1])[0, 0] = -np.inf
    s, cache = pair(x)
    ref_s, ref_cache = softmax_forward(f64(x))
    assert_close(s, ref_s, "softmax", "s", shape)
    dy = rand(rng, *shape)
    dx = pair.backward(dy, cache)
    assert_close(dx, softmax_backward(f64(dy), ref_cache), "softmax", "dx", shape)


def check_layer_norm(pair, rng, shape, affine=(True, True), offset=0.0):
    """y, mean, rstd and dx, dgamma, dbeta against the reference; `offset` shifts x to test
    the variance's stability (a large common mean cancels in x - mu)."""
    C = shape[-1]
    x = rand(rng, *shape) + np.float32(offset)
    gamma = rand(rng, C) if affine[0] else None
    beta = rand(rng, C) if affine[1] else None
    y, cache = pair(x, gamma, beta, 1e-5)
    g64 = None if gamma is None else f64(gamma)
    b64 = None if beta is None else f64(beta)
    ref_y, ref_cache = layer_norm_forward(f64(x), g64, b64, 1e-5)
    what = f"{shape} affine={affine}"
    assert_close(y, ref_y, "layer_norm", "y", what)
    assert_close(cache[2], ref_cache[2], "layer_norm", "mean", what)
    assert_close(cache[3], ref_cache[3], "layer_norm", "rstd", what)
    dy = rand(rng, *shape)
    grads = pair.backward(dy, cache)
    ref_grads = layer_norm_backward(f64(dy), ref_cache)
    for name, got, ref in zip(("dx", "dgamma", "dbeta"), grads, ref_grads, strict=True):
        if ref is None:
            assert got is None, f"layer_norm {name} for {what}: expected None (no parameter)"
        else:
            assert_close(got, ref, "layer_norm", name, what)


def check_cross_entropy(pair, rng, N, V, reduction, ignored=(), ignore_index=-100):
    """loss and dlogits against the reference; rows in `ignored` get target ignore_index."""
    logits = rand(rng, N, V, scale=2.0)
    targets = rng.integers(0, V, size=N).astype(np.int64)
    targets[list(ignored)] = ignore_index
    loss, cache = pair(logits, targets, ignore_index=ignore_index, reduction=reduction)
    ref_loss, ref_cache = cross_entropy_forward(f64(logits), targets, ignore_index, reduction)
    what = f"({N}, {V}) {reduction} ignored={list(ignored)}"
    assert_close(loss, ref_loss, "cross_entropy", "loss", what)
    dloss = rand(rng, *np.shape(ref_loss))  # () or (N,)
    dlogits = pair.backward(dloss, cache)
    ref_d = cross_entropy_backward(f64(dloss), ref_cache)
    assert_close(dlogits, ref_d, "cross_entropy", "dlogits", what)


def check_gelu(pair, rng, shape, approximate):
    x = rand(rng, *shape, scale=3.0)
    y, cache = pair(x, approximate=approximate)
    what = f"{shape} approximate={approximate!r}"
    assert_close(y, gelu_forward(f64(x), approximate)[0], "gelu", "y", what)
    dy = rand(rng, *shape)
    dx = pair.backward(dy, cache, approximate=approximate)
    ref_cache = gelu_forward(f64(x), approximate)[1]
    assert_close(dx, gelu_backward(f64(dy), ref_cache, approximate), "gelu", "dx", what)


def make_mask(rng, mask_shape, dead_row=None):
    """Random boolean mask (True = may attend); `dead_row` (an index tuple without the key axis)
    gets every key masked."""
    if mask_shape is None:
        return None
    mask = rng.random(mask_shape) > 0.3
    if dead_row is not None:
        mask[dead_row] = False
    return mask


def check_attention(pair, rng, B, H, T, S, D, causal=False, mask_shape=None, dead_row=None):
    q, k, v = rand(rng, B, H, T, D), rand(rng, B, H, S, D), rand(rng, B, H, S, D)
    mask = make_mask(rng, mask_shape, dead_row)
    o, cache = pair(q, k, v, attn_mask=mask, is_causal=causal)
    # the kernels align is_causal top-left (torch's convention); the reference aligns it
    # bottom-right, and its Tensor wrapper hands the kernels an explicit mask when T != S. So the
    # kernels' is_causal is held to the reference given the top-left lower triangle as a mask.
    ref_mask, ref_causal = mask, causal
    if causal and T != S:
        ref_mask, ref_causal = combine_masks(np.tril(np.ones((T, S), dtype=bool)), mask), False
    ref_o, ref_cache = attention_forward(f64(q), f64(k), f64(v), ref_mask, ref_causal)
    what = f"q {(B, H, T, D)} k {(B, H, S, D)} causal={causal} mask={mask_shape}"
    assert_close(o, ref_o, "attention", "o", what)
    do = rand(rng, B, H, T, D)
    grads = pair.backward(do, cache)
    for name, got, ref in zip(("dq", "dk", "dv"), grads, attention_backward(f64(do), ref_cache)):
        assert_close(got, ref, "attention", name, what)
