"""load_text and train_val_split: the shipped corpus, files on disk, the nanoGPT cut."""

import numpy as np
import pytest

from minillm.data import SHIPPED_TEXTS, load_text, train_val_split


def test_shipped_shakespeare_has_the_documented_size_and_alphabet():
    text = load_text("shakespeare")
    assert len(text) == 1_035_997, f"shakespeare: {len(text)} chars"
    assert len(set(text)) == 76, f"shakespeare: {len(set(text))} distinct chars"
    assert text.isascii()
    assert text.startswith("HAMLET, PRINCE OF DENMARK")


def test_shipped_shakespeare_split_is_nanogpt_cut():
    text = load_text("shakespeare")
    train, val = train_val_split(text)
    assert (len(train), len(val)) == (932_397, 103_600)
    assert train + val == text


def test_load_text_reads_a_utf8_file_exactly(tmp_path):
    content = "naïve 中文 🙂\r\nline two\n"
    path = tmp_path / "t.txt"
    path.write_bytes(content.encode("utf-8"))
    assert load_text(path) == content  # no newline translation
    assert load_text(str(path)) == content


def test_load_text_missing_file_names_the_path_and_shipped_names(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError) as err:
        load_text(str(missing))
    assert "nope.txt" in str(err.value)
    for name in SHIPPED_TEXTS:
        assert name in str(err.value)


def test_load_text_directory_and_non_utf8_and_wrong_type(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a shipped corpus nor a file"):
        load_text(tmp_path)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.txt.*not UTF-8"):
        load_text(bad)
    with pytest.raises(TypeError, match="int"):
        load_text(3)


@pytest.mark.parametrize("n", [2, 7, 10, 101])
def test_train_val_split_cut_point_and_order(n):
    data = np.arange(n)
    train, val = train_val_split(data, 0.9)
    cut = int(n * 0.9)
    assert len(train) == cut, f"n={n}: train {len(train)} != {cut}"
    np.testing.assert_array_equal(np.concatenate([train, val]), data)
    assert len(train) > 0 and len(val) > 0


@pytest.mark.parametrize("frac", [0.0, 1.0, -0.1, 1.5, "0.9", None, True])
def test_train_val_split_rejects_bad_frac(frac):
    with pytest.raises(ValueError, match="frac"):
        train_val_split("abcdefghij", frac)


def test_train_val_split_rejects_an_empty_split():
    with pytest.raises(ValueError, match="empty split"):
        train_val_split("a", 0.5)
    with pytest.raises(ValueError, match="empty split"):
        train_val_split("abc", 0.1)
