"""BERT's basic tokenizer: text -> words, before WordPiece cuts the words into pieces.

The rules of Google's BERT ``tokenization.py`` (Devlin et al. 2019), as Hugging Face's
``BertTokenizer`` (the Python one, ``BertTokenizerLegacy`` since transformers 5) runs them:

1. clean: drop NUL, U+FFFD and control characters (Unicode category C*, except tab, newline and
   carriage return); turn every whitespace character (those three, the space and category Zs)
   into a space;
2. put spaces around every CJK ideograph (the CJK Unified Ideographs blocks and their
   extensions and compatibility blocks; not Hangul, Hiragana or Katakana), so each is a word;
3. Unicode NFC (one code point for "é" whichever way it was typed), then split on whitespace;
4. per word: lower-case it and strip accents (NFD, then drop the combining marks, category Mn)
   when ``lowercase``; ``strip_accents`` True/False overrides the second part, None (the
   default) follows ``lowercase``, as Hugging Face's ``strip_accents=None``;
5. split every punctuation character off as a word of its own: ASCII symbols ``!"#$%&'()*+,-./
   :;<=>?@[\\]^_`{|}~`` and everything in Unicode category P*.

So "Héllo,  wörld!!" gives ["hello", ",", "world", "!", "!"] with lower-casing. Emoji are
neither punctuation nor CJK: "I ♥🙂you" gives ["i", "♥🙂you"], and WordPiece decides the rest.
"""

import unicodedata


def is_cjk(ch: str) -> bool:
    """True for a CJK ideograph, each of which BERT makes a word of its own."""
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def is_whitespace(ch: str) -> bool:
    """Space, tab, newline, carriage return, or Unicode category Zs."""
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch: str) -> bool:
    """Unicode category C* (control, format, private use, ...), except tab, newline, return."""
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def is_punctuation(ch: str) -> bool:
    """Every non-alphanumeric printable ASCII character, and Unicode category P*."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True  # ASCII symbols such as $ ^ ` are not category P but split anyway
    return unicodedata.category(ch).startswith("P")


class _CharTable(dict):
    """A ``str.translate`` table filled on first sight of each character (one C-level pass)."""

    def __init__(self, rule):
        super().__init__()
        self.rule = rule

    def __missing__(self, cp: int) -> str:
        self[cp] = self.rule(chr(cp))
        return self[cp]


def _clean_rule(ch: str) -> str:
    if ch == "\0" or ch == "\ufffd" or is_control(ch):
        return ""  # dropped
    return " " if is_whitespace(ch) else ch


_CLEAN = _CharTable(_clean_rule)
_CLEAN_CJK = _CharTable(lambda ch: f" {ch} " if is_cjk(ch) else _clean_rule(ch))
_PUNCT = _CharTable(lambda ch: f" {ch} " if is_punctuation(ch) else ch)


def clean_text(text: str, tokenize_chinese_chars: bool = True) -> str:
    """Steps 1 and 2: drop control characters, whitespace -> space, spaces around CJK."""
    return text.translate(_CLEAN_CJK if tokenize_chinese_chars else _CLEAN)


def remove_accents(word: str) -> str:
    """NFD, then drop the combining marks (category Mn): "café" -> "cafe", "naïve" -> "naive"."""
    return "".join(
        ch for ch in unicodedata.normalize("NFD", word) if unicodedata.category(ch) != "Mn"
    )


def split_on_punctuation(word: str) -> list[str]:
    """Cut every punctuation character out as its own word: "don't!" -> ["don", "'", "t", "!"]."""
    return word.translate(_PUNCT).split()  # a word holds no whitespace: split() only cuts there


def basic_tokenize(
    text: str,
    lowercase: bool = True,
    strip_accents: bool | None = None,
    tokenize_chinese_chars: bool = True,
) -> list[str]:
    """Steps 1-5 above: the list of words of ``text`` (no word is empty or holds whitespace).

    ``strip_accents``: None follows ``lowercase`` (Hugging Face's default), True/False forces it.
    """
    if not isinstance(text, str):
        raise TypeError(f"basic_tokenize: expected str, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", clean_text(text, tokenize_chinese_chars))
    strip = lowercase if strip_accents is None else strip_accents
    words = []
    for word in text.split():
        if lowercase:
            word = word.lower()
        if strip:
            word = remove_accents(word)
        words.extend(split_on_punctuation(word))  # also drops a word that stripping emptied
    return words
