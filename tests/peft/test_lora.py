"""LoRA (C16): the forward against its equation, B = 0 as the identity, merge/unmerge to float
rounding, a base checkpoint into a LoRA model, a merged model as a plain one, what trains, and
the bad input (a target that matches nothing, a rank larger than the layer)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from peft_tiny import tiny_bert, tiny_gpt

from minillm.finetune import LoRALinear, add_lora, get_method, merge_lora, train_steps
from minillm.finetune.lora import find_linears
from minillm.models import (
    GPT,
    BertForSequenceClassification,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from minillm.nn import Linear
from minillm.tensor import Tensor, gradcheck


def lora_layer(n_in=5, n_out=7, r=3, alpha=6.0, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    base = Linear(n_in, n_out, rng=rng, dtype=dtype)
    layer = LoRALinear.from_linear(base, r, alpha, rng=seed + 1)
    layer.B.data[...] = rng.normal(0, 0.5, layer.B.shape)  # a trained update, not the zero start
    return base, layer


def test_C16_lora_forward_matches_equation(assert_close):
    _, layer = lora_layer()
    x = np.random.default_rng(2).normal(size=(2, 4, 5))  # (B, T, in)
    W, b, A, B = (p.data for p in (layer.W, layer.b, layer.A, layer.B))
    expected = x @ W + b + (6.0 / 3) * (x @ A) @ B  # y = x W + b + (alpha / r) x A B
    assert_close(layer(Tensor(x)).data, expected, "LoRA forward (2, 4, 5) -> (2, 4, 7)")


@given(
    n_in=st.integers(1, 9),
    n_out=st.integers(1, 9),
    r=st.integers(1, 9),
    lead=st.lists(st.integers(1, 3), max_size=2),
    seed=st.integers(0, 2**16),
)
def test_C16_lora_with_B_zero_is_the_base_layer(n_in, n_out, r, lead, seed):
    r = min(r, n_in, n_out)
    rng = np.random.default_rng(seed)
    base = Linear(n_in, n_out, rng=rng, dtype=np.float64)
    layer = LoRALinear.from_linear(base, r, alpha=2.0 * r, rng=seed)
    assert not layer.B.data.any() and layer.A.data.any()
    x = Tensor(rng.normal(size=(*lead, n_in)))
    np.testing.assert_array_equal(layer(x).data, base(x).data)  # x A 0 adds exact zeros


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_C16_lora_merge_then_unmerge_restores_W(dtype, assert_close):
    _, layer = lora_layer(dtype=dtype)
    W0, delta = layer.W.data.copy(), layer.delta()
    x = Tensor(np.random.default_rng(3).normal(size=(6, 5)).astype(dtype))
    before = layer(x).data
    layer.merge()
    assert layer.merged
    assert_close(layer.W.data, W0 + delta, "merged W = W + (alpha/r) A B")
    assert_close(layer(x).data, before, "merged forward vs unmerged forward")
    layer.merge()  # twice is once
    layer.unmerge()
    ulp = np.finfo(dtype).eps * (np.abs(W0) + np.abs(delta)).max()
    assert np.abs(layer.W.data - W0).max() <= 2 * ulp, "unmerge: W back to float rounding"
    assert_close(layer(x).data, before, "unmerged forward")


def test_C16_lora_layer_gradcheck():
    _, layer = lora_layer()
    x = np.random.default_rng(4).normal(size=(3, 5))
    for p in (layer.W, layer.b):
        p.requires_grad_(False)
    gradcheck(lambda x, A, B: layer(x), Tensor(x, requires_grad=True), layer.A, layer.B)


def test_C16_lora_defaults_to_query_and_value_and_counts_2_r_in_plus_out(char_tok):
    model = add_lora(tiny_gpt(char_tok), r=2, alpha=4.0)
    paths = [p for p, m in model.named_modules() if isinstance(m, LoRALinear)]
    assert paths == [f"blocks.{i}.self_attn.W_{n}" for i in (0, 1) for n in ("q", "v")]
    names = [n for n, _ in model.named_parameters()]
    assert names.index("blocks.0.self_attn.W_q.W") < names.index("blocks.0.self_attn.W_k.W")
    model = get_method("lora").apply(tiny_gpt(char_tok), lora_r=2)
    assert model.parameter_counts()["trainable"] == 4 * 2 * (12 + 12)
    assert [rec["name"] for rec in model.surgery] == ["lora"]


def test_C16_lora_trains_only_A_and_B_and_leaves_the_base_weights(char_tok):
    model = get_method("lora").apply(tiny_gpt(char_tok), lora_r=2)
    frozen = {n: p.data.copy() for n, p in model.named_parameters() if not p.requires_grad}
    x = np.random.default_rng(5).integers(0, char_tok.vocab_size, (2, 9))
    batches = iter([((x,), x)] * 3)
    train_steps(model, batches, 3, lr=1e-2)
    for n, p in model.named_parameters():
        if n in frozen:
            np.testing.assert_array_equal(p.data, frozen[n], err_msg=n)
    assert all(m.B.data.any() for _, m in model.named_modules() if isinstance(m, LoRALinear))


def test_C16_a_base_checkpoint_loads_into_a_lora_model_with_only_A_and_B_missing(
    char_tok, tmp_path
):
    save_checkpoint(tmp_path, tiny_gpt(char_tok, seed=3), char_tok, {})
    model = add_lora(tiny_gpt(char_tok, seed=4), ["W_q", "W_v"], r=2)
    object.__setattr__(model, "surgery", [])  # a model built by hand, not from a checkpoint
    missing, unexpected = load_weights(model, tmp_path, strict=False)
    assert unexpected == [] and all(k.endswith((".A", ".B")) for k in missing) and len(missing) == 8
    base_W_q = tiny_gpt(char_tok, seed=3).blocks[0].self_attn.W_q.W.data
    np.testing.assert_array_equal(model.blocks[0].self_attn.W_q.W.data, base_W_q)


def test_C16_merged_lora_model_saves_and_loads_as_a_plain_model(char_tok, tmp_path, assert_close):
    model = get_method("lora").apply(tiny_gpt(char_tok, dtype=np.float32), lora_r=3)
    for _, m in model.named_modules():
        if isinstance(m, LoRALinear):
            m.B.data[...] = np.random.default_rng(6).normal(0, 0.1, m.B.shape)
    x = np.random.default_rng(7).integers(0, char_tok.vocab_size, (2, 11))
    before = model(x)[0].data
    merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    save_checkpoint(tmp_path, model, char_tok, {})
    loaded, _, manifest = load_checkpoint(tmp_path)
    assert "surgery" not in manifest and type(loaded) is GPT
    assert type(loaded.blocks[0].self_attn.W_q) is Linear
    assert_close(loaded(x)[0].data, before, "merged and reloaded vs LoRA logits")


def test_C16_lora_works_on_bert_and_trains_the_fresh_head(wp_tok):
    model = BertForSequenceClassification.from_encoder(tiny_bert(wp_tok).bert, 4)
    model = get_method("lora").apply(model, lora_r=2, lora_targets="W_q,W_v,W_o")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert all(n.endswith((".A", ".B")) or n.startswith("head.") for n in trainable)
    assert model.parameter_counts()["trainable"] == 2 * 3 * 2 * (10 + 10) + 10 * 4 + 4


def test_lora_target_that_matches_nothing_is_an_error_naming_it(char_tok):
    message = r"lora: target 'W_z' matches no Linear layer of GPT \(module paths; last parts: W_1"
    with pytest.raises(ValueError, match=message):
        add_lora(tiny_gpt(char_tok), "W_q,W_z")
    assert find_linears(tiny_gpt(char_tok), "blocks.1.*") == [
        f"blocks.1.{s}" for s in ("self_attn.W_q", "self_attn.W_k", "self_attn.W_v",
                                  "self_attn.W_o", "ff.W_1", "ff.W_2")]  # fmt: skip


def test_lora_rank_larger_than_the_layer_is_an_error_and_changes_nothing(char_tok):
    model = tiny_gpt(char_tok)
    message = r"lora on blocks.0.self_attn.W_q: rank r=13 is larger than the layer \(12 x 12\)"
    with pytest.raises(ValueError, match=message):
        add_lora(model, "W_q", r=13)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    with pytest.raises(ValueError, match="rank r must be an int >= 1, got 0"):
        LoRALinear(4, 4, r=0)
    with pytest.raises(ValueError, match="alpha must be a number > 0"):
        LoRALinear(4, 4, r=2, alpha=0)
