"""The interface every tokenizer shares (minillm/data/tokenizer_base.py): special tokens, the
[CLS] A [SEP] B [SEP] template, longest-first truncation, padding and the attention mask, on the
char, BPE and WordPiece tokenizers alike; old ids and files unchanged without special tokens."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minillm.data import BPETokenizer, CharTokenizer, WordPieceTokenizer, tokenizer_from_dict
from minillm.data.tokenizer_base import check_special_tokens, pad_sequences, truncated_lengths

GPT_SPECIALS = {"eos": "<eos>", "pad": "<pad>", "bos": "<bos>"}
BERT_SPECIALS = {"pad": "<pad>", "cls": "<cls>", "sep": "<sep>", "mask": "<mask>"}
TEXT = "hello world"


def make(kind, specials):
    if kind == "char":
        return CharTokenizer.from_text(TEXT, special_tokens=specials)
    if kind == "bpe":
        return BPETokenizer(special_tokens=specials).train(TEXT * 3, 260)
    vocab = ["[UNK]", "hello", "world", "##o", *(specials or {}).values()]
    return WordPieceTokenizer(vocab, special_tokens={"unk": "[UNK]", **(specials or {})})


# ---- unchanged without special tokens ------------------------------------------------------------
def test_char_and_bpe_ids_and_files_unchanged_without_special_tokens():
    char = CharTokenizer.from_text("hello world")
    assert char.encode("hello").tolist() == [3, 2, 4, 4, 5]
    assert char.to_dict() == {"type": "char", "chars": char.chars, "unk": None}
    assert char.special_tokens == {} and char.all_special_ids == [] and char.pad_id is None
    bpe = BPETokenizer(merges=[(104, 101)])
    assert bpe.to_dict() == {"type": "bpe", "pattern": bpe.pattern, "merges": [[104, 101]]}
    assert bpe.encode("hehe").tolist() == [256, 256] and bpe.vocab_size == 257


def test_char_unk_is_special_only_when_it_is_an_extra_token():
    assert CharTokenizer.from_text("abc", unk="<unk>").special_ids == {"unk": 3}
    assert CharTokenizer.from_text("ab?", unk="?").special_ids == {}


# ---- special tokens get ids after the vocabulary, in role order ----------------------------------
def test_char_special_tokens_follow_the_characters_in_role_order():
    tok = CharTokenizer.from_text("abc", unk="<unk>", special_tokens=GPT_SPECIALS)
    assert tok.itos == ["a", "b", "c", "<unk>", "<pad>", "<bos>", "<eos>"]
    assert (tok.unk_id, tok.pad_id, tok.bos_id, tok.eos_id) == (3, 4, 5, 6)
    assert tok.cls_id is None and tok.vocab_size == 7
    assert tok.encode("ab").tolist() == [0, 1]  # the default adds nothing: old behaviour
    assert tok.encode("ab", add_special_tokens=True).tolist() == [5, 0, 1, 6]
    assert tok.encode("<pad>").tolist() == [3, 3, 0, 3, 3]  # never read out of the text
    assert tok.decode([5, 0, 6, 4]) == "<bos>a<eos><pad>"
    assert tok.decode([5, 0, 6, 4], skip_special_tokens=True) == "a"


def test_bpe_special_tokens_follow_the_merges_and_move_when_retrained():
    tok = BPETokenizer(special_tokens={"eos": "<|endoftext|>"})
    assert tok.eos_id == 256 and tok.vocab_size == 257
    assert tok.decode([104, 105, 256]) == "hi<|endoftext|>"
    tok.train("hi hi hi hi", 258)
    assert tok.vocab_size == 259 and tok.eos_id == 258
    assert tok.encode("hi", add_special_tokens=True).tolist()[-1] == 258
    assert tok.decode(tok.encode("hi", add_special_tokens=True), skip_special_tokens=True) == "hi"


@pytest.mark.parametrize("kind", ["char", "bpe", "wordpiece"])
def test_special_tokens_survive_to_dict_and_back(kind):
    tok = make(kind, BERT_SPECIALS)
    again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.special_ids == tok.special_ids
    np.testing.assert_array_equal(again.encode(TEXT, TEXT), tok.encode(TEXT, TEXT))


# ---- the template --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["char", "bpe", "wordpiece"])
def test_bert_template_and_token_types_on_every_tokenizer(kind):
    tok = make(kind, BERT_SPECIALS)
    a = tok.encode("hello", add_special_tokens=False)
    b = tok.encode("world", add_special_tokens=False)
    ids = tok.encode("hello", "world", add_special_tokens=True)
    assert ids.tolist() == [tok.cls_id, *a, tok.sep_id, *b, tok.sep_id]
    out = tok.encode_batch(["hello"], ["world"], add_special_tokens=True)
    assert out["token_type_ids"].tolist() == [[0] * (len(a) + 2) + [1] * (len(b) + 1)]
    assert tok.num_special_tokens(pair=True) == 3 and tok.num_special_tokens() == 2
    mask = tok.special_tokens_mask(ids)
    assert mask.tolist() == [True] + [False] * len(a) + [True] + [False] * len(b) + [True]


def test_gpt_style_and_no_special_templates():
    gpt = make("char", GPT_SPECIALS)
    ids, types = gpt.build_inputs([0, 1], [2])
    assert ids.tolist() == [gpt.bos_id, 0, 1, gpt.eos_id, 2, gpt.eos_id]
    assert types.tolist() == [0, 0, 0, 0, 1, 1]
    plain = make("char", None)
    ids, types = plain.build_inputs([0, 1], [2])
    assert ids.tolist() == [0, 1, 2] and types.tolist() == [0, 0, 1]
    assert plain.num_special_tokens(pair=True) == 0


# ---- truncation: Hugging Face's longest_first ----------------------------------------------------
def truncate_one_at_a_time(len_a, len_b, budget):
    """Reference: remove one token at a time from the longer sequence, from B on a tie."""
    while len_a + len_b > budget:
        if len_a > len_b:
            len_a -= 1
        else:
            len_b -= 1
    return len_a, len_b


@given(st.integers(0, 40), st.integers(0, 40), st.integers(0, 90))
def test_longest_first_equals_removing_one_token_at_a_time(len_a, len_b, budget):
    assert truncated_lengths(len_a, len_b, budget) == truncate_one_at_a_time(len_a, len_b, budget)
    assert truncated_lengths(len_a, None, budget) == (min(len_a, budget), None)


def test_truncation_and_max_len_on_char():
    tok = make("char", BERT_SPECIALS)
    ids = tok.encode("hello", "world", add_special_tokens=True, max_len=9, truncation=True)
    assert tok.decode(ids) == "<cls>hel<sep>wor<sep>"
    with pytest.raises(ValueError, match=r"the text has 7 tokens .* max_len=6"):
        tok.encode("hello", add_special_tokens=True, max_len=6)


# ---- padding and the attention mask --------------------------------------------------------------
@pytest.mark.parametrize("kind", ["char", "bpe", "wordpiece"])
def test_encode_batch_pads_and_masks_on_every_tokenizer(kind):
    tok = make(kind, BERT_SPECIALS)
    texts = ["hello", "hello world", "world"]
    out = tok.encode_batch(texts, add_special_tokens=True)
    lengths = [len(tok.encode(t, add_special_tokens=True)) for t in texts]
    B, T = out["input_ids"].shape
    assert (B, T) == (3, max(lengths))
    assert all(a.dtype == np.int64 and a.shape == (B, T) for a in out.values())
    assert out["attention_mask"].sum(axis=1).tolist() == lengths
    for i, n in enumerate(lengths):
        assert (out["input_ids"][i, n:] == tok.pad_id).all()
        np.testing.assert_array_equal(
            out["input_ids"][i, :n], tok.encode(texts[i], add_special_tokens=True)
        )
    padded = tok.encode_batch(texts, max_len=T + 3, padding="max_length", side="left")
    assert padded["input_ids"].shape == (3, T + 3)
    assert padded["attention_mask"][:, -1].tolist() == [1, 1, 1]


def test_pad_sequences_sides_modes_and_errors():
    ids, mask = pad_sequences([[5, 6, 7], [8], []], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    ids, mask = pad_sequences([[5, 6], [8]], pad_id=9, max_len=4, padding="max_length", side="left")
    assert ids.tolist() == [[9, 9, 5, 6], [9, 9, 9, 8]] and mask.tolist() == [
        [0, 0, 1, 1],
        [0, 0, 0, 1],
    ]
    assert pad_sequences([[1, 2]], 0, padding=False)[0].tolist() == [[1, 2]]
    assert pad_sequences([], 0)[0].shape == (0, 0)
    with pytest.raises(ValueError, match=r"equal lengths, got lengths \[1, 2\]"):
        pad_sequences([[1, 2], [3]], 0, padding="do_not_pad")
    with pytest.raises(ValueError, match="sequence 1 has 3 tokens, more than max_len=2"):
        pad_sequences([[1], [1, 2, 3]], 0, max_len=2)
    with pytest.raises(ValueError, match="needs max_len"):
        pad_sequences([[1]], 0, padding="max_length")
    with pytest.raises(ValueError, match="side must be"):
        pad_sequences([[1]], 0, side="middle")


def test_padding_without_a_pad_token_says_how_to_add_one():
    tok = CharTokenizer.from_text("abc")
    assert tok.pad([[0, 1], [2, 0]])[0].tolist() == [[0, 1], [2, 0]]  # nothing to pad: fine
    with pytest.raises(ValueError, match=r"no pad token; .*special_tokens=\{'pad': '<pad>'\}"):
        tok.encode_batch(["ab", "c"])


# ---- bad special-token tables --------------------------------------------------------------------
def test_bad_special_token_tables_name_the_problem():
    with pytest.raises(ValueError, match="unknown special-token role 'start'"):
        check_special_tokens({"start": "<s>"}, "T")
    with pytest.raises(ValueError, match="'<s>' is given for two roles"):
        check_special_tokens({"bos": "<s>", "cls": "<s>"}, "T")
    with pytest.raises(ValueError, match="for 'pad' must be a non-empty str"):
        check_special_tokens({"pad": ""}, "T")
    with pytest.raises(ValueError, match=r"'a' \(pad\) is already in the vocabulary"):
        CharTokenizer.from_text("abc", special_tokens={"pad": "a"})
    with pytest.raises(ValueError, match="unk=..."):
        CharTokenizer.from_text("abc", special_tokens={"unk": "<unk>"})
    with pytest.raises(ValueError, match="no 'unk' token"):
        BPETokenizer(special_tokens={"unk": "<unk>"})
    with pytest.raises(TypeError, match="list of str"):
        CharTokenizer.from_text("abc").encode_batch("abc")
    with pytest.raises(ValueError, match="2 texts but 1 text_pairs"):
        CharTokenizer.from_text("abc").encode_batch(["a", "b"], ["c"])
