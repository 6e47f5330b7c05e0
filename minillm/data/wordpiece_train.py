"""WordPiece, part 1: learning the vocabulary from word counts.

WordPiece (Schuster & Nakajima 2012; Wu et al. 2016, the vocabulary of BERT) builds its
vocabulary bottom-up like BPE: start from single characters and repeatedly join the best pair
of adjacent pieces into a new piece. A piece that does not start a word carries the prefix
``##``, so "hug" starts as ``h ##u ##g`` and the pair (``h``, ``##u``) becomes ``hu``.

The difference is the score. BPE joins the most frequent pair; WordPiece joins the pair that
raises the likelihood of the training data most under a unigram model of the pieces, which
comes to the pair whose parts occur together far more often than by chance::

    score(a, b) = freq(ab) / (freq(a) * freq(b))

(the form Hugging Face's course gives, ``score="ratio"``, the default). A frequent pair of
frequent pieces ("t", "##h") scores low; a pair whose pieces seldom occur apart scores high.
The ratio ignores how often the pair occurs, so on a small corpus it spends the vocabulary on
rare words and leaves frequent ones in pieces: on the shipped Shakespeare at 4,000 tokens "the"
stays ``th ##e`` and "romeo" ``r ##o ##m ##e ##o`` (2.5 pieces per word, 3 s to train).

``score="likelihood"`` is the criterion the ratio approximates (Schuster & Nakajima 2012: add
the unit that raises the training data's likelihood most): the exact gain in log-likelihood of
a unigram model of the pieces when the k occurrences of (a, b) become one new piece ab. With
f(x) = x log x, counts c and N pieces in all::

    gain(a, b) = f(k) + f(c_a - k) + f(c_b - k) - f(c_a) - f(c_b) - f(N - k) + f(N)

(for a == b: f(k) + f(c_a - 2k) - f(c_a) - f(N - k) + f(N)). It keeps frequent words whole
("the", "romeo": 1.1 pieces per word at 4,000 tokens) and takes about 4x longer (11 s).

Deviation: Hugging Face's ``tokenizers`` WordPieceTrainer actually trains BPE (frequency) and
keeps the ``##`` pieces; Google never released its trainer.

Determinism. Frequencies are integers below 2**53, so each ratio is one correctly rounded
division and equal fractions give equal floats. Among pairs of the highest score we join the one
whose (a, b) strings sort first; likelihood gains within 1e-11 N log N of the best count as tied
(equal gains summed in a different order differ in the last bits). The result depends only on
the counts.

Speed. Pair counts are updated only in the words that hold the merged pair (as ``bpe_train``
does); each step scores all pairs at once with NumPy.
"""

from collections import defaultdict

import numpy as np

from .bpe_train import adjacent_pairs, merge_pair


def initial_alphabet(words) -> list[str]:
    """Every first character, and every later character with ``##``, sorted."""
    first = {w[0] for w in words}
    later = {"##" + ch for w in words for ch in w[1:]}
    return sorted(first | later)


class _PairTable:
    """Pair -> slot in growable arrays of (left id, right id, count), for scoring in bulk."""

    def __init__(self):
        self.slot = {}
        self.left = np.zeros(1024, dtype=np.int64)
        self.right = np.zeros(1024, dtype=np.int64)
        self.count = np.zeros(1024, dtype=np.int64)

    def add(self, pair, delta: int) -> None:
        s = self.slot.get(pair)
        if s is None:
            s = self.slot[pair] = len(self.slot)
            if s == len(self.count):  # double the capacity
                self.left, self.right, self.count = (
                    np.concatenate([a, np.zeros_like(a)])
                    for a in (self.left, self.right, self.count)
                )
            self.left[s], self.right[s] = pair
        self.count[s] += delta


def _xlogx(x: np.ndarray) -> np.ndarray:
    x = np.maximum(x, 0).astype(np.float64)  # an overlapping pair (a, a) can over-count
    return x * np.log(np.maximum(x, 1.0))  # 0 log 0 = 0


def pair_scores(count, c_a, c_b, same, n_pieces: int, score: str) -> np.ndarray:
    """The score of each pair: count k (P,), piece counts c_a, c_b (P,), a == b mask (P,)."""
    if score == "ratio":
        return count / (c_a * c_b)  # (P,) freq(ab) / (freq(a) freq(b))
    lost_b = np.where(same, 0, _xlogx(c_b - count) - _xlogx(c_b))  # (P,)
    c_a_after = np.where(same, c_a - 2 * count, c_a - count)  # (P,)
    norm = _xlogx(np.float64(n_pieces)) - _xlogx(n_pieces - count)  # (P,) f(N) - f(N - k)
    return _xlogx(count) + _xlogx(c_a_after) - _xlogx(c_a) + lost_b + norm  # (P,)


SCORES = ("ratio", "likelihood")


def train_wordpiece(
    word_counts: dict[str, int], vocab_size: int, initial=(), score: str = "ratio"
) -> list[str]:
    """The vocabulary learned from ``word_counts`` (word -> how often it occurs).

    Returns the tokens in id order: ``initial`` (the special tokens), the alphabet
    (``initial_alphabet``), then one piece per merge until ``vocab_size`` tokens or until no
    pair is left. ``score``: ``"ratio"`` or ``"likelihood"`` (see above). Raises ValueError when
    ``vocab_size`` is below the initial tokens plus the alphabet.
    """
    if score not in SCORES:
        raise ValueError(f"train_wordpiece: score must be one of {SCORES}, got {score!r}")
    words = sorted(w for w in word_counts if w)  # a fixed order, whatever the dict's
    freqs = np.array([word_counts[w] for w in words], dtype=np.int64)  # (W,)
    tokens = list(initial) + [t for t in initial_alphabet(words) if t not in initial]
    if vocab_size < len(tokens):
        raise ValueError(
            f"train_wordpiece: vocab_size={vocab_size} is below the {len(initial)} initial tokens "
            f"plus the {len(tokens) - len(initial)} characters of the alphabet ({len(tokens)})"
        )
    token_id = {t: i for i, t in enumerate(tokens)}
    splits = [[token_id[w[0]]] + [token_id["##" + ch] for ch in w[1:]] for w in words]
    token_freq = np.zeros(vocab_size, dtype=np.int64)  # (V,) occurrences of each piece
    pairs = _PairTable()
    where = defaultdict(set)  # pair -> indices of the words that hold it
    for i, split in enumerate(splits):
        np.add.at(token_freq, split, freqs[i])
        for pair in adjacent_pairs(split):
            pairs.add(pair, int(freqs[i]))
            where[pair].add(i)
    while len(tokens) < vocab_size:
        live = np.flatnonzero(pairs.count[: len(pairs.slot)])  # (P,) slots of existing pairs
        if live.size == 0:
            break  # every word is a single piece
        left, right = pairs.left[live], pairs.right[live]  # (P,)
        c_a, c_b = token_freq[left], token_freq[right]  # (P,)
        scores = pair_scores(pairs.count[live], c_a, c_b, left == right, token_freq.sum(), score)
        # likelihood gains are sums of terms up to N log N: rounding noise is not a real lead
        n = float(token_freq.sum())
        tol = 1e-11 * n * np.log(n) if score == "likelihood" else 0.0
        tied = live[scores >= scores.max() - tol]
        best = min(tied, key=lambda s: (tokens[pairs.left[s]], tokens[pairs.right[s]]))
        a, b = int(pairs.left[best]), int(pairs.right[best])
        piece = tokens[a] + tokens[b][2:]  # b never starts a word, so it carries "##"
        if piece not in token_id:
            token_id[piece] = len(tokens)
            tokens.append(piece)
        new_id = token_id[piece]
        for i in sorted(where.pop((a, b), ())):
            old = splits[i]
            new = merge_pair(old, (a, b), new_id)
            k = (len(old) - len(new)) * int(freqs[i])  # occurrences merged, times the frequency
            if k == 0:
                continue  # index entry left over from an earlier merge
            token_freq[a] -= k
            token_freq[b] -= k
            token_freq[new_id] += k
            for p in adjacent_pairs(old):
                pairs.add(p, -int(freqs[i]))
            for p in adjacent_pairs(new):
                pairs.add(p, int(freqs[i]))
                where[p].add(i)
            splits[i] = new
    return tokens
