"""BERT's pre-training data: masked-LM inputs and labels, and next-sentence pairs (C12).

Masked LM (Devlin et al. 2019, section 3.1, "Task #1"): select 15 % of the tokens; replace 80 %
of the selected ones with ``[MASK]``, 10 % with a random token and leave 10 % unchanged; the
model must predict the original token at every selected position (the loss is summed over the
selected set only, F6). The random and unchanged 20 % keep the model from learning that only
``[MASK]`` positions matter, since ``[MASK]`` never occurs at fine-tuning time.

Next-sentence prediction (section 3.1, "Task #2", F7): a pair ``[CLS] A [SEP] B [SEP]`` where B
is the text that follows A half of the time (IsNext, label 0) and a text from elsewhere in the
corpus the other half (NotNext, label 1); the labels follow Hugging Face's
``BertForPreTraining.next_sentence_label`` ("0 indicates sequence B is a continuation of
sequence A"). Segments are packed up to ``max_len`` tokens as in Google's
``create_pretraining_data.py``.
"""

import numpy as np

from .tokenizer_base import pad_sequences, truncated_lengths

IGNORE_INDEX = -100  # label of a position outside the masked set (PyTorch's ignore_index)
IS_NEXT, NOT_NEXT = 0, 1


def _check_prob(name: str, p, who: str = "mask_tokens") -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{who}: {name} must be a probability in [0, 1], got {p!r}")
    return float(p)


def mask_tokens(
    ids, rng: np.random.Generator, tokenizer, mask_prob=0.15, mask_frac=0.8, random_frac=0.1
):
    """Masked-LM inputs and labels: ``(inputs, labels)``, both int64 and shaped like ``ids``.

    Each token that is not special (``tokenizer.special_tokens_mask``: ``[PAD]``, ``[CLS]``,
    ``[SEP]``, ``[MASK]``, ``[UNK]``) is selected with probability ``mask_prob``, independently
    (a Bernoulli draw, as Hugging Face's ``DataCollatorForLanguageModeling``). A selected token
    becomes ``[MASK]`` with probability ``mask_frac``, a random token with ``random_frac`` and
    stays itself otherwise. ``labels`` holds the original id at selected positions and
    ``IGNORE_INDEX`` (-100) elsewhere.

    Deviation: the random token is drawn uniformly from the non-special ids; Google's code and
    Hugging Face's draw from the whole vocabulary, special tokens included.
    Deviation: Google's code selects exactly round(15 %) of each sequence's tokens; here the
    count is binomial.
    """
    mask_prob = _check_prob("mask_prob", mask_prob)
    mask_frac = _check_prob("mask_frac", mask_frac)
    random_frac = _check_prob("random_frac", random_frac)
    if mask_frac + random_frac > 1.0:
        raise ValueError(
            f"mask_tokens: mask_frac + random_frac must be <= 1, got {mask_frac} + {random_frac}"
        )
    if tokenizer.mask_id is None:
        raise ValueError(f"mask_tokens: {type(tokenizer).__name__} has no mask token")
    ids = np.asarray(ids)
    if ids.dtype == np.bool_ or not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"mask_tokens: ids must be integers, got dtype {ids.dtype}")
    bad = np.argwhere((ids < 0) | (ids >= tokenizer.vocab_size))
    if bad.size:
        where = tuple(bad[0].tolist())
        raise IndexError(
            f"mask_tokens: id {int(ids[where])} at index {where} is outside the vocabulary "
            f"[0, {tokenizer.vocab_size})"
        )
    ordinary = np.setdiff1d(np.arange(tokenizer.vocab_size), tokenizer.all_special_ids)  # (V',)
    # BEGIN EXERCISE C12: select each non-special token with probability mask_prob (one uniform draw
    # each); a second draw per token makes a selected one [MASK] (below mask_frac), a random
    # ordinary token (the next random_frac) or leaves it; labels = ids where selected, IGNORE_INDEX
    # elsewhere
    selected = (rng.random(ids.shape) < mask_prob) & ~tokenizer.special_tokens_mask(ids)
    action = rng.random(ids.shape)  # one draw decides [MASK] / random / unchanged
    to_mask = selected & (action < mask_frac)
    to_random = selected & (action >= mask_frac) & (action < mask_frac + random_frac)
    inputs = ids.astype(np.int64)  # a copy
    inputs[to_mask] = tokenizer.mask_id
    inputs[to_random] = rng.choice(ordinary, size=int(to_random.sum()))
    labels = np.where(selected, ids, IGNORE_INDEX).astype(np.int64)
    # END EXERCISE
    return inputs, labels


class PretrainingPairs:
    """Next-sentence pairs drawn from documents of segments, packed to ``max_len`` tokens.

    ``documents``: a list of documents, each a list of 1-D id arrays (its segments in order:
    sentences, or lines of a play), no special tokens. ``tokenizer`` gives ``[CLS]``, ``[SEP]``,
    ``[PAD]``, ``[MASK]`` and the vocabulary. ``PretrainingPairs.from_texts`` builds the
    documents from texts, one segment per non-empty line.

    One example (``sample``), with a budget of ``max_len - 3`` tokens for A and B:
    1. pick a segment uniformly among those followed, in their document, by at least 2 tokens;
       take it and the segments after it until the budget is filled or the document ends;
    2. cut this chunk in two at a segment boundary chosen uniformly (inside a segment when the
       chunk is a single segment): A is the first part;
    3. with probability ``1 - nsp_prob`` B is the second part (IsNext, 0); otherwise (NotNext, 1)
       B is taken from a segment chosen uniformly in another document (with one document: not
       inside the chunk nor right after it) and the segments after it, to fill the budget;
    4. if A and B overflow the budget, remove tokens from the longer one, from A's start and
       from B's end (so an IsNext B still follows A directly).
    Deviation: Google's code fills each document's examples in order and picks a shorter target
    length 10 % of the time; this samples examples independently, so any seed and any number
    of batches give the same distribution.
    """

    def __init__(self, documents, tokenizer, max_len: int = 128, nsp_prob: float = 0.5):
        for role in ("cls", "sep", "pad", "mask"):
            if tokenizer.special_ids.get(role) is None:
                raise ValueError(f"PretrainingPairs: the tokenizer has no {role!r} token")
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 5:
            raise ValueError(f"PretrainingPairs: max_len must be an int >= 5, got {max_len!r}")
        self.nsp_prob = _check_prob("nsp_prob", nsp_prob, "PretrainingPairs")
        self.tokenizer = tokenizer
        self.max_len = max_len
        self.documents = [
            [np.asarray(s, dtype=np.int64) for s in doc if len(s) > 0] for doc in documents
        ]
        # (doc, segment) of every segment with at least 2 tokens from it to the document's end
        self.starts = []
        for d, doc in enumerate(self.documents):
            tokens_from = np.cumsum([len(s) for s in doc][::-1])[::-1]  # (S,) tokens from i on
            self.starts += [(d, i) for i in np.flatnonzero(tokens_from >= 2).tolist()]
        if not self.starts:
            raise ValueError("PretrainingPairs: the documents hold fewer than 2 tokens in a row")

    @classmethod
    def from_texts(cls, texts, tokenizer, max_len: int = 128, nsp_prob: float = 0.5):
        """One document per text, one segment per non-empty line (encoded without specials)."""
        documents = [
            [tokenizer.encode(line, add_special_tokens=False) for line in text.splitlines()]
            for text in texts
        ]
        return cls(documents, tokenizer, max_len, nsp_prob)

    def split(self, frac: float = 0.9):
        """Cut each document at ``frac`` of its segments: ``(head, tail)``, for held-out pairs."""
        cut = [max(1, int(len(doc) * frac)) for doc in self.documents]
        head = [doc[:c] for doc, c in zip(self.documents, cut)]
        tail = [doc[c:] for doc, c in zip(self.documents, cut)]
        args = (self.tokenizer, self.max_len, self.nsp_prob)
        return PretrainingPairs(head, *args), PretrainingPairs([t for t in tail if t], *args)

    def _fill(self, d: int, i: int, budget: int) -> list[np.ndarray]:
        """Segments of document d from segment i on, until they hold ``budget`` tokens."""
        out, n = [], 0
        for seg in self.documents[d][i:]:
            out.append(seg)
            n += len(seg)
            if n >= budget:
                break
        return out

    def _random_start(self, d: int, i: int, n_chunk: int, rng) -> tuple[int, int]:
        """A segment for a NotNext B: in another document, or away from the chunk."""
        if len(self.documents) > 1:
            other = [j for j in range(len(self.documents)) if j != d and self.documents[j]]
            e = other[rng.integers(len(other))]
            return e, int(rng.integers(len(self.documents[e])))
        away = [j for j in range(len(self.documents[d])) if not i <= j <= i + n_chunk]
        if not away:
            raise ValueError("PretrainingPairs: one short document has no place for a NotNext B")
        return d, away[rng.integers(len(away))]

    def sample(self, rng: np.random.Generator):
        """One example: ``(ids, token_type_ids, is_next_label)``, ids without padding."""
        budget = self.max_len - 3  # [CLS] A [SEP] B [SEP]
        d, i = self.starts[rng.integers(len(self.starts))]
        chunk = self._fill(d, i, budget)
        tokens = np.concatenate(chunk)  # (N,)
        bounds = np.cumsum([len(s) for s in chunk])[:-1]  # segment boundaries inside the chunk
        if len(bounds):
            cut = int(bounds[rng.integers(len(bounds))])
        else:  # one segment: cut inside it
            cut = int(rng.integers(1, len(tokens)))
        a = tokens[:cut]
        if rng.random() >= self.nsp_prob:
            label, b = IS_NEXT, tokens[cut:]
        else:
            e, j = self._random_start(d, i, len(chunk), rng)
            label, b = NOT_NEXT, np.concatenate(self._fill(e, j, budget - len(a)))
        keep_a, keep_b = truncated_lengths(len(a), len(b), budget)
        a, b = a[len(a) - keep_a :], b[:keep_b]  # A loses its start, B its end
        ids, types = self.tokenizer.build_inputs(a, b)
        return ids, types, label

    def batch(self, batch_size: int, rng: np.random.Generator, mask_prob: float = 0.15):
        """``batch_size`` examples, masked, padded to ``max_len``: a dict of int64 arrays.

        ``input_ids``, ``token_type_ids``, ``attention_mask``, ``mlm_labels``: (B, T) with
        T = max_len (``mlm_labels`` is -100 outside the masked set); ``next_sentence_label``:
        (B,), 0 IsNext, 1 NotNext.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f"PretrainingPairs.batch: batch_size must be a positive int, got {batch_size!r}"
            )
        examples = [self.sample(rng) for _ in range(batch_size)]
        pad = self.tokenizer.pad_id
        ids, mask = pad_sequences([e[0] for e in examples], pad, self.max_len, "max_length")
        types, _ = pad_sequences([e[1] for e in examples], 0, self.max_len, "max_length")
        inputs, labels = mask_tokens(ids, rng, self.tokenizer, mask_prob)
        return {
            "input_ids": inputs,  # (B, T)
            "token_type_ids": types,  # (B, T)
            "attention_mask": mask,  # (B, T)
            "mlm_labels": labels,  # (B, T)
            "next_sentence_label": np.array([e[2] for e in examples], dtype=np.int64),  # (B,)
        }

    def batches(self, batch_size: int, seed: int, n_batches: int | None = None):
        """Yield ``batch(batch_size, rng)``, ``rng = default_rng(seed)``: forever, or n times."""
        rng = np.random.default_rng(seed)
        k = 0
        while n_batches is None or k < n_batches:
            yield self.batch(batch_size, rng)
            k += 1

    def __repr__(self) -> str:
        n = sum(len(s) for doc in self.documents for s in doc)
        docs = len(self.documents)
        return f"PretrainingPairs({docs} documents, {n} tokens, max_len={self.max_len})"
