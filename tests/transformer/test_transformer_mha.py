"""Multi-head attention (F19, F14, C24): heads as sliced single-head attentions, PyTorch's
nn.MultiheadAttention with mapped weights, cross-attention, weights, and the KV cache."""

import numpy as np
import pytest

import minillm.functional as F
from minillm.nn import KVCache, MultiHeadAttention, record_attention
from minillm.tensor import Tensor, gradcheck


def mha64(d_model, n_heads, seed=0, bias=True):
    """A MultiHeadAttention with float64 weights (for tight comparisons and gradcheck)."""
    m = MultiHeadAttention(d_model, n_heads, bias=bias, rng=np.random.default_rng(seed))
    for p in m.parameters():
        p.data = p.data.astype(np.float64)
    return m


def test_F19_mha_equals_concat_of_single_heads(assert_close):
    """MultiHead(X) = Concat(head_1..head_h) W_o, head_i = Attention(X W_q^(i), X W_k^(i),
    X W_v^(i)), W^(i) = columns i*d_k .. (i+1)*d_k of the (C, C) projections."""
    rng = np.random.default_rng(0)
    B, T, S, C, H = 2, 5, 7, 12, 3
    m = mha64(C, H)
    x_q, x_kv = rng.standard_normal((B, T, C)), rng.standard_normal((B, S, C))
    D = C // H
    heads = []
    for h in range(H):
        cols = slice(h * D, (h + 1) * D)

        def proj(lin, x, cols=cols):
            return Tensor((x @ lin.W.data[:, cols] + lin.b.data[cols])[:, None])  # (B, 1, T, D)

        head = F.scaled_dot_product_attention(
            proj(m.W_q, x_q), proj(m.W_k, x_kv), proj(m.W_v, x_kv)
        )
        heads.append(head.data[:, 0])  # (B, T, D)
    ref = np.concatenate(heads, axis=-1) @ m.W_o.W.data + m.W_o.b.data  # (B, T, C)
    assert_close(m(Tensor(x_q), Tensor(x_kv)), ref, "F19 multi-head vs concat of heads")


def test_F19_single_head_is_plain_attention(assert_close):
    rng = np.random.default_rng(1)
    m = mha64(5, 1)
    x = rng.standard_normal((1, 4, 5))
    q, k, v = ((x @ lin.W.data + lin.b.data)[:, None] for lin in (m.W_q, m.W_k, m.W_v))
    o = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v)).data[:, 0]
    assert_close(m(Tensor(x)), o @ m.W_o.W.data + m.W_o.b.data, "F19 with one head")


@pytest.mark.parametrize("d_model,n_heads", [(10, 3), (12, 5), (7, 2)])
def test_F14_head_size_must_divide_d_model(d_model, n_heads):
    with pytest.raises(ValueError, match=rf"d_model={d_model}.*n_heads={n_heads}.*d_k"):
        MultiHeadAttention(d_model, n_heads)


@pytest.mark.parametrize("d_model,n_heads", [(12, 3), (12, 12), (7, 1), (6, 2)])
def test_F14_d_k_is_d_over_m(d_model, n_heads):
    m = MultiHeadAttention(d_model, n_heads)
    assert m.d_k == d_model // n_heads and m.d_k * n_heads == d_model


@pytest.mark.parametrize("shape", [(2, 5, 10), (5, 12), (1, 2, 5, 12)])
def test_mha_wrong_input_shape_raises(shape):
    m = MultiHeadAttention(12, 3)
    with pytest.raises(ValueError) as e:
        m(Tensor(np.zeros(shape, dtype=np.float32)))
    assert "d_model=12" in str(e.value) and str(shape) in str(e.value), str(e.value)


def test_mha_batch_mismatch_and_bad_mask_raise():
    m = MultiHeadAttention(6, 2)
    x, kv = Tensor(np.zeros((2, 3, 6))), Tensor(np.zeros((3, 4, 6)))
    with pytest.raises(ValueError, match=r"\(2, 3, 6\).*\(3, 4, 6\)"):
        m(x, kv)
    with pytest.raises(ValueError, match=r"mask shape \(3, 3\).*\(2, 2, 3, 4\)"):
        m(x, Tensor(np.zeros((2, 4, 6))), attn_mask=np.ones((3, 3), bool))


def torch_masks_to_ours(fx):
    """torch.nn.MultiheadAttention's boolean masks mean True = BLOCKED; ours (and torch's
    F.scaled_dot_product_attention) mean True = may attend. key_padding_mask (B, S) becomes a
    (B, 1, 1, S) key mask; attn_mask (T, S) is inverted and combined with it."""
    allowed = None
    if "torch_key_padding_mask" in fx:
        allowed = ~fx["torch_key_padding_mask"][:, None, None, :]  # (B, 1, 1, S)
    if "torch_attn_mask" in fx:
        am = ~fx["torch_attn_mask"]  # (T, S)
        allowed = am if allowed is None else (allowed & am)
    return allowed


@pytest.mark.parametrize("case", ["self", "cross_masked", "self_nobias_causal"])
def test_F19_mha_matches_torch_multihead_attention(case, torch_fixture, assert_close):
    fx = torch_fixture(f"mha_{case}")
    cfg = fx.config()
    m = fx.load_into(MultiHeadAttention(cfg["d_model"], cfg["n_heads"], bias=cfg["bias"]))
    x_q = Tensor(fx["x_q"].copy(), requires_grad=True)
    x_kv = Tensor(fx["x_kv"].copy(), requires_grad=True) if case == "cross_masked" else None
    with record_attention(m) as maps:
        y = m(x_q, x_kv, torch_masks_to_ours(fx))
    w = maps[""][0]  # the module itself is the recorded layer: path ""
    assert_close(y, fx["out"], f"mha_{case} output")
    assert_close(w, fx["weights"], f"mha_{case} attention weights")
    (y * Tensor(fx["G"])).sum().backward()
    for name, g in fx.group("grad").items():
        assert_close(dict(m.named_parameters())[name].grad, g, f"mha_{case} grad {name}")
    assert_close(x_q.grad, fx["dx_q"], f"mha_{case} dx_q")
    if x_kv is not None:
        assert_close(x_kv.grad, fx["dx_kv"], f"mha_{case} dx_kv")


def test_C24_attention_weights_are_recorded_per_head_and_call(assert_close):
    rng = np.random.default_rng(2)
    m = mha64(8, 2)
    x, mem = rng.standard_normal((3, 4, 8)), rng.standard_normal((3, 6, 8))
    with record_attention(m) as maps:
        y = m(Tensor(x), Tensor(mem))
        m(Tensor(x[:1]), Tensor(mem[:1]))
    (w, w_second) = maps[""]
    assert y.shape == (3, 4, 8) and w.shape == (3, 2, 4, 6), (y.shape, w.shape)
    assert w_second.shape == (1, 2, 4, 6), "one recorded array per call"
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-12, err_msg="C24 weights rows sum to 1")
    assert_close(y, m(Tensor(x), Tensor(mem)), "recording changes the output")
    assert m.recorder is None, "record_attention left the recorder on"


def test_C13_cross_attention_reads_keys_from_memory_only():
    """Cross-attention (S != T): changing the memory changes the output; the queries' own
    sequence never enters the keys."""
    rng = np.random.default_rng(3)
    m = mha64(6, 3)
    x, mem = rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 5, 6))
    y = m(Tensor(x), Tensor(mem)).data
    y_same_mem = m(Tensor(x + 0.0), Tensor(mem.copy())).data
    np.testing.assert_array_equal(y, y_same_mem)
    assert y.shape == (2, 3, 6)
    # with one memory position only, every query reads the same value: softmax over 1 key = 1
    one = m(Tensor(x), Tensor(mem[:, :1])).data
    const = (mem[:, :1] @ m.W_v.W.data + m.W_v.b.data) @ m.W_o.W.data + m.W_o.b.data
    np.testing.assert_allclose(one, np.broadcast_to(const, one.shape), rtol=1e-12)


@pytest.mark.parametrize("chunks", [(1, 1, 1, 1, 1), (3, 1, 1), (2, 3)])
def test_kv_cache_self_attention_equals_full_causal(chunks, assert_close):
    rng = np.random.default_rng(4)
    m = mha64(12, 4)
    T = sum(chunks)
    x = rng.standard_normal((2, T, 12))
    full = m(Tensor(x), is_causal=True).data
    cache, outs, t = KVCache(), [], 0
    for n in chunks:
        outs.append(m(Tensor(x[:, t : t + n]), is_causal=True, cache=cache).data)
        t += n
    assert len(cache) == T
    assert_close(np.concatenate(outs, axis=1), full, f"KV-cache attention, chunks {chunks}")


def test_kv_cache_with_float_mask_matches_full(assert_close):
    """A float mask (e.g. an ALiBi-like bias) combined with the bottom-right causal mask."""
    rng = np.random.default_rng(5)
    m = mha64(6, 2)
    x = rng.standard_normal((1, 4, 6))
    bias = rng.standard_normal((4, 4))
    full = m(Tensor(x), attn_mask=bias, is_causal=True).data
    cache = KVCache()
    first = m(Tensor(x[:, :2]), attn_mask=bias[:2, :2], is_causal=True, cache=cache).data
    rest = m(Tensor(x[:, 2:]), attn_mask=bias[2:, :4], is_causal=True, cache=cache).data
    assert_close(np.concatenate([first, rest], axis=1), full, "KV cache with a float mask")


def test_F19_mha_gradcheck():
    rng = np.random.default_rng(6)
    m = mha64(6, 2, seed=7)
    x = Tensor(rng.standard_normal((2, 3, 6)), requires_grad=True)
    mem = Tensor(rng.standard_normal((2, 4, 6)), requires_grad=True)
    assert gradcheck(lambda a, b, *weights: m(a, b), x, mem, m.W_q.W, m.W_k.b, m.W_o.W)
