"""Byte-pair encoding, part 1: pre-splitting text and learning the merges.

BPE (Sennrich et al. 2016, byte-level as in GPT-2) starts from the 256 possible bytes, so *any*
string has an encoding: its UTF-8 bytes. Training then repeats one step: find the most frequent
pair of adjacent tokens in the training text and give it a new id (256, 257, ...), replacing every
occurrence. Each merge shortens the text; after ``vocab_size - 256`` merges frequent words and
word pieces are single tokens.

Pre-splitting. Like GPT-2 we first cut the text into chunks with a regular expression (words with
their leading space, numbers, runs of punctuation, whitespace) and never merge across a chunk
boundary, so " the" becomes a token but "e." or "d t" do not. ``GPT2_SPLIT_PATTERN`` is GPT-2's
pattern rewritten for the standard ``re`` module, which has no ``\\p{L}``/``\\p{N}``:
letters are ``[^\\W\\d_]`` (word characters that are not digits or underscore), numbers ``\\d``,
and everything else that is not whitespace (underscore included) counts as punctuation. Every
character falls in one branch, so the chunks always join back to the text.

Speed. Counting pairs over the whole text at every step would cost O(len(text)) per merge. Instead
we count over the *unique* chunks weighted by their frequency (Shakespeare: ~1M chars but ~30k
distinct chunks), keep the pair counts up to date by touching only the chunks that contain the
merged pair (an index pair -> chunks), and pick the best pair from a heap.

Ties. When several pairs share the highest count we merge the smallest pair ``(a, b)`` in id
order (compare ``a`` first, then ``b``). The result depends only on the text, never on dict or
set ordering.
"""

import heapq
import re
from collections import Counter, defaultdict

GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""


def split_chunks(text: str, pattern: re.Pattern | None) -> list[str]:
    """Cut ``text`` into the chunks that merges may not cross (the whole text if no pattern)."""
    if pattern is None:
        return [text] if text else []
    return pattern.findall(text)


def adjacent_pairs(ids: list[int]):
    """The neighbouring pairs (ids[0], ids[1]), (ids[1], ids[2]), ... (none for < 2 ids)."""
    return zip(ids, ids[1:], strict=False)


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace each occurrence of ``pair`` in ``ids`` by ``new_id``, scanning left to right.

    Occurrences do not overlap: with pair (a, a), "a a a" becomes "new a".
    """
    # BEGIN EXERCISE BPE: scan ids left to right; each (pair[0], pair[1]) becomes new_id,
    # occurrences never overlap
    out = []
    i = 0
    n = len(ids)
    while i < n:
        if i + 1 < n and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
    # END EXERCISE


def train_merges(
    chunk_counts: dict[bytes, int], n_merges: int, verbose: bool = False
) -> list[tuple[int, int]]:
    """Learn up to ``n_merges`` merges from chunks (UTF-8 bytes) and how often each occurs.

    Returns the merged pairs in order: the pair at index ``r`` (its *rank*) gets id ``256 + r``.
    Stops early when no pair is left (every chunk is a single token).
    """
    keys = sorted(chunk_counts)  # a fixed order of the words, whatever the dict's order
    words = [list(k) for k in keys]
    freqs = [chunk_counts[k] for k in keys]
    counts: Counter = Counter()  # pair -> weighted number of occurrences
    where = defaultdict(set)  # pair -> indices of the words that contain it
    for i, word in enumerate(words):
        for pair in adjacent_pairs(word):
            counts[pair] += freqs[i]
            where[pair].add(i)
    # heap order: highest count first, ties to the smallest pair
    heap = [(-c, pair) for pair, c in counts.items()]
    heapq.heapify(heap)
    vocab = [bytes([b]) for b in range(256)]
    merges = []
    while len(merges) < n_merges and heap:
        neg, pair = heapq.heappop(heap)
        if counts.get(pair) != -neg:
            continue  # stale entry: the count changed after this was pushed
        new_id = 256 + len(merges)
        merges.append(pair)
        vocab.append(vocab[pair[0]] + vocab[pair[1]])
        if verbose:
            done = f"{len(merges)}/{n_merges}"
            print(f"merge {done}: {pair} -> {new_id} {vocab[-1]!r} (count {-neg})")
        changed = set()
        for i in sorted(where.pop(pair, ())):
            old = words[i]
            new = merge_pair(old, pair, new_id)
            if len(new) == len(old):
                continue  # index entry left over from before an earlier merge
            for p in adjacent_pairs(old):
                counts[p] -= freqs[i]
                changed.add(p)
            for p in adjacent_pairs(new):
                counts[p] += freqs[i]
                where[p].add(i)
                changed.add(p)
            words[i] = new
        for p in sorted(changed):
            if counts[p] > 0:
                heapq.heappush(heap, (-counts[p], p))
            else:
                del counts[p]
    return merges
