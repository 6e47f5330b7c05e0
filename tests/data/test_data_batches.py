"""get_batch and Corpus: shapes, the one-step shift, bounds, seeding, errors."""

import numpy as np
import pytest

from minillm.data import CharTokenizer, Corpus, get_batch


@pytest.mark.parametrize(("n", "B", "T"), [(50, 7, 5), (11, 3, 10), (2, 1, 1), (1000, 13, 33)])
def test_batch_shapes_and_y_is_x_shifted_by_one(n, B, T):
    data = np.arange(n, dtype=np.int32) * 3  # ids encode their position
    x, y = get_batch(data, B, T, np.random.default_rng(0))
    assert x.shape == (B, T) and y.shape == (B, T), f"B={B} T={T}: {x.shape}, {y.shape}"
    assert x.dtype == np.int64 and y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    starts = x[:, 0] // 3
    for b in range(B):  # each row is a contiguous window, and y's window ends inside data
        np.testing.assert_array_equal(x[b], data[starts[b] : starts[b] + T], err_msg=f"row {b}")
        np.testing.assert_array_equal(y[b], data[starts[b] + 1 : starts[b] + T + 1])


def test_every_start_offset_is_reachable_and_none_beyond():
    data = np.arange(9)
    x, _ = get_batch(data, 2000, 4, np.random.default_rng(1))
    assert set(x[:, 0].tolist()) == set(range(5))  # starts in [0, N - T) = [0, 5)


def test_same_seed_same_batches_different_seed_different():
    data = np.arange(500)
    a = get_batch(data, 4, 16, np.random.default_rng(42))
    b = get_batch(data, 4, 16, np.random.default_rng(42))
    c = get_batch(data, 4, 16, np.random.default_rng(43))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_get_batch_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="block_size=5 .* data has 5"):
        get_batch(np.arange(5), 2, 5, rng)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        get_batch(np.arange(5), 0, 2, rng)
    with pytest.raises(ValueError, match="block_size"):
        get_batch(np.arange(5), 1, 2.0, rng)
    with pytest.raises(TypeError, match="Generator"):
        get_batch(np.arange(5), 1, 2, 0)
    with pytest.raises(TypeError, match="float64"):
        get_batch(np.zeros(5), 1, 2, rng)
    with pytest.raises(ValueError, match=r"1-D.*\(2, 5\)"):
        get_batch(np.zeros((2, 5), dtype=np.int64), 1, 2, rng)


def test_corpus_from_text_splits_then_encodes():
    text = "abcdefghij" * 5
    tok = CharTokenizer.from_text(text)
    corpus = Corpus.from_text(text, tok)
    assert (len(corpus.train), len(corpus.val)) == (45, 5)
    np.testing.assert_array_equal(np.concatenate([corpus.train, corpus.val]), tok.encode(text))
    x, y = corpus.get_batch("val", 3, 4, np.random.default_rng(0))
    assert x.shape == (3, 4)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])


def test_corpus_same_seed_same_batches():
    corpus = Corpus(np.arange(300), np.arange(1000, 1040))
    for split in ("train", "val"):
        a = corpus.get_batch(split, 5, 7, np.random.default_rng(3))
        b = corpus.get_batch(split, 5, 7, np.random.default_rng(3))
        np.testing.assert_array_equal(a[0], b[0], err_msg=split)
        np.testing.assert_array_equal(a[1], b[1], err_msg=split)
    assert corpus.get_batch("val", 2, 3, np.random.default_rng(0))[0].min() >= 1000


def test_corpus_errors_name_the_split():
    corpus = Corpus(np.arange(30), np.arange(6))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"unknown split 'test'.*\['train', 'val'\]"):
        corpus.get_batch("test", 1, 2, rng)
    with pytest.raises(ValueError, match="block_size=6 .* split 'val' has 6"):
        corpus.get_batch("val", 1, 6, rng)
    assert corpus.get_batch("train", 1, 6, rng)[0].shape == (1, 6)
    with pytest.raises(TypeError, match="float64"):
        Corpus(np.zeros(4), np.arange(4))
