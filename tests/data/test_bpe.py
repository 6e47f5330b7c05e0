"""BPETokenizer: round trip on any Unicode string, encoding by rank, decode errors, save/load."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm.data import BPETokenizer, load_tokenizer

SAMPLE = (
    "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer "
    "the slings and arrows of outrageous fortune. 中文的文字 中文 🙂🙂 naïve café 2024 _x_\n"
) * 3


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer().train(SAMPLE, 330)


def test_trained_vocab_size_and_compression(tok):
    assert tok.vocab_size == 330
    ids = tok.encode(SAMPLE)
    assert ids.dtype == np.int64 and ids.ndim == 1
    assert len(ids) < len(SAMPLE.encode("utf-8")) / 2, f"{len(ids)} tokens for {len(SAMPLE)} chars"
    assert tok.decode(ids) == SAMPLE


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_roundtrip_any_unicode_string(tok, text):
    ids = tok.encode(text)
    assert ids.shape[0] <= len(text.encode("utf-8"))
    assert tok.decode(ids) == text


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40), st.integers(min_value=256, max_value=300))
def test_roundtrip_after_training_on_any_text(train_text, text, vocab_size):
    for pattern in (None, BPETokenizer().pattern):
        t = BPETokenizer(pattern=pattern).train(train_text, vocab_size)
        assert t.decode(t.encode(text)) == text
        assert t.decode(t.encode(train_text)) == train_text


def test_untrained_tokenizer_is_plain_utf8_bytes():
    t = BPETokenizer()
    assert t.vocab_size == 256
    assert t.encode("é🙂").tolist() == list("é🙂".encode())
    assert t.encode("").shape == (0,) and t.decode([]) == ""


def encode_by_training_replay(tok, chunk):
    """Reference: apply every merge in training order over the whole byte list."""
    ids = list(chunk.encode("utf-8"))
    for rank, pair in enumerate(tok.merges):
        out, i = [], 0
        while i < len(ids):
            if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
                out.append(256 + rank)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out
    return ids


@pytest.mark.parametrize("chunk", [" the", " question", " outrageous", "中文的", "🙂🙂", " tis"])
def test_encode_by_lowest_rank_equals_replaying_the_merges(tok, chunk):
    assert tok.encode(chunk).tolist() == encode_by_training_replay(tok, chunk)


def test_encode_is_cached_per_chunk_and_cache_gives_same_result(tok):
    first = tok.encode(" question question").tolist()
    assert " question" in tok._cache
    assert tok.encode(" question question").tolist() == first


def test_decode_of_broken_utf8_uses_replacement_char():
    t = BPETokenizer()
    assert t.decode([0xFF]) == "\ufffd"
    snowman = list("☃".encode())
    assert t.decode(snowman[:2]) == "\ufffd"  # a multi-byte char cut in half


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=329), max_size=30))
def test_decode_never_raises_on_valid_ids(tok, ids):
    assert isinstance(tok.decode(ids), str)


@pytest.mark.parametrize("bad", [[330], [-1], [1, 2, 1000]])
def test_decode_out_of_range_names_id_and_range(tok, bad):
    with pytest.raises(IndexError, match=r"id -?\d+ at position \d+ .*\[0, 330\)"):
        tok.decode(bad)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="vocab_size must be an int >= 256"):
        BPETokenizer().train("abc", 255)
    with pytest.raises(TypeError, match="bytes"):
        BPETokenizer().encode(b"abc")
    with pytest.raises(TypeError, match="float64"):
        BPETokenizer().decode([1.5])
    with pytest.raises(ValueError, match=r"merge 1 is \(97, 300\)"):
        BPETokenizer(merges=[(97, 98), (97, 300)])
    with pytest.raises(ValueError, match="merged twice"):
        BPETokenizer(merges=[(97, 98), (97, 98)])
    with pytest.raises(ValueError, match="'char'"):
        BPETokenizer.from_dict({"type": "char", "chars": []})


@pytest.mark.parametrize("pattern", [None, BPETokenizer().pattern])
def test_dict_and_file_roundtrip(tmp_path, tok, pattern):
    t = BPETokenizer(merges=tok.merges, pattern=pattern)
    d = json.loads(json.dumps(t.to_dict()))
    again = BPETokenizer.from_dict(d)
    assert again.merges == t.merges and again.pattern == pattern
    path = tmp_path / "bpe.json"
    t.save(path)
    for loaded in (BPETokenizer.load(path), load_tokenizer(path)):
        assert isinstance(loaded, BPETokenizer)
        np.testing.assert_array_equal(loaded.encode(SAMPLE), t.encode(SAMPLE))
