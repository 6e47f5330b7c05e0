"""BERT pre-training data (minillm/data/mlm.py): the 15/80/10/10 masking recipe counted over many
draws, specials never masked, next-sentence pairs 50/50 and packed as [CLS] A [SEP] B [SEP].

Tolerances: a count that is Binomial(n, p) is held to |count - n p| <= 5 sigma with
sigma = sqrt(n p (1 - p)); the seeds are fixed, so a test passes or fails the same way every run
(and a correct implementation would fail one such check with probability ~6e-7)."""

import numpy as np
import pytest

from minillm.data import (
    IGNORE_INDEX,
    CharTokenizer,
    PretrainingPairs,
    WordPieceTokenizer,
    mask_tokens,
)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
N_ORDINARY = 3000


@pytest.fixture(scope="module")
def tok():
    return WordPieceTokenizer(SPECIALS + [f"t{i}" for i in range(N_ORDINARY)])


def within_binomial(count, n, p, who):
    sigma = np.sqrt(n * p * (1 - p))
    assert abs(count - n * p) <= 5 * sigma, f"{who}: {count} vs {n * p:.0f} +- 5 x {sigma:.1f}"


def padded_batch(tok, rng, B=64, T=257):
    """(B, T) ids: [CLS] ordinary tokens [SEP] then [PAD]s, ragged lengths, some [UNK]s."""
    ids = np.full((B, T), tok.pad_id)
    for b in range(B):
        n = rng.integers(3, T + 1)
        ids[b, :n] = rng.integers(5, 5 + N_ORDINARY, size=n)
        ids[b, 0], ids[b, n - 1] = tok.cls_id, tok.sep_id
        ids[b, rng.integers(1, n - 1)] = tok.unk_id
    return ids


def test_C12_masking_proportions_15_80_10_10_over_many_draws(tok):
    rng = np.random.default_rng(0)
    n = selected = masked = randomised = unchanged = 0
    for _ in range(30):
        ids = padded_batch(tok, rng)
        inputs, labels = mask_tokens(ids, rng, tok)
        ordinary = ~tok.special_tokens_mask(ids)
        sel = labels != IGNORE_INDEX
        n += int(ordinary.sum())
        selected += int(sel.sum())
        masked += int((inputs[sel] == tok.mask_id).sum())
        unchanged += int((inputs[sel] == ids[sel]).sum())
        randomised += int(((inputs[sel] != ids[sel]) & (inputs[sel] != tok.mask_id)).sum())
    within_binomial(selected, n, 0.15, "selected of the ordinary tokens")
    within_binomial(masked, selected, 0.8, "[MASK] of the selected")
    # a random token equals the original one time in N_ORDINARY and then counts as unchanged
    within_binomial(randomised, selected, 0.1 * (1 - 1 / N_ORDINARY), "random of the selected")
    within_binomial(unchanged, selected, 0.1 + 0.1 / N_ORDINARY, "unchanged of the selected")


def test_C12_specials_and_padding_are_never_selected_and_labels_hold_the_originals(tok):
    rng = np.random.default_rng(1)
    ids = padded_batch(tok, rng)
    inputs, labels = mask_tokens(ids, rng, tok, mask_prob=1.0)
    special = tok.special_tokens_mask(ids)
    assert (labels[special] == IGNORE_INDEX).all() and (inputs[special] == ids[special]).all()
    assert (labels[~special] == ids[~special]).all()  # every ordinary token selected
    replaced = inputs[~special]
    assert not tok.special_tokens_mask(replaced[replaced != tok.mask_id]).any()
    assert inputs.dtype == labels.dtype == np.int64 and inputs.shape == labels.shape == ids.shape
    assert ids[0, 1] != tok.mask_id  # the input array is not modified in place


def test_C12_random_replacements_are_ordinary_tokens(tok):
    rng = np.random.default_rng(2)
    ids = padded_batch(tok, rng)
    inputs, labels = mask_tokens(ids, rng, tok, mask_prob=1.0, mask_frac=0.0, random_frac=1.0)
    changed = labels != IGNORE_INDEX
    assert not tok.special_tokens_mask(inputs[changed]).any()
    assert (inputs[changed] >= 5).all()


def test_masking_is_deterministic_given_the_seed(tok):
    ids = padded_batch(tok, np.random.default_rng(3))
    a = mask_tokens(ids, np.random.default_rng(7), tok)
    b = mask_tokens(ids, np.random.default_rng(7), tok)
    c = mask_tokens(ids, np.random.default_rng(8), tok)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])


def test_mask_tokens_bad_input(tok):
    rng = np.random.default_rng(0)
    with pytest.raises(IndexError, match=r"id 3005 at index \(1, 0\) is outside .*\[0, 3005\)"):
        mask_tokens(np.array([[5, 6], [3005, 7]]), rng, tok)
    with pytest.raises(TypeError, match="integers"):
        mask_tokens(np.array([5.0]), rng, tok)
    with pytest.raises(ValueError, match="mask_prob must be a probability"):
        mask_tokens([5], rng, tok, mask_prob=1.5)
    with pytest.raises(ValueError, match=r"mask_frac \+ random_frac must be <= 1"):
        mask_tokens([5], rng, tok, mask_frac=0.9, random_frac=0.2)
    with pytest.raises(ValueError, match="CharTokenizer has no mask token"):
        mask_tokens([0], rng, CharTokenizer.from_text("ab"))


# ---- next-sentence pairs -------------------------------------------------------------------------
def unique_documents(lengths_per_doc):
    """Documents whose every token id is unique (5, 6, 7, ...), so positions can be traced."""
    docs, next_id = [], 5
    for lengths in lengths_per_doc:
        doc = []
        for n in lengths:
            doc.append(np.arange(next_id, next_id + n))
            next_id += n
        docs.append(doc)
    return docs


@pytest.fixture(scope="module")
def docs():
    rng = np.random.default_rng(4)
    return unique_documents([rng.integers(1, 15, size=60) for _ in range(4)])


def split_example(tok, ids, types):
    assert ids[0] == tok.cls_id and ids[-1] == tok.sep_id
    sep = int(np.flatnonzero(ids == tok.sep_id)[0])
    a, b = ids[1:sep], ids[sep + 1 : -1]
    assert types.tolist() == [0] * (sep + 1) + [1] * (len(b) + 1)
    return a, b


def test_C12_pairs_are_50_50_and_isnext_b_continues_a(tok, docs):
    pairs = PretrainingPairs(docs, tok, max_len=40)
    where = {
        int(t): (d, pos) for d, doc in enumerate(docs) for pos, t in enumerate(np.concatenate(doc))
    }
    seg_starts = {int(seg[0]) for doc in docs for seg in doc}
    rng = np.random.default_rng(5)
    n, is_next = 4000, 0
    for _ in range(n):
        ids, types, label = pairs.sample(rng)
        assert len(ids) <= 40
        a, b = split_example(tok, ids, types)
        assert len(a) >= 1 and len(b) >= 1
        pos_a, pos_b = [where[int(t)] for t in a], [where[int(t)] for t in b]
        assert all(p[0] == pos_a[0][0] and p[1] == pos_a[0][1] + i for i, p in enumerate(pos_a))
        assert all(p[0] == pos_b[0][0] and p[1] == pos_b[0][1] + i for i, p in enumerate(pos_b))
        if label == 0:  # IsNext: B starts right after A's last token
            is_next += 1
            assert pos_b[0] == (pos_a[-1][0], pos_a[-1][1] + 1)
        else:  # NotNext: B starts a segment of another document
            assert label == 1 and pos_b[0][0] != pos_a[0][0] and int(b[0]) in seg_starts
    within_binomial(is_next, n, 0.5, "IsNext pairs")


def test_notnext_in_a_single_document_is_not_the_continuation(tok):
    docs = unique_documents([[3] * 50])
    pairs = PretrainingPairs(docs, tok, max_len=12, nsp_prob=1.0)
    rng = np.random.default_rng(6)
    for _ in range(200):
        ids, types, label = pairs.sample(rng)
        a, b = split_example(tok, ids, types)
        assert label == 1 and int(b[0]) != int(a[-1]) + 1


def test_batches_are_packed_padded_masked_and_deterministic(tok, docs):
    pairs = PretrainingPairs(docs, tok, max_len=32)
    first = list(pairs.batches(8, seed=0, n_batches=3))
    again = list(pairs.batches(8, seed=0, n_batches=3))
    other = next(pairs.batches(8, seed=1))
    assert len(first) == 3
    for x, y in zip(first, again):
        assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
    assert not np.array_equal(first[0]["input_ids"], other["input_ids"])
    batch = first[0]
    assert all(
        batch[k].shape == (8, 32) and batch[k].dtype == np.int64
        for k in batch
        if k != "next_sentence_label"
    )
    assert batch["next_sentence_label"].shape == (8,)
    pad = batch["attention_mask"] == 0
    assert (batch["input_ids"][pad] == tok.pad_id).all() and (
        batch["mlm_labels"][pad] == IGNORE_INDEX
    ).all()
    assert (batch["token_type_ids"][pad] == 0).all()
    assert (batch["input_ids"][:, 0] == tok.cls_id).all()


def test_split_holds_out_the_end_of_each_document(tok, docs):
    head, tail = PretrainingPairs(docs, tok, max_len=32).split(0.8)
    assert [len(d) for d in head.documents] == [48] * 4 and [len(d) for d in tail.documents] == [
        12
    ] * 4
    head_ids = {int(t) for d in head.documents for s in d for t in s}
    assert head_ids.isdisjoint(int(t) for d in tail.documents for s in d for t in s)


def test_pairs_from_texts_and_bad_input(tok):
    pairs = PretrainingPairs.from_texts(["t1 t2\nt3\n\nt4 t5", "t6 t7 t8"], tok, max_len=16)
    assert [len(d) for d in pairs.documents] == [3, 1]
    assert "2 documents, 8 tokens" in repr(pairs)
    with pytest.raises(ValueError, match="no 'cls' token"):
        PretrainingPairs([[np.array([0, 1])]], CharTokenizer.from_text("ab"))
    with pytest.raises(ValueError, match="max_len must be an int >= 5, got 4"):
        PretrainingPairs(unique_documents([[4]]), tok, max_len=4)
    with pytest.raises(ValueError, match="nsp_prob must be a probability"):
        PretrainingPairs(unique_documents([[4]]), tok, nsp_prob=2)
    with pytest.raises(ValueError, match="fewer than 2 tokens"):
        PretrainingPairs(unique_documents([[1], [1]]), tok)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        PretrainingPairs(unique_documents([[4, 4]]), tok).batch(0, np.random.default_rng(0))
