"""BPE training: the hand-worked example, a naive reference, determinism, the pre-split regex."""

import random
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm.data import GPT2_SPLIT_PATTERN, BPETokenizer
from minillm.data.bpe_train import merge_pair, split_chunks, train_merges

SPLIT = re.compile(GPT2_SPLIT_PATTERN)


def naive_train(chunk_counts, n_merges):
    """Reference: recount every pair from scratch at each step, take max count, smallest pair."""
    words = [(list(k), f) for k, f in chunk_counts.items()]
    merges = []
    for r in range(n_merges):
        counts = Counter()
        for ids, f in words:
            for pair in zip(ids, ids[1:], strict=False):
                counts[pair] += f
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        words = [(merge_pair(ids, best, 256 + r), f) for ids, f in words]
    return merges


@pytest.mark.parametrize("pattern", [None, GPT2_SPLIT_PATTERN])
def test_wikipedia_example_aaabdaaabac_merges_by_hand(pattern):
    # aaabdaaabac: "aa" occurs 4 times (2 per "aaab") -> Z=256. ZabdZabac: "ab" and "Za" tie at 2,
    # the smaller pair (97, 98) < (256, 97) wins -> Y=257. ZYdZYac: "ZY" twice -> X=258. XdXac.
    tok = BPETokenizer(pattern=pattern).train("aaabdaaabac", 259)
    assert tok.merges == [(97, 97), (97, 98), (256, 257)]
    assert tok.vocab[256:] == [b"aa", b"ab", b"aaab"]
    assert tok.encode("aaabdaaabac").tolist() == [258, ord("d"), 258, ord("a"), ord("c")]


def test_merge_pair_is_left_to_right_and_non_overlapping():
    assert merge_pair([1, 1, 1], (1, 1), 9) == [9, 1]
    assert merge_pair([1, 1, 1, 1], (1, 1), 9) == [9, 9]
    assert merge_pair([1, 2, 1, 2, 3], (1, 2), 9) == [9, 9, 3]
    assert merge_pair([5], (1, 2), 9) == [5]
    assert merge_pair([], (1, 2), 9) == []


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet="ab c\nde", max_size=60), st.integers(min_value=0, max_value=25))
def test_incremental_training_equals_naive_recount(text, n_merges):
    chunks = Counter(c.encode("utf-8") for c in SPLIT.findall(text))
    fast = train_merges(chunks, n_merges)
    slow = naive_train(chunks, n_merges)
    assert fast == slow, f"text={text!r}: merges differ at rank " + str(
        next((i for i, (a, b) in enumerate(zip(fast, slow, strict=False)) if a != b), None)
    )


def test_training_is_deterministic_and_independent_of_chunk_order():
    words = ["the", "then", "there", "other", "hat", "that", "a", "an", "and", "hand"] * 3
    shuffled = words[:]
    random.Random(0).shuffle(shuffled)
    text_a = "".join(" " + w for w in words)
    text_b = "".join(" " + w for w in shuffled)
    m_a = BPETokenizer().train(text_a, 280).merges
    assert m_a == BPETokenizer().train(text_a, 280).merges
    assert m_a == BPETokenizer().train(text_b, 280).merges
    reversed_dict = dict(reversed(list(Counter(x.encode() for x in SPLIT.findall(text_a)).items())))
    assert train_merges(reversed_dict, 24) == m_a


def test_training_stops_when_no_pairs_are_left():
    # chunks "ab", " ab": "ab" twice -> 256; then " ab" = [32, 256] -> 257; then one token each
    tok = BPETokenizer().train("ab ab", 1000)
    assert tok.merges == [(97, 98), (32, 256)]
    assert tok.vocab_size == 258


@given(st.text())
def test_pre_split_chunks_join_back_to_the_text(text):
    assert "".join(SPLIT.findall(text)) == text
    assert "".join(split_chunks(text, None)) == text


def test_pre_split_is_gpt2_like():
    chunks = SPLIT.findall("Hello world's 2024 end!!  ok\n\nx_y 中文")
    assert chunks == [
        "Hello",
        " world",
        "'s",
        " 2024",
        " end",
        "!!",
        " ",
        " ok",
        "\n",  # as in GPT-2: "\s+(?!\S)" leaves the last whitespace char before "x" alone,
        "\n",  # and "\n" is not a space, so it cannot join "x" and becomes its own chunk
        "x",
        "_",
        "y",
        " 中文",
    ]


def test_merges_never_cross_a_chunk_boundary():
    tok = BPETokenizer().train("a. a. a. a. a. b. b.", 300)
    for token in tok.vocab[256:]:
        assert len(SPLIT.findall(token.decode("utf-8"))) == 1, f"token {token!r} spans chunks"


def test_verbose_prints_each_merge(capsys):
    BPETokenizer(pattern=None).train("aaabdaaabac", 259, verbose=True)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and "(97, 97) -> 256" in out[0] and "count 4" in out[0]
