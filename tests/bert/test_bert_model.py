"""The BERT encoder (C12): config names, the forward pass held to the equations written out in
NumPy, bidirectional attention, padding, attention maps, initialisation and bad input."""

import math

import numpy as np
import pytest
from bert_tiny import TINY, tiny_bert, tiny_config

from minillm import nn
from minillm.data import WordPieceTokenizer
from minillm.models import GPT, GPTConfig
from minillm.models.bert import BERT, BertConfig
from minillm.ops.gelu import erf


def _ln(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)  # biased, as BERT's LayerNorm
    return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu(x, erf):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def reference_bert(state, ids, mask, types, n_layers, n_heads, eps, erf):
    """The BERT equations (Devlin et al. 2019; post-LN blocks, exact GELU) in plain NumPy."""
    B, T = ids.shape
    x = state["wte.W"][ids] + state["wpe.W"][np.arange(T)] + state["wtt.W"][types]
    x = _ln(x, state["ln_emb.gamma"], state["ln_emb.beta"], eps)
    for i in range(n_layers):
        p = {
            k.removeprefix(f"blocks.{i}."): v
            for k, v in state.items()
            if k.startswith(f"blocks.{i}.")
        }

        def lin(h, name):
            return h @ p[name + ".W"] + p[name + ".b"]  # noqa: B023

        C = x.shape[-1]
        D = C // n_heads
        q, k, v = (
            lin(x, f"self_attn.W_{n}").reshape(B, T, n_heads, D).transpose(0, 2, 1, 3)
            for n in "qkv"
        )
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(D)  # (B, H, T, T)
        s = np.where(mask[:, None, None, :] == 1, s, -np.inf)
        a = np.exp(s - s.max(-1, keepdims=True))
        a = a / a.sum(-1, keepdims=True)
        z = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
        x = _ln(x + lin(z, "self_attn.W_o"), p["norm1.gamma"], p["norm1.beta"], eps)
        f = lin(_gelu(lin(x, "ff.W_1"), erf), "ff.W_2")
        x = _ln(x + f, p["norm2.gamma"], p["norm2.beta"], eps)
    pooled = np.tanh(x[:, 0] @ state["pooler.W"] + state["pooler.b"])
    return x, pooled


def inputs(B=3, T=9, V=23, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, (B, T))
    mask = np.ones((B, T), dtype=np.int64)
    mask[1, 6:] = 0
    mask[2, 2:] = 0
    types = np.zeros((B, T), dtype=np.int64)
    types[:, 4:] = 1
    return ids, mask, types


def test_bert_config_reads_hugging_face_names():
    hf = {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
          "intermediate_size": 1536, "max_position_embeddings": 512, "layer_norm_eps": 1e-12,
          "hidden_dropout_prob": 0.1, "type_vocab_size": 2, "vocab_size": 30522}  # fmt: skip
    c = BertConfig.from_dict(hf)
    assert (c.d_model, c.n_layers, c.n_heads, c.d_ff, c.block_size) == (384, 6, 12, 1536, 512)
    assert c.eps == 1e-12 and c.dropout == 0.1 and c.vocab_size == 30522
    assert BertConfig.from_dict(c.to_dict()) == c


@pytest.mark.parametrize(
    "bad",
    [dict(d_model=15), dict(n_heads=0), dict(eps=0.0), dict(dropout=1.0), dict(type_vocab_size=0),
     dict(d_ff=2.5)],
)  # fmt: skip
def test_bert_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad)) if "d_model" not in bad else "F14"):
        tiny_config(**bad)


def test_C12_bert_forward_matches_the_equations_in_numpy(assert_close):
    model = tiny_bert()
    ids, mask, types = inputs()
    h = model(ids, mask, types)
    assert h.shape == (3, 9, TINY["d_model"])
    state = {k: np.asarray(v) for k, v in model.state_dict().items()}
    # with the library's erf (Abramowitz & Stegun, |error| <= 1.5e-7): the same sums, to ulps
    ref_h, ref_pooled = reference_bert(state, ids, mask, types, 2, 2, model.config.eps, erf)
    assert_close(h.data, ref_h, "BERT hidden states vs the NumPy equations")
    assert_close(model.pool(h).data, ref_pooled, "BERT pooled [CLS] vs tanh(h_0 W_p + b_p)")
    # with math.erf: the erf approximation's deviation, carried through two layers
    exact, _ = reference_bert(
        state, ids, mask, types, 2, 2, model.config.eps, np.vectorize(math.erf)
    )
    np.testing.assert_allclose(h.data, exact, atol=1e-7, err_msg="BERT vs exact-erf GELU")


def test_C12_bert_is_bidirectional_where_the_gpt_is_causal():
    ids = inputs()[0][:1]  # (1, T)
    later = ids.copy()
    later[0, -1] = (later[0, -1] + 1) % 23  # change the last token only
    bert = tiny_bert()
    h, h2 = bert(ids).data, bert(later).data
    assert np.abs(h[0, 0] - h2[0, 0]).max() > 1e-6, "BERT: position 0 ignores a later token"
    gpt = GPT(GPTConfig(vocab_size=23, block_size=12, n_layers=1, n_heads=2, d_model=8)).double()
    g, g2 = gpt(ids)[0].data, gpt(later)[0].data
    assert np.array_equal(g[0, :-1], g2[0, :-1]), "GPT: earlier logits saw a later token"


def test_bert_padded_batch_equals_each_row_alone(assert_close):
    model = tiny_bert()
    ids, mask, types = inputs()
    h = model(ids, mask, types).data
    for b in range(3):
        n = int(mask[b].sum())
        alone = model(ids[b : b + 1, :n], None, types[b : b + 1, :n]).data
        assert_close(h[b, :n], alone[0], f"row {b} padded vs alone")


def test_bert_attention_maps_give_padded_keys_zero_weight():
    model = tiny_bert()
    ids, mask, types = inputs()
    with nn.record_attention(model) as maps:
        model(ids, mask, types)
    assert sorted(maps) == ["blocks.0.self_attn", "blocks.1.self_attn"]
    a = maps["blocks.0.self_attn"][0]  # (B, H, T, T)
    assert a.shape == (3, 2, 9, 9)
    assert np.all(a[2, :, :, 2:] == 0), "a padded key got attention weight"
    np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-12)


def test_bert_init_is_normal_002_with_unit_layer_norms():
    model = BERT(BertConfig(vocab_size=500, d_model=64, n_heads=4, d_ff=128, n_layers=2))
    assert abs(model.wte.W.data.std() - 0.02) < 0.001
    assert abs(model.blocks[1].ff.W_1.W.data.std() - 0.02) < 0.002
    assert np.all(model.blocks[0].self_attn.W_q.b.data == 0)
    assert np.all(model.ln_emb.gamma.data == 1) and np.all(model.blocks[0].norm2.beta.data == 0)
    again = BERT(BertConfig(vocab_size=500, d_model=64, n_heads=4, d_ff=128, n_layers=2))
    assert np.array_equal(model.pooler.W.data, again.pooler.W.data), "same seed, other weights"


IDS = np.array([[2, 5, 3]])
BAD_INPUTS = [
    (np.array([[2, 23, 3]]), {}, r"token id 23 at \(0, 1\) is outside the vocabulary \[0, 23\)"),
    (np.array([[2, -1, 3]]), {}, r"token id -1 at \(0, 1\)"),
    (np.full((1, 13), 5), {}, r"length 13 exceeds the position table \(block_size=12\)"),
    (IDS, {"attention_mask": np.array([[1, 2, 1]])}, "attention_mask must be 0/1"),
    (IDS, {"attention_mask": np.ones((1, 4), dtype=int)}, r"shape \(1, 4\)"),
    (IDS, {"token_type_ids": np.array([[0, 2, 1]])}, r"token_type_ids must be in \[0, 2\)"),
    (np.array([2.0, 5.0]), {}, "integer ids"),
]


@pytest.mark.parametrize("ids, kwargs, message", BAD_INPUTS)
def test_bert_bad_input_is_a_one_line_error_naming_the_value(ids, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_bert()(ids, **kwargs)


def test_a_pair_over_max_len_without_truncation_names_its_length():
    tok = WordPieceTokenizer().train("to be or not to be that is the question " * 20, 60)
    with pytest.raises(ValueError, match=r"the pair has 13 tokens .* more than max_len=8"):
        tok.encode("to be or not", "to be that is the question", max_len=8)
    ids = tok.encode("to be or not", "to be that is the question", max_len=8, truncation=True)
    assert len(ids) == 8
