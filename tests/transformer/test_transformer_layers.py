"""Encoder and decoder layers and their stacks (C13, C14, F4) against PyTorch's
nn.TransformerEncoderLayer / nn.TransformerDecoderLayer / nn.TransformerEncoder / Decoder, in
both norm placements, forward and parameter gradients."""

import numpy as np
import pytest

from minillm.nn import (
    KVCache,
    LayerNorm,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    record_attention,
)
from minillm.tensor import Tensor

TAGS = ["post_relu", "post_gelu", "pre_relu", "pre_gelu"]


def build(cls, cfg):
    return cls(
        cfg["d_model"],
        cfg["n_heads"],
        cfg["d_ff"],
        dropout=0.0,
        activation=cfg["activation"],
        norm_first=cfg["norm_first"],
    )


def tol_for(cfg):
    """Exact GELU carries ops.gelu's erf approximation (see conftest.TOLERANCES)."""
    return "float64_erf" if cfg["activation"] == "gelu" else None


def key_mask(fx):
    """torch's key_padding_mask (B, S), True = padding, as our (B, 1, 1, S) True = may attend."""
    return ~fx["torch_key_padding_mask"][:, None, None, :]


def check_grads(fx, module, assert_close, what, tol):
    params = dict(module.named_parameters())
    grads = fx.group("grad")
    assert sorted(grads) == sorted(params), f"{what}: parameter names differ"
    for name, g in grads.items():
        assert_close(params[name].grad, g, f"{what} grad {name}", tol)


@pytest.mark.parametrize("tag", TAGS)
def test_C14_encoder_layer_matches_torch(tag, torch_fixture, assert_close):
    fx = torch_fixture(f"enc_{tag}")
    layer = fx.load_into(build(TransformerEncoderLayer, fx.config()))
    tol = tol_for(fx.config())
    x = Tensor(fx["x"].copy(), requires_grad=True)
    y = layer(x, key_mask(fx))
    assert_close(y, fx["out"], f"encoder layer {tag} output", tol)
    (y * Tensor(fx["G"])).sum().backward()
    assert_close(x.grad, fx["dx"], f"encoder layer {tag} dx", tol)
    check_grads(fx, layer, assert_close, f"encoder layer {tag}", tol)


@pytest.mark.parametrize("tag", TAGS)
def test_C13_decoder_layer_matches_torch(tag, torch_fixture, assert_close):
    fx = torch_fixture(f"dec_{tag}")
    layer = fx.load_into(build(TransformerDecoderLayer, fx.config()))
    tol = tol_for(fx.config())
    x = Tensor(fx["x"].copy(), requires_grad=True)
    mem = Tensor(fx["memory"].copy(), requires_grad=True)
    y = layer(x, mem, memory_mask=key_mask(fx), tgt_is_causal=True)
    assert_close(y, fx["out"], f"decoder layer {tag} output", tol)
    (y * Tensor(fx["G"])).sum().backward()
    assert_close(x.grad, fx["dx"], f"decoder layer {tag} dx", tol)
    assert_close(mem.grad, fx["dmemory"], f"decoder layer {tag} dmemory", tol)
    check_grads(fx, layer, assert_close, f"decoder layer {tag}", tol)


@pytest.mark.parametrize("tag", ["post", "pre"])
def test_F4_stacks_match_torch_transformer(tag, torch_fixture, assert_close):
    """2-layer encoder and decoder stacks (pre-LN with its final LayerNorm), end to end."""
    fx_enc, fx_dec = torch_fixture(f"stack_{tag}/enc"), torch_fixture(f"stack_{tag}/dec")
    cfg = fx_dec.config()
    norm_first, n, tol = cfg["norm_first"], cfg["num_layers"], tol_for(cfg)
    enc = TransformerEncoder(
        lambda: build(TransformerEncoderLayer, cfg), n, LayerNorm(12) if norm_first else None
    )
    dec = TransformerDecoder(
        lambda: build(TransformerDecoderLayer, cfg), n, LayerNorm(12) if norm_first else None
    )
    fx_enc.load_into(enc)
    fx_dec.load_into(dec)
    src = Tensor(fx_enc["src"].copy(), requires_grad=True)
    tgt = Tensor(fx_dec["tgt"].copy(), requires_grad=True)
    mem = enc(src, key_mask(fx_dec))
    assert_close(mem, torch_fixture(f"stack_{tag}")["memory"], f"encoder stack {tag} memory", tol)
    y = dec(tgt, mem, memory_mask=key_mask(fx_dec), tgt_is_causal=True)
    assert_close(y, fx_dec["out"], f"decoder stack {tag} output", tol)
    (y * Tensor(fx_dec["G"])).sum().backward()
    assert_close(tgt.grad, fx_dec["dtgt"], f"decoder stack {tag} dtgt", tol)
    assert_close(src.grad, fx_enc["dsrc"], f"encoder stack {tag} dsrc", tol)
    check_grads(fx_dec, dec, assert_close, f"decoder stack {tag}", tol)
    check_grads(fx_enc, enc, assert_close, f"encoder stack {tag}", tol)


def small_decoder(norm_first=False, seed=0):
    layer = TransformerDecoderLayer(
        8, 2, 12, norm_first=norm_first, activation="gelu", rng=np.random.default_rng(seed)
    )
    for p in layer.parameters():
        p.data = p.data.astype(np.float64)
    return layer


@pytest.mark.parametrize("norm_first", [False, True])
def test_C13_decoder_output_at_t_ignores_later_targets(norm_first):
    rng = np.random.default_rng(1)
    layer = small_decoder(norm_first)
    x, mem = rng.standard_normal((2, 6, 8)), rng.standard_normal((2, 4, 8))
    y1 = layer(Tensor(x), Tensor(mem), tgt_is_causal=True).data
    x2 = x.copy()
    x2[:, 3:] = rng.standard_normal((2, 3, 8))
    y2 = layer(Tensor(x2), Tensor(mem), tgt_is_causal=True).data
    np.testing.assert_array_equal(y1[:, :3], y2[:, :3], err_msg="decoder position < 3 changed")
    assert np.abs(y1[:, 3:] - y2[:, 3:]).max() > 1e-3


@pytest.mark.parametrize("norm_first", [False, True])
def test_C13_decoder_kv_cache_equals_full_pass(norm_first, assert_close):
    rng = np.random.default_rng(2)
    layer = small_decoder(norm_first)
    x, mem = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 3, 8))
    full = layer(Tensor(x), Tensor(mem), tgt_is_causal=True).data
    cache = KVCache()
    steps = [layer(Tensor(x[:, t : t + 1]), Tensor(mem), None, None, True, cache) for t in range(5)]
    assert_close(np.concatenate([s.data for s in steps], axis=1), full, "decoder with KV cache")


def test_C24_decoder_layer_records_self_and_cross_weights(assert_close):
    rng = np.random.default_rng(3)
    layer = small_decoder()
    x, mem = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 3, 8))
    with record_attention(layer) as maps:
        y = layer(Tensor(x), Tensor(mem), tgt_is_causal=True)
    w_self, w_cross = maps["self_attn"][0], maps["cross_attn"][0]
    assert w_self.shape == (2, 2, 5, 5) and w_cross.shape == (2, 2, 5, 3)
    assert np.all(np.triu(w_self, 1) == 0), "masked self-attention weights above the diagonal"
    assert_close(y, layer(Tensor(x), Tensor(mem), tgt_is_causal=True), "recorded output")


@pytest.mark.parametrize("shape", [(2, 5, 7), (5, 8), (1, 2, 5, 8)])
def test_C14_layers_reject_wrong_input_shape(shape):
    enc = TransformerEncoderLayer(8, 2, 12, norm_first=True)
    dec = TransformerDecoderLayer(8, 2, 12, norm_first=True)
    bad, good = Tensor(np.zeros(shape, np.float32)), Tensor(np.zeros((2, 3, 8), np.float32))
    for call in (lambda: enc(bad), lambda: dec(bad, good), lambda: dec(good, bad)):
        with pytest.raises(ValueError) as e:
            call()
        assert "d_model=8" in str(e.value) and str(shape) in str(e.value), str(e.value)


def test_F4_stack_from_one_layer_copies_it_and_checks_arguments():
    layer = TransformerEncoderLayer(6, 2, 10, rng=np.random.default_rng(4))
    stack = TransformerEncoder(layer, 3)
    names = [n for n, _ in stack.named_parameters()]
    assert len(names) == 3 * len(layer.parameters()) and names[0] == "layers.0.self_attn.W_q.W"
    w0, w1 = stack.layers[0].self_attn.W_q.W, stack.layers[1].self_attn.W_q.W
    assert w0 is not w1 and np.array_equal(w0.data, w1.data), "copies: same values, own arrays"
    with pytest.raises(ValueError, match="num_layers must be >= 1, got 0"):
        TransformerEncoder(layer, 0)
    with pytest.raises(TypeError, match="got int"):
        TransformerDecoder(3, 2)
    dec = TransformerDecoder(lambda: TransformerDecoderLayer(6, 2, 10), 2)
    x = Tensor(np.zeros((1, 2, 6), np.float32))
    with pytest.raises(ValueError, match="got 1 caches for 2 layers"):
        dec(x, x, caches=[KVCache()])
