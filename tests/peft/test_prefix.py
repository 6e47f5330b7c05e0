"""Prefix tuning (C16): learned key/value rows in every attention layer are the platform's KV-cache
prefix rows, shift no position, hide behind no mask, collapse exactly from their MLP, and are the
only thing that trains (with a fresh head)."""

import numpy as np
import pytest
from peft_tiny import tiny_bert, tiny_gpt

from minillm.finetune import add_prefix, collapse_prefix, get_method
from minillm.generate import generate
from minillm.models import BertForSequenceClassification
from minillm.tensor import no_grad


def with_rows(model, length=3, hidden=0, seed=0):
    add_prefix(model, length, hidden)
    rng = np.random.default_rng(seed)
    for p in model.prefix.parameters():
        p.data[...] = rng.normal(0, 0.5, p.shape)
    return model


def test_C16_prefix_rows_are_the_kv_cache_prefix(char_tok, assert_close):
    model = with_rows(tiny_gpt(char_tok), length=3)
    x = np.random.default_rng(1).integers(0, char_tok.vocab_size, (2, 10))
    plain = tiny_gpt(char_tok)
    with no_grad():
        pairs = model.prefix()  # [(k_p, v_p)] of (1, H, P, D)
        expected = plain(x, caches=plain.new_caches(prefix=pairs))[0].data
        got = model(x)[0].data
    assert pairs[0][0].shape == (1, 2, 3, 6)
    assert_close(got, expected, "GPT with prefix rows vs new_caches(prefix=...)")
    assert np.abs(got - plain(x)[0].data).max() > 1e-3, "the rows change the output"


def test_C16_prefix_shifts_no_position_and_uses_no_context(char_tok, assert_close):
    model = with_rows(tiny_gpt(char_tok), length=4)
    x = np.random.default_rng(2).integers(0, char_tok.vocab_size, (1, 16))  # block_size tokens
    with no_grad():
        full = model(x)[0].data  # (1, 16, V): all 16 positions still fit
        caches = model.new_caches()
        steps = [model(x[:, t : t + 1], caches=caches)[0].data for t in range(16)]
    assert caches[0].position == 16
    assert_close(np.concatenate(steps, axis=1), full, "step by step with a cache vs one pass")
    prompt = x[0, :5]
    cached = generate(model.eval(), prompt, 8, temperature=0, use_cache=True)
    uncached = generate(model, prompt, 8, temperature=0, use_cache=False)
    np.testing.assert_array_equal(cached, uncached)


def test_C16_prefix_rows_stay_visible_past_bert_padding(wp_tok, assert_close):
    bert = with_rows(tiny_bert(wp_tok).bert, length=2)
    ids = np.random.default_rng(3).integers(5, wp_tok.vocab_size, (2, 9))
    mask = np.ones_like(ids)
    mask[1, 5:] = 0
    with no_grad():
        batch = bert(ids, mask).data
        alone = bert(ids[1:, :5], mask[1:, :5]).data
    assert_close(batch[1, :5], alone[0], "padded row vs the row alone, with prefix rows")


def test_C16_reparameterised_prefix_collapses_to_the_rows_it_computes(char_tok):
    model = with_rows(tiny_gpt(char_tok), length=3, hidden=5)
    x = np.random.default_rng(4).integers(0, char_tok.vocab_size, (2, 7))
    before = model(x)[0].data
    collapse_prefix(model)
    assert model.prefix.hidden == 0 and model.surgery[-1]["args"] == {"length": 3, "hidden": 0}
    assert [n for n, _ in model.prefix.named_parameters()] == ["kv"]
    assert model.prefix.kv.shape == (2, 2, 2, 3, 6)  # (L, 2, H, P, D): L * 2 * P * C numbers
    np.testing.assert_array_equal(model(x)[0].data, before)


def test_C16_prefix_method_trains_the_rows_through_the_mlp_and_a_fresh_head(wp_tok):
    model = BertForSequenceClassification.from_encoder(tiny_bert(wp_tok).bert, 3)
    model = get_method("prefix").apply(model, prefix_len=4, prefix_hidden=6)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    head = ["head.classifier.W", "head.classifier.b"]
    rows = ["prefix.P_prime", "prefix.W_1.W", "prefix.W_1.b", "prefix.W_2.W", "prefix.W_2.b"]
    assert trainable == head + rows
    ids = np.random.default_rng(5).integers(5, wp_tok.vocab_size, (3, 8))
    _, loss = model(ids, targets=np.array([0, 2, 1]))
    loss.backward()
    got = {n for n, p in model.named_parameters() if p.grad is not None}
    assert got == set(trainable)


def test_prefix_bad_settings_are_errors(char_tok):
    with pytest.raises(ValueError, match="prefix tuning: length must be an int >= 1, got 0"):
        add_prefix(tiny_gpt(char_tok), 0)
    model = add_prefix(tiny_gpt(char_tok), 2)
    with pytest.raises(ValueError, match="already has prefix rows"):
        add_prefix(model, 2)
