"""Labelled data read off the shipped corpus (minillm/data/plays.py, play_tasks.py): the plays and
their speeches, the play-classification splits (sequence classification) and the person-name
BIO tags (token classification)."""

import numpy as np
import pytest

from minillm.data import (
    WordPieceTokenizer,
    load_plays,
    load_text,
    person_tagging,
    play_classification,
)
from minillm.data.play_tasks import bio_tags, stratified_split
from minillm.data.plays import short_name

NAMES = ["Hamlet", "Macbeth", "Romeo and Juliet", "Julius Caesar", "Othello", "King Lear",
         "The Tempest", "A Midsummer Night's Dream"]  # fmt: skip
SPEECHES = [1137, 647, 840, 798, 1180, 1068, 642, 500]


@pytest.fixture(scope="module")
def plays():
    return load_plays()


@pytest.fixture(scope="module")
def classification(plays):
    return play_classification(plays=plays)


@pytest.fixture(scope="module")
def tagging(plays):
    return person_tagging(plays=plays)


# ---- the plays -----------------------------------------------------------------------------------
def test_eight_plays_in_order_with_their_speeches(plays):
    assert [p.name for p in plays] == NAMES
    assert [len(p.speeches) for p in plays] == SPEECHES
    assert short_name("THE TRAGEDY OF KING LEAR") == "King Lear"
    first = [(p.speeches[0].speaker, p.speeches[0].lines[0]) for p in plays]
    assert first[0] == ("Ber", "Who's there?")  # abbreviated speaker lines
    assert first[1] == ("FIRST WITCH", "When shall we three meet again?")  # capitals + full stop
    assert first[7] == ("THESEUS", "Now, fair Hippolyta, our nuptial hour")  # capitals only


def test_speech_line_numbers_point_at_the_speaker_lines(plays):
    lines = load_text("shakespeare").split("\n")
    for p in plays:
        for s in p.speeches:
            assert " ".join(lines[s.line - 1].split()).startswith(s.speaker), (p.name, s.line)
            assert s.play == plays.index(p)
            assert s.lines and all(line == line.strip() and "[" not in line for line in s.lines)


def test_persons_lists_end_before_the_scene(plays):
    assert plays[0].persons[0] == "Claudius, King of Denmark."
    assert all(not p.persons[-1].startswith(("SCENE", "Scene")) for p in plays)
    assert all(len(p.persons) >= 10 for p in plays)


def test_bad_text_has_no_plays():
    with pytest.raises(ValueError, match="no 'by William Shakespeare' line"):
        load_plays("just some text\n")


# ---- sequence classification: which play ---------------------------------------------------------
def test_split_counts_and_stratification(classification):
    assert classification["classes"] == NAMES
    sizes = {k: len(classification[k]["text"]) for k in ("train", "val", "test")}
    assert sizes == {"train": 1421, "val": 177, "test": 177}
    total = sum(np.bincount(classification[k]["label"], minlength=8) for k in sizes)
    for split, frac in (("val", 0.1), ("test", 0.1)):
        counts = np.bincount(classification[split]["label"], minlength=8)
        np.testing.assert_array_equal(counts, np.round(total * frac).astype(int), err_msg=split)
    for k in sizes:
        d = classification[k]
        assert len(d["speaker"]) == len(d["line"]) == len(d["label"]) == sizes[k]
        assert d["label"].dtype == np.int64 and d["line"].dtype == np.int64
        assert all(len(t.split("\n")) >= 4 for t in d["text"])


def test_no_speech_is_in_two_splits(classification):
    texts = [set(classification[k]["text"]) for k in ("train", "val", "test")]
    lines = [set(classification[k]["line"].tolist()) for k in ("train", "val", "test")]
    for a in range(3):
        for b in range(a + 1, 3):
            assert texts[a].isdisjoint(texts[b]) and lines[a].isdisjoint(lines[b])
    assert sum(len(t) for t in texts) == 1775  # no text twice within a split either


def test_labels_are_the_play_of_each_speech(plays, classification):
    by_line = {s.line: s for p in plays for s in p.speeches}
    for k in ("train", "val", "test"):
        d = classification[k]
        for text, label, line in zip(d["text"], d["label"], d["line"]):
            assert by_line[line].play == label and by_line[line].text == text


def test_split_is_fixed_by_the_seed(plays, classification):
    again = play_classification(plays=plays, seed=0)
    other = play_classification(plays=plays, seed=1)
    np.testing.assert_array_equal(again["test"]["line"], classification["test"]["line"])
    assert not np.array_equal(other["test"]["line"], classification["test"]["line"])
    assert len(play_classification(min_lines=1, plays=plays)["train"]["text"]) > 5000


def test_stratified_split_rounding_and_bad_fractions():
    parts = stratified_split([0] * 10 + [1] * 5, seed=0, fractions=(0.6, 0.2, 0.2))
    assert [len(parts[k]) for k in ("train", "val", "test")] == [9, 3, 3]
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(15))
    with pytest.raises(ValueError, match="summing to 1"):
        stratified_split([0, 1], fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="min_lines must be an int >= 1, got 0"):
        play_classification(min_lines=0)


# ---- token classification: person names ----------------------------------------------------------
def test_names_come_from_the_corpus(tagging):
    names = set(tagging["names"])
    assert {"Hamlet", "Ophelia", "Macbeth", "Banquo", "Romeo", "Juliet", "Caesar", "Brutus",
            "Iago", "Desdemona", "Lear", "Cordelia", "Gloster", "Prospero", "Ariel", "Hermia",
            "Puck"} <= names  # fmt: skip
    assert not {"Lady", "King", "Nurse", "Witch", "Bottom", "Ghost", "First"} & names
    assert len(names) == 140


def test_tags_align_with_tokens_and_follow_bio(tagging):
    names, tag_names = set(tagging["names"]), tagging["tag_names"]
    assert tag_names == ["O", "B-PER", "I-PER"]
    counts = {}
    for k in ("train", "val", "test"):
        d = tagging[k]
        assert len(d["tokens"]) == len(d["tags"]) == len(d["play"]) == len(d["line"])
        for tokens, tags in zip(d["tokens"], d["tags"]):
            assert len(tokens) == len(tags) and tags.dtype == np.int64
            for i, (tok, tag) in enumerate(zip(tokens, tags)):
                assert (tag != 0) == (tok in names), (tok, tag)
                if tag == 2:
                    assert i > 0 and tags[i - 1] != 0
        counts[k] = (len(d["tokens"]), sum(int((t == 1).sum()) for t in d["tags"]))
    assert counts == {"train": (5337, 1920), "val": (667, 226), "test": (667, 278)}


def test_bio_tags_runs_of_names():
    tokens = ["O", "Julius", "Caesar", ",", "Brutus", "and", "Lady", "Macbeth"]
    names = {"Julius", "Caesar", "Brutus", "Macbeth"}
    assert bio_tags(tokens, names) == ["O", "B-PER", "I-PER", "O", "B-PER", "O", "O", "B-PER"]


def test_tagging_splits_do_not_share_speeches_and_wordpiece_aligns(tagging):
    lines = [set(tagging[k]["line"].tolist()) for k in ("train", "val", "test")]
    assert lines[0].isdisjoint(lines[1]) and lines[0].isdisjoint(lines[2])
    assert lines[1].isdisjoint(lines[2])
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "romeo",
        "o",
        ",",
        "!",
        "##me",
        "r",
        "##o",
    ]
    tok = WordPieceTokenizer(vocab)
    words = ["O", "Romeo", ",", "Rome", "!"]
    tags = bio_tags(words, {"Romeo"})
    ids, word_ids = tok.encode_words(words)
    token_tags = [tags[w] if w >= 0 else None for w in word_ids.tolist()]
    assert tok.decode(ids) == "[CLS] o romeo , rome ! [SEP]"
    assert word_ids.tolist() == [-1, 0, 1, 2, 3, 3, 3, 4, -1]  # "rome" -> r ##o ##me
    assert token_tags == [None, "O", "B-PER", "O", "O", "O", "O", "O", None]
