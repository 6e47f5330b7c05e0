"""CharTokenizer: vocabulary, encode/decode round trip, unknown chars, serialisation."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minillm.data import CharTokenizer, tokenizer_from_dict


def test_vocabulary_is_sorted_distinct_chars():
    tok = CharTokenizer.from_text("hello world")
    assert tok.itos == [" ", "d", "e", "h", "l", "o", "r", "w"]
    assert tok.vocab_size == 8
    ids = tok.encode("hello")
    assert ids.dtype == np.int64 and ids.shape == (5,)
    np.testing.assert_array_equal(ids, [3, 2, 4, 4, 5])


def test_empty_string_and_one_char():
    tok = CharTokenizer.from_text("x")
    assert tok.vocab_size == 1
    assert tok.encode("").shape == (0,) and tok.encode("").dtype == np.int64
    assert tok.decode([]) == ""
    assert tok.decode(np.array([0, 0, 0])) == "xxx"


@given(st.text(min_size=1))
def test_roundtrip_on_any_text_it_was_built_from(text):
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text)
    assert ids.shape == (len(text),)
    assert tok.decode(ids) == text
    assert tok.vocab_size == len(set(text))


def test_unknown_char_error_names_char_and_position():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"'é' at position 3"):
        tok.encode("abcé and more")
    with pytest.raises(ValueError, match=r"'\\n' at position 1"):
        tok.encode("a\nb")


def test_unk_token_maps_unknown_chars_to_one_extra_id():
    tok = CharTokenizer.from_text("abc", unk="<unk>")
    assert tok.vocab_size == 4 and tok.unk_id == 3
    np.testing.assert_array_equal(tok.encode("aXbY"), [0, 3, 1, 3])
    assert tok.decode(tok.encode("aXb")) == "a<unk>b"


def test_unk_that_is_already_a_vocabulary_char_reuses_its_id():
    tok = CharTokenizer.from_text("ab?", unk="?")
    assert tok.vocab_size == 3 and tok.unk_id == 0  # sorted: "?" < "a" < "b"
    np.testing.assert_array_equal(tok.encode("aZ"), [1, 0])


@pytest.mark.parametrize("bad", [[5], [-1], [0, 1, 9]])
def test_decode_out_of_range_names_id_and_range(bad):
    tok = CharTokenizer.from_text("abcde")
    with pytest.raises(IndexError, match=r"id -?\d+ at position \d+ .*\[0, 5\)"):
        tok.decode(bad)


def test_decode_rejects_floats_and_2d():
    tok = CharTokenizer.from_text("abcde")
    with pytest.raises(TypeError, match="float64"):
        tok.decode([1.0, 2.0])
    with pytest.raises(ValueError, match=r"1-D.*\(2, 1\)"):
        tok.decode([[1], [2]])
    with pytest.raises(TypeError, match="str"):
        tok.encode(b"abc")


def test_dict_and_file_roundtrip(tmp_path):
    tok = CharTokenizer.from_text("Hi 中文 🙂!", unk="<unk>")
    d = tok.to_dict()
    json.dumps(d)  # JSON-serialisable
    again = CharTokenizer.from_dict(json.loads(json.dumps(d)))
    assert again.itos == tok.itos and again.unk == tok.unk
    path = tmp_path / "char.json"
    tok.save(path)
    loaded = CharTokenizer.load(path)
    text = "中文 Hi? 🙂"
    np.testing.assert_array_equal(loaded.encode(text), tok.encode(text))
    assert isinstance(tokenizer_from_dict(d), CharTokenizer)


def test_bad_vocabularies_and_dicts_are_rejected():
    with pytest.raises(ValueError, match="appears twice"):
        CharTokenizer(["a", "b", "a"])
    with pytest.raises(ValueError, match="entry 1 is 'bc'"):
        CharTokenizer(["a", "bc"])
    with pytest.raises(ValueError, match="unk"):
        CharTokenizer(["a"], unk="")
    with pytest.raises(ValueError, match="'bpe'"):
        CharTokenizer.from_dict({"type": "bpe", "merges": []})
    with pytest.raises(ValueError, match="unknown tokenizer type 'word'"):
        tokenizer_from_dict({"type": "word"})
