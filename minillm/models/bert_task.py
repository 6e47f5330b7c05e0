"""The data `minillm train --model=bert` pre-trains on: a WordPiece tokenizer fitted to the corpus
and masked-LM + next-sentence pairs (C12) behind the Corpus interface of the training loop,
`get_batch(split, batch_size, block_size, rng) -> (inputs, targets)`.

Documents and segments. The shipped corpus is eight plays: each play is a document and each
spoken line a segment (speaker names and stage directions left out), so a NotNext B comes from
another play. Any other text is one document of lines.

Splits. Each document is cut at `train_fraction` of its segments: the head trains, the tail
gives the held-out pairs that the evaluation reports (NSP accuracy on held-out pairs). For the
shipped corpus, the speeches that the fine-tuning tasks hold out for validation and test
(`play_classification` and `person_tagging`, val and test) are left out of pre-training
altogether, so no fine-tuned model is scored on text its encoder was pre-trained on. The
WordPiece vocabulary is fitted to the training segments only.
"""

import numpy as np

from ..data import (
    PretrainingPairs,
    WordPieceTokenizer,
    load_plays,
    load_text,
    person_tagging,
    play_classification,
)
from .bert_pretraining import pack_targets

WORDPIECE_SCORE = "likelihood"  # keeps frequent words whole on a small corpus (see data/)


def held_out_speech_lines() -> set:
    """Line numbers (in shakespeare.txt) of the speeches the fine-tuning tasks validate and test
    on: play_classification's and person_tagging's val and test splits."""
    lines = set()
    for task in (play_classification(), person_tagging()):
        for split in ("val", "test"):
            lines.update(task[split]["line"].tolist())
    return lines


def documents_of(text: str, exclude_lines=frozenset()) -> list:
    """Documents as lists of segment strings: one per play (its spoken lines, speeches whose
    line number is in exclude_lines left out) when the text is laid out like the shipped corpus,
    else one document of the text's non-empty lines."""
    try:
        plays = load_plays(text)
    except ValueError:
        return [[line for line in text.splitlines() if line.strip()]]
    return [
        [line for s in play.speeches if s.line not in exclude_lines for line in s.lines]
        for play in plays
    ]


def split_documents(documents, train_fraction: float):
    """Cut each document at train_fraction of its segments: (heads, tails) (empty tails left
    out), PretrainingPairs.split's rule on strings."""
    cuts = [max(1, int(len(doc) * train_fraction)) for doc in documents]
    heads = [doc[:c] for doc, c in zip(documents, cuts)]
    tails = [doc[c:] for doc, c in zip(documents, cuts) if doc[c:]]
    return heads, tails


class PretrainingTask:
    """Masked-LM + next-sentence batches of a train and a val PretrainingPairs, with the Corpus
    interface: get_batch(split, B, T, rng) -> ((input_ids, attention_mask, token_type_ids),
    targets), every array (B, T) int64, targets packed by pack_targets (next-sentence label in
    the [CLS] column, masked-LM labels elsewhere). T is the pair length (max_len)."""

    def __init__(self, train_docs, val_docs, tokenizer, mask_prob: float = 0.15):
        self.tokenizer = tokenizer
        self.mask_prob = mask_prob
        self.docs = {"train": train_docs, "val": val_docs}  # lists of lists of 1-D id arrays
        self._pairs = {}  # (split, T) -> PretrainingPairs

    @classmethod
    def from_texts(cls, train_docs, val_docs, tokenizer, mask_prob: float = 0.15):
        """Documents of segment strings, encoded without special tokens."""

        def encode(docs):
            return [[tokenizer.encode(s, add_special_tokens=False) for s in d] for d in docs]

        return cls(encode(train_docs), encode(val_docs), tokenizer, mask_prob)

    def token_counts(self, vocab_size: int) -> np.ndarray:
        """(vocab_size,) how often each id occurs in the training documents (no specials)."""
        ids = [s for d in self.docs["train"] for s in d]
        ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)  # (N,)
        return np.bincount(ids, minlength=vocab_size)

    def pairs(self, split: str, T: int) -> PretrainingPairs:
        if split not in self.docs:
            raise ValueError(f"PretrainingTask: unknown split {split!r}; expected train or val")
        if (split, T) not in self._pairs:
            self._pairs[split, T] = PretrainingPairs(self.docs[split], self.tokenizer, T)
        return self._pairs[split, T]

    def get_batch(self, split: str, batch_size: int, block_size: int, rng: np.random.Generator):
        b = self.pairs(split, block_size).batch(batch_size, rng, self.mask_prob)
        inputs = (b["input_ids"], b["attention_mask"], b["token_type_ids"])  # (B, T) each
        return inputs, pack_targets(b["mlm_labels"], b["next_sentence_label"])  # (B, T)

    def __repr__(self) -> str:
        n = {k: sum(len(s) for d in docs for s in d) for k, docs in self.docs.items()}
        return (
            f"PretrainingTask(masked LM + next sentence; train {len(self.docs['train'])} "
            f"documents, {n['train']:,} tokens; val {len(self.docs['val'])} documents, "
            f"{n['val']:,} tokens)"
        )


def prepare_masked_lm(dataset, vocab_size, train_fraction: float, tokenizer=None):
    """(tokenizer, PretrainingTask) for a masked_lm run on `dataset` (a shipped corpus name or a
    file): a WordPiece of vocab_size tokens fitted to the training segments, unless a tokenizer
    is given (a resumed run keeps its own)."""
    text = load_text(dataset)
    exclude = held_out_speech_lines() if dataset == "shakespeare" else frozenset()
    train_docs, val_docs = split_documents(documents_of(text, exclude), train_fraction)
    if tokenizer is None:
        train_text = "\n".join(s for d in train_docs for s in d)
        tokenizer = WordPieceTokenizer().train(train_text, vocab_size, score=WORDPIECE_SCORE)
    elif not isinstance(tokenizer, WordPieceTokenizer):
        raise TypeError(
            f"masked_lm: a BERT trains with a WordPiece tokenizer, got {type(tokenizer).__name__}"
        )
    return tokenizer, PretrainingTask.from_texts(train_docs, val_docs, tokenizer)
