"""Adapters (C16): a zero-initialised bottleneck after each sub-layer computes exactly what the
base model computes; the adapter's equation; what trains. Freezing by name pattern and linear
probing (C16's erratum: the source's "PEFT" is linear probing)."""

import numpy as np
import pytest
from peft_tiny import tiny_bert, tiny_gpt

from minillm.finetune import (
    Adapter,
    add_adapters,
    freeze,
    get_method,
    head_patterns,
    linear_probe,
    unfreeze,
)
from minillm.models import BertForSequenceClassification, load_checkpoint, save_checkpoint
from minillm.nn import LayerNorm
from minillm.tensor import Tensor


def test_C16_fresh_adapters_compute_exactly_what_the_base_model_computes(char_tok, wp_tok):
    x = np.random.default_rng(0).integers(0, char_tok.vocab_size, (3, 13))
    base, adapted = tiny_gpt(char_tok), add_adapters(tiny_gpt(char_tok), size=3)
    np.testing.assert_array_equal(adapted(x)[0].data, base(x)[0].data)
    ids = np.random.default_rng(1).integers(5, wp_tok.vocab_size, (2, 9))
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    bert, adapted = tiny_bert(wp_tok).bert, add_adapters(tiny_bert(wp_tok).bert, size=4)
    np.testing.assert_array_equal(adapted(ids, mask).data, bert(ids, mask).data)


def test_C16_adapter_is_a_bottleneck_with_a_residual(assert_close):
    rng = np.random.default_rng(2)
    a = Adapter(6, 2, "relu", rng, np.float64)
    a.up.W.data[...] = rng.normal(size=a.up.W.shape)  # trained: no longer the identity
    a.up.b.data[...] = rng.normal(size=a.up.b.shape)
    h = rng.normal(size=(2, 3, 6))
    z = np.maximum(h @ a.down.W.data + a.down.b.data, 0)  # (2, 3, 2)
    assert_close(a(Tensor(h)).data, h + z @ a.up.W.data + a.up.b.data, "adapter (2, 3, 6)")


def test_C16_adapter_method_trains_adapters_norms_and_the_fresh_head(wp_tok):
    model = BertForSequenceClassification.from_encoder(tiny_bert(wp_tok).bert, 3)
    model = get_method("adapter").apply(model, adapter_size=4)
    C, m, L = 10, 4, 2
    per_adapter = 2 * C * m + m + C
    norms = L * 2 * 2 * C  # two LayerNorms per layer, gamma and beta
    head = C * 3 + 3
    assert model.parameter_counts()["trainable"] == 2 * L * per_adapter + norms + head
    frozen = get_method("adapter").apply(
        BertForSequenceClassification.from_encoder(tiny_bert(wp_tok).bert, 3),
        adapter_size=4,
        adapter_norms=0,
    )
    assert frozen.parameter_counts()["trainable"] == 2 * L * per_adapter + head
    assert not any(
        p.requires_grad
        for m in frozen.modules()
        if isinstance(m, LayerNorm)
        for p in m.parameters()
    )


def test_C16_adapters_are_rebuilt_when_a_checkpoint_loads(char_tok, tmp_path):
    model = add_adapters(tiny_gpt(char_tok, dtype=np.float32), size=3)
    for p in model.parameters():
        p.data += np.float32(0.01)
    x = np.random.default_rng(3).integers(0, char_tok.vocab_size, (2, 7))
    save_checkpoint(tmp_path, model, char_tok, {})
    loaded = load_checkpoint(tmp_path)[0]
    np.testing.assert_array_equal(loaded(x)[0].data, model(x)[0].data)


def test_C16_linear_probing_trains_the_head_only(char_tok, wp_tok):
    clf = linear_probe(BertForSequenceClassification.from_encoder(tiny_bert(wp_tok).bert, 5))
    trainable = [n for n, p in clf.named_parameters() if p.requires_grad]
    assert trainable == ["head.classifier.W", "head.classifier.b"]
    gpt = linear_probe(tiny_gpt(char_tok))  # tied head: the table it shares with the input
    assert head_patterns(gpt) == ["ln_f.*", "wte.*"]
    trainable = [n for n, p in gpt.named_parameters() if p.requires_grad]
    assert trainable == ["wte.W", "ln_f.gamma", "ln_f.beta"]


def test_freezing_by_pattern_and_a_pattern_that_matches_nothing(char_tok):
    model = freeze(tiny_gpt(char_tok))
    assert model.parameter_counts()["trainable"] == 0
    unfreeze(model, ["blocks.*.ff.*", "ln_f.gamma"])
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names == [f"blocks.{i}.ff.W_{j}.{w}" for i in (0, 1) for j in (1, 2)
                     for w in ("W", "b")] + ["ln_f.gamma"]  # fmt: skip
    with pytest.raises(ValueError, match=r"freeze: pattern 'block.\*' matches no parameter of GPT"):
        freeze(model, "block.*")
