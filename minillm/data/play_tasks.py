"""Two labelled tasks on the shipped plays: sequence classification and token classification.

Sequence classification gives a whole text one label; token classification gives every token
one. The two are kept apart in names, fields and docs.

``play_classification`` (sequence classification): which of the eight plays a speech comes
from. Speeches of at least ``min_lines`` lines (4 by default: 1,775 speeches), split by speech
into train/val/test (80/10/10), stratified by play, with a fixed seed. The speaker line is not
part of the text (it would give the play away by its style).

``person_tagging`` (token classification): BIO tags for the person names in every speech. The
tokens are BERT's basic-tokenizer words with case kept (``basic_tokenize(text,
lowercase=False)``: "Hamlet's" -> Hamlet ' s), so WordPiece's ``encode_words`` aligns them. The
names come from the corpus: from each entry of a play's persons list the last capitalised
word before the first comma ("Earl of Gloster, ..." -> Gloster) and every word in capitals
("CICERO, PUBLIUS, POPILIUS LENA, Senators."), and the words of the speaker lines, all
title-cased, keeping those that never occur in lower case in any speech (so "Lady", "King",
"Nurse", "Witch" and "Bottom", whose name is also a word, are out) and occur in some speech.
A run of consecutive name tokens is one entity: "Julius Caesar" is B-PER I-PER (so "O Romeo
Romeo", without the comma, would be one entity).
Known noise: titles taken from places count as names wherever they appear ("Kent" and
"Gloster" are people in King Lear; "France" is a king there and a country in Hamlet; "Venice"
comes from the Duke of Venice).

Both return plain Python and NumPy structures (fields documented on each function). Identical
speech texts are kept once (the first), so no text is in two splits.
"""

import re

import numpy as np

from .basic_tokenizer import basic_tokenize
from .plays import load_plays

SPLITS = ("train", "val", "test")
TAG_NAMES = ("O", "B-PER", "I-PER")


def stratified_split(labels, seed: int = 0, fractions=(0.8, 0.1, 0.1)) -> dict[str, np.ndarray]:
    """Indices of each split, cut class by class: ``{"train": (n,), "val": ..., "test": ...}``.

    Within each class (in class order, one ``default_rng(seed)`` for all) the indices are
    shuffled, then val gets round(n * fractions[1]), test round(n * fractions[2]) and train the
    rest. Each split's indices are sorted.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(
            f"stratified_split: fractions must be 3 numbers >= 0 summing to 1, got {fractions!r}"
        )
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts = {name: [] for name in SPLITS}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))  # (n_c,)
        n_val, n_test = round(len(idx) * fractions[1]), round(len(idx) * fractions[2])
        n_train = len(idx) - n_val - n_test
        parts["train"].append(idx[:n_train])
        parts["val"].append(idx[n_train : n_train + n_val])
        parts["test"].append(idx[n_train + n_val :])
    return {
        k: np.sort(np.concatenate(v)).astype(np.int64) if v else np.zeros(0, np.int64)
        for k, v in parts.items()
    }


def _unique_speeches(plays, min_lines: int):
    seen, out = set(), []
    for play in plays:
        for s in play.speeches:
            if len(s.lines) >= min_lines and s.text not in seen:
                seen.add(s.text)
                out.append(s)
    return out


def play_classification(min_lines: int = 4, seed: int = 0, fractions=(0.8, 0.1, 0.1), plays=None):
    """Sequence classification: which play a speech comes from.

    Returns ``{"classes": [8 short play names], "titles": [8 titles as printed], "train": d,
    "val": d, "test": d}`` where each ``d`` holds, for its N speeches in corpus order:
    ``"text"`` (list of N str, lines joined by newlines), ``"label"`` ((N,) int64, index into
    ``classes``), ``"speaker"`` (list of N str) and ``"line"`` ((N,) int64, the speaker line's
    number in shakespeare.txt, which identifies the speech).
    """
    if isinstance(min_lines, bool) or not isinstance(min_lines, int) or min_lines < 1:
        raise ValueError(f"play_classification: min_lines must be an int >= 1, got {min_lines!r}")
    plays = load_plays() if plays is None else plays
    speeches = _unique_speeches(plays, min_lines)
    labels = np.array([s.play for s in speeches], dtype=np.int64)
    out = {"classes": [p.name for p in plays], "titles": [p.title for p in plays]}
    for split, idx in stratified_split(labels, seed, fractions).items():
        out[split] = {
            "text": [speeches[i].text for i in idx],
            "label": labels[idx],
            "speaker": [speeches[i].speaker for i in idx],
            "line": np.array([speeches[i].line for i in idx], dtype=np.int64),
        }
    return out


def person_names(plays) -> list[str]:
    """The person names of the plays (see the module docstring for the rule), sorted."""
    candidates = set()
    for play in plays:
        for entry in play.persons:
            candidates.update(re.findall(r"[A-Z][A-Za-z]+", entry.split(",")[0])[-1:])
            candidates.update(re.findall(r"\b[A-Z]{2,}\b", entry))
        for s in play.speeches:
            candidates.update(re.findall(r"[A-Za-z]{2,}", s.speaker))
    candidates = {c.title() for c in candidates}
    words = {w for p in plays for s in p.speeches for w in basic_tokenize(s.text, lowercase=False)}
    lower = {w for w in words if w.islower()}
    return sorted(c for c in candidates if c.lower() not in lower and c in words)


def bio_tags(tokens, names) -> list[str]:
    """BIO tags of ``tokens``: B-PER on a name that starts a run of names, I-PER inside it."""
    names = set(names)
    tags = []
    for i, tok in enumerate(tokens):
        if tok not in names:
            tags.append("O")
        else:
            tags.append("I-PER" if i > 0 and tokens[i - 1] in names else "B-PER")
    return tags


def person_tagging(min_lines: int = 1, seed: int = 0, fractions=(0.8, 0.1, 0.1), plays=None):
    """Token classification: BIO tags of the person names in each speech.

    Returns ``{"tag_names": ["O", "B-PER", "I-PER"], "names": [the name list], "train": d,
    "val": d, "test": d}`` where each ``d`` holds, for its N speeches in corpus order:
    ``"tokens"`` (list of N lists of str, the basic-tokenizer words), ``"tags"`` (list of N
    int64 arrays, one tag id per token, ids into ``tag_names``), ``"play"`` ((N,) int64) and
    ``"line"`` ((N,) int64). The splits are stratified by play, like ``play_classification``.
    """
    if isinstance(min_lines, bool) or not isinstance(min_lines, int) or min_lines < 1:
        raise ValueError(f"person_tagging: min_lines must be an int >= 1, got {min_lines!r}")
    plays = load_plays() if plays is None else plays
    names = person_names(plays)
    speeches = _unique_speeches(plays, min_lines)
    tag_id = {t: i for i, t in enumerate(TAG_NAMES)}
    tokens = [basic_tokenize(s.text, lowercase=False) for s in speeches]
    tags = [np.array([tag_id[t] for t in bio_tags(toks, names)], dtype=np.int64) for toks in tokens]
    plays_of = np.array([s.play for s in speeches], dtype=np.int64)
    out = {"tag_names": list(TAG_NAMES), "names": names}
    for split, idx in stratified_split(plays_of, seed, fractions).items():
        out[split] = {
            "tokens": [tokens[i] for i in idx],
            "tags": [tags[i] for i in idx],
            "play": plays_of[idx],
            "line": np.array([speeches[i].line for i in idx], dtype=np.int64),
        }
    return out
