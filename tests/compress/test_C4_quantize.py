"""C4 quantisation: the array formulas (minillm/ops/quantize.py), QuantLinear against the float
layer within the error its scales predict, quantize_model's surgery, and checkpoints."""

import numpy as np
import pytest
from compress_tiny import TOKENIZER, batch, copy_of, corpus, tiny_gpt
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minillm.compress import QuantLinear, eval_loss, quantize_model, weight_bytes
from minillm.models import load_checkpoint, save_checkpoint
from minillm.nn import Linear
from minillm.ops import quantize as Q
from minillm.tensor import Tensor, gradcheck, no_grad

finite = st.floats(-1e3, 1e3, allow_nan=False, width=64)
matrices = arrays(np.float64, st.tuples(st.integers(1, 7), st.integers(1, 9)), elements=finite)


@given(
    w=matrices,
    bits=st.sampled_from([4, 8]),
    symmetric=st.booleans(),
    axis=st.sampled_from([None, 0, -1]),
)
def test_C4_quantize_roundtrip_error_is_at_most_half_a_step(w, bits, symmetric, axis):
    scale, zero = Q.quant_params(w, bits, symmetric, axis)
    q = Q.quantize(w, scale, zero, bits, symmetric, axis)
    q_min, q_max = Q.qrange(bits, symmetric)
    assert q.dtype == np.int8 and q.min() >= q_min and q.max() <= q_max
    w_hat = Q.dequantize(q, scale, zero, axis, np.float64)
    step = Q._expand(scale, w.ndim, axis)  # the scale of each element's channel
    # exact arithmetic gives <= s/2; w / s and (q - z) * s each round once in float64
    slack = 4 * np.finfo(np.float64).eps * (np.abs(w) + step)
    err = np.abs(w_hat - w)
    bad = err > step / 2 + slack
    assert not bad.any(), f"index {np.argwhere(bad)[0]}: error {err[bad][0]} > step/2"


@given(w=matrices, bits=st.sampled_from([4, 8]))
def test_C4_zero_is_exact_and_symmetric_grids_are_odd(w, bits):
    for symmetric in (True, False):
        scale, zero = Q.quant_params(w, bits, symmetric, -1)
        assert np.array_equal(Q.fake_quantize(np.zeros_like(w), bits, symmetric, -1), 0 * w)
        q0 = Q.quantize(np.zeros_like(w), scale, zero, bits, symmetric, -1)
        assert np.array_equal(Q.dequantize(q0, scale, zero, -1), np.zeros(w.shape, np.float32))
    scale, zero = Q.quant_params(w, bits, True, None)
    assert np.array_equal(Q.quantize(-w, scale, zero, bits), -Q.quantize(w, scale, zero, bits))


def test_C4_per_channel_scales_follow_each_output_column():
    w = np.array([[1.0, -0.1, 0.0], [-2.0, 0.05, 0.0]])  # (in 2, out 3), one all-zero column
    scale, zero = Q.quant_params(w, 8, True, -1)
    np.testing.assert_allclose(scale, [2.0 / 127, 0.1 / 127, 1.0])  # empty column: scale 1
    assert np.array_equal(zero, [0, 0, 0])
    scale, zero = Q.quant_params(w, 8, False, None)  # one asymmetric pair for [-2, 1]
    np.testing.assert_allclose(scale, [3.0 / 255])
    assert zero[0] == -128 + round(2.0 / (3.0 / 255))


@given(q=arrays(np.int8, st.integers(0, 21), elements=st.integers(-8, 7)))
def test_C4_int4_packs_two_per_byte_and_unpacks_exactly(q):
    packed = Q.pack_int4(q)
    assert packed.dtype == np.uint8 and packed.size == (q.size + 1) // 2
    assert np.array_equal(Q.unpack_int4(packed, q.shape), q)


def test_C4_int4_packing_rejects_values_outside_minus_8_to_7():
    with pytest.raises(ValueError, match=r"\[-8, 7\]"):
        Q.pack_int4(np.array([8], np.int8))


@pytest.mark.parametrize("K", [1, 37, 1024, 1025, 3000])
def test_C4_int_matmul_through_float_blas_equals_int32_accumulation_bitwise(K):
    rng = np.random.default_rng(K)
    a = rng.integers(-128, 128, (5, K)).astype(np.int8)  # extremes included
    b = rng.integers(-128, 128, (K, 3)).astype(np.int8)
    a[0], b[:, 0] = -128, -128  # the largest products: 2^14 each
    ref = Q.int_matmul_reference(a, b)
    out = Q.int_matmul(a, b)
    assert out.dtype == np.int32 and np.array_equal(out, ref)


@pytest.mark.parametrize("bits", [0, 2, 16, 8.5, True])
def test_C4_bits_other_than_4_or_8_are_a_clear_error(bits):
    with pytest.raises(ValueError, match="bits must be 4 or 8"):
        Q.quant_params(np.ones((2, 2)), bits)
    with pytest.raises(ValueError, match="bits must be 4 or 8"):
        quantize_model(tiny_gpt(), bits=bits)


def _layer(seed=0, bias=True, n_in=19, n_out=13):
    lin = Linear(n_in, n_out, bias, np.random.default_rng(seed))
    lin.W.data[:, 3] *= 20  # an outlier channel
    return lin


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("symmetric", [True, False])
def test_C4_quantlinear_matches_the_float_layer_within_the_predicted_error(
    bits, per_channel, symmetric
):
    lin = _layer()
    x = np.random.default_rng(1).normal(size=(2, 5, 19)).astype(np.float32)  # (B, T, in)
    y = (Tensor(x) @ lin.W + lin.b).numpy()
    for mode in ("weight_only", "dynamic"):
        ql = QuantLinear.from_linear(lin, bits, per_channel, symmetric, mode)
        y_hat = ql(Tensor(x)).numpy()
        W_hat = ql.dequantized_weight()  # (in, out)
        s_w = np.broadcast_to(ql.scale, (13,))  # (out,)
        # |x (W_hat - W)| <= sum_k |x_k| s_w / 2; dynamic adds |e_x W_hat| <= s_x / 2 sum |W_hat|
        bound = np.abs(x) @ np.ones((19, 13)) * s_w / 2
        if mode == "dynamic":
            s_x = np.abs(x).max(axis=-1, keepdims=True) / 127  # (B, T, 1)
            bound = bound + s_x / 2 * np.abs(W_hat).sum(axis=0)
        slack = 1e-5 * (1 + np.abs(y))  # float32 sums in another order
        assert np.all(np.abs(y_hat - y) <= bound + slack), (mode, np.abs(y_hat - y).max())
        assert np.abs(y_hat - y).max() > 0  # it is quantised, not a float copy


def test_C4_quantlinear_stores_int8_buffers_and_no_float_weight():
    ql = QuantLinear.from_linear(_layer(), 8)
    sd = ql.state_dict()
    assert sd["W_q"].dtype == np.int8 and sd["W_q"].shape == (19, 13)
    assert sd["scale"].shape == (13,) and sd["zero_point"].dtype == np.int8
    assert ql.parameters() == []  # buffers only: nothing to train
    q4 = QuantLinear.from_linear(_layer(), 4)
    assert q4.state_dict()["W_packed"].shape == ((19 * 13 + 1) // 2,)


def test_C4_quantlinear_backward_is_the_straight_through_estimate():
    lin = _layer(bias=False).double()
    for mode in ("weight_only", "dynamic"):
        ql = QuantLinear.from_linear(lin, 8, mode=mode)
        x = Tensor(np.random.default_rng(2).normal(size=(4, 19)), requires_grad=True)
        ql(x).sum().backward()
        expected = np.ones((4, 13)) @ ql.dequantized_weight().astype(np.float64).T  # (4, 19)
        np.testing.assert_allclose(x.grad, expected, rtol=1e-6)
    wo = QuantLinear.from_linear(lin, 8, mode="weight_only")
    x = Tensor(np.random.default_rng(3).normal(size=(2, 19)), requires_grad=True)
    assert gradcheck(lambda t: wo(t), x)  # weight-only: exact, W_hat is a constant


def test_C4_quantize_model_swaps_layers_in_place_keeps_order_and_skips_patterns():
    model = tiny_gpt(bias=True)
    names = list(model.state_dict())
    paths = quantize_model(model, skip=["blocks.0.*", "*.W_o"])
    assert paths == ["blocks.1.self_attn.W_q", "blocks.1.self_attn.W_k",
                     "blocks.1.self_attn.W_v", "blocks.1.ff.W_1", "blocks.1.ff.W_2"]  # fmt: skip
    assert isinstance(model.get_submodule("blocks.1.ff.W_1"), QuantLinear)
    assert type(model.get_submodule("blocks.0.ff.W_1")) is Linear
    assert type(model.get_submodule("blocks.1.self_attn.W_o")) is Linear
    assert type(model.lm_head).__name__ == "TiedLinear"  # reads the float embedding
    new = list(model.state_dict())
    assert new.index("blocks.1.ff.W_1.W_q") > new.index("blocks.0.ff.W_2.W")  # slots kept
    assert [n for n in new if n in names][0] == names[0]


def test_C4_int8_model_keeps_the_loss_at_a_quarter_of_the_linear_weight_bytes():
    model = tiny_gpt()
    x, y = batch()
    linears = {p: m.W.data.nbytes for p, m in model.named_modules() if type(m) is Linear}
    total = weight_bytes(model)["total"]
    with no_grad():
        ref = model(x, y)[1].item()
    quantize_model(model, bits=8)
    with no_grad():
        loss = model(x, y)[1].item()
    assert abs(loss - ref) < 0.01 * ref
    for path, nbytes in linears.items():
        q = model.get_submodule(path)
        assert q.W_q.nbytes * 4 == nbytes  # int8: exactly a quarter
        assert q.scale.nbytes + q.zero_point.nbytes == 5 * q.out_features  # per-channel extra
    saved = sum(linears.values()) * 3 // 4 - sum(5 * model.get_submodule(p).out_features
                                                 for p in linears)  # fmt: skip
    assert weight_bytes(model)["total"] == total - saved


@pytest.mark.parametrize("bits,mode", [(8, "dynamic"), (4, "weight_only")])
def test_C4_quantized_model_saves_and_rebuilds_through_load_checkpoint(tmp_path, bits, mode):
    model = tiny_gpt()
    quantize_model(model, bits=bits, mode=mode, symmetric=False)
    save_checkpoint(tmp_path, model, TOKENIZER, {})
    loaded, _, manifest = load_checkpoint(tmp_path)
    assert manifest["surgery"][0]["name"] == "quantize"
    x, y = batch()
    with no_grad():
        assert np.array_equal(loaded(x)[0].numpy(), model.eval()(x)[0].numpy())
    q = loaded.get_submodule("blocks.0.ff.W_2")
    key = "W_q" if bits == 8 else "W_packed"
    assert getattr(q, key).dtype == (np.int8 if bits == 8 else np.uint8)


def test_C4_eval_loss_of_a_copy_equals_the_original():
    model = tiny_gpt()
    ids = corpus().val
    assert eval_loss(copy_of(model), ids) == eval_loss(model, ids)
