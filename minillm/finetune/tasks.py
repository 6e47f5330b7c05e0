"""The two labelled tasks on the shipped plays, encoded for a BERT: sequence classification
("play": which play a speech comes from) and token classification ("persons": BIO tags of the
person names in a speech). Kept apart: one label per text vs one label per token.

Each task holds its splits as encoded examples and gives padded batches
((input_ids, attention_mask, token_type_ids), targets), the classifier model over an encoder,
and its evaluation (predictions, the report, the number that picks the best epoch).

Sequence classification: [CLS] speech [SEP], cut at max_len tokens; targets (B,) play ids.
Token classification: the speech's words (data.person_tagging, case kept) through WordPiece one
by one (encode_words); a word's tag goes on its first piece, its other pieces and [CLS]/[SEP]
get -100 (Hugging Face's convention); a speech longer than max_len is cut into chunks of whole
words, so every word is tagged once. A word's prediction is the argmax at its first piece.

max_train / max_eval (quick runs) keep a seeded sample of each split stratified by play
(limit_split), not its first texts: the splits are in corpus order, play after play.
"""

import numpy as np

from ..data import person_tagging, play_classification
from ..data.tokenizer_base import pad_sequences
from ..models import BertForSequenceClassification, BertForTokenClassification
from ..models.bert_heads import IGNORE_INDEX
from ..tensor import no_grad
from .entities import entity_report
from .lm_task import LanguageModelling
from .report import classification_report

SPLITS = ("train", "val", "test")


def limit_split(d: dict, cap, strata, seed: int = 0) -> dict:
    """A split's dict cut to `cap` examples (None, or cap >= its size: the split itself): a
    sample stratified by `strata` ((N,) class ids: the play of each text), drawn with
    default_rng([seed, 11]) and kept in corpus order. Each class gets about cap * n_c / N.

    The splits are in corpus order, so "the first cap texts" would be the first play's only (a
    one-class training set, and a one-class test set for max_eval)."""
    strata = np.asarray(strata)
    n = len(strata)
    if cap is None or cap >= n:
        return d
    rng = np.random.default_rng([seed, 11])
    key = np.empty(n)  # (N,) each class's texts at evenly spread ranks in [0, 1), shuffled
    for c in np.unique(strata):
        idx = np.flatnonzero(strata == c)  # (n_c,)
        key[idx] = (rng.permutation(len(idx)) + rng.random()) / len(idx)
    keep = np.sort(np.argsort(key, kind="stable")[:cap])  # (cap,) corpus order
    return {k: [v[i] for i in keep] if isinstance(v, list) else np.asarray(v)[keep]
            for k, v in d.items()}  # fmt: skip


def _limited(data: dict, strata_key: str, max_train, max_eval) -> dict:
    """data with train cut to max_train texts and val, test to max_eval (limit_split)."""
    out = dict(data)
    for split in SPLITS:
        cap = max_train if split == "train" else max_eval
        out[split] = limit_split(data[split], cap, data[split][strata_key])
    return out


class LabelledTask:
    """What both tasks share: batches of encoded examples and batched prediction."""

    name = ""
    kind = ""
    model_class = None

    def __init__(self, tokenizer, max_len: int):
        if tokenizer.cls_id is None or tokenizer.pad_id is None:
            raise ValueError(f"{self.name}: the tokenizer needs [CLS], [SEP] and [PAD] tokens")
        self.tokenizer, self.max_len = tokenizer, max_len
        self.examples = {}  # split -> list of (ids (N,), targets: int or (N,) array)

    @property
    def labels(self) -> list:
        """The class names (plays, or tags)."""
        raise NotImplementedError

    def build_model(self, encoder, seed: int = 0):
        """The classifier over `encoder` (a BERT) with a fresh head of len(labels) classes."""
        return self.model_class.from_encoder(encoder, len(self.labels), seed)

    def size(self, split: str) -> int:
        return len(self.examples[split])

    def batch(self, split: str, rows) -> tuple:
        """((input_ids, attention_mask, token_type_ids), targets) of the examples `rows`, padded
        to the longest (targets: (B,) or (B, T) padded with -100)."""
        ex = [self.examples[split][int(i)] for i in rows]
        ids, mask = self.tokenizer.pad([e[0] for e in ex])  # (B, T)
        if isinstance(ex[0][1], np.ndarray):
            targets, _ = pad_sequences([e[1] for e in ex], IGNORE_INDEX, ids.shape[1])  # (B, T)
        else:
            targets = np.array([e[1] for e in ex], dtype=np.int64)  # (B,)
        return (ids, mask, np.zeros_like(ids)), targets

    def batches(self, split: str, batch_size: int, rng=None):
        """Every example once: shuffled by rng, or in order (rng None)."""
        n = self.size(split)
        order = rng.permutation(n) if rng is not None else np.arange(n)
        for start in range(0, n, batch_size):
            yield self.batch(split, order[start : start + batch_size])

    def logits(self, model, split: str, batch_size: int = 32) -> list:
        """The model's logits for every example of `split`, in order (eval mode, no graph)."""
        was_training = model.training
        model.eval()
        out = []
        try:
            with no_grad():
                for x, _ in self.batches(split, batch_size):
                    z = model(*x)[0].data  # (B, n) or (B, T, n)
                    out += [z[b] for b in range(z.shape[0])]
        finally:
            model.train(was_training)
        return out


class PlayClassification(LabelledTask):
    """Sequence classification: which of the eight plays a speech comes from."""

    name = "play"
    kind = "sequence_classification"
    model_class = BertForSequenceClassification

    def __init__(self, tokenizer, max_len: int = 128, data=None, max_train=None, max_eval=None):
        super().__init__(tokenizer, max_len)
        data = play_classification() if data is None else data
        self.data = _limited(data, "label", max_train, max_eval)
        for split in SPLITS:
            d = self.data[split]
            self.examples[split] = [
                (tokenizer.encode(t, max_len=max_len, truncation=True), int(y))
                for t, y in zip(d["text"], d["label"])
            ]

    @property
    def labels(self) -> list:
        return list(self.data["classes"])

    def evaluate(self, model, split: str, batch_size: int = 32) -> dict:
        """{"report": the per-play report (C20), "score": accuracy, "predicted": (N,) ids}."""
        predicted = np.array([z.argmax() for z in self.logits(model, split, batch_size)])
        true = np.array([e[1] for e in self.examples[split]], dtype=np.int64)
        report = classification_report(true, predicted, self.labels)
        return {"report": report, "score": report["accuracy"], "predicted": predicted}


def word_chunks(piece_counts, budget: int) -> list:
    """Cut a sequence of words into runs of whole words holding at most `budget` pieces each:
    [(start, end), ...]. A single word longer than the budget is a chunk of its own (cut)."""
    chunks, start, used = [], 0, 0
    for i, n in enumerate(piece_counts):
        if used + n > budget and i > start:
            chunks.append((start, i))
            start, used = i, 0
        used += n
    if start < len(piece_counts) or not chunks:
        chunks.append((start, len(piece_counts)))
    return chunks


class PersonTagging(LabelledTask):
    """Token classification: BIO tags (O, B-PER, I-PER) of person names, word by word."""

    name = "persons"
    kind = "token_classification"
    model_class = BertForTokenClassification

    def __init__(self, tokenizer, max_len: int = 128, data=None, max_train=None, max_eval=None):
        super().__init__(tokenizer, max_len)
        data = person_tagging() if data is None else data
        self.data = _limited(data, "play", max_train, max_eval)
        self.words = {}  # split -> per example: (speech index in self.data, the words tagged)
        for split in SPLITS:
            d = self.data[split]
            self.examples[split], self.words[split] = [], []
            for s, (words, tags) in enumerate(zip(d["tokens"], d["tags"])):
                pieces = [tokenizer.encode(w, add_special_tokens=False) for w in words]
                for a, b in word_chunks([len(p) for p in pieces], max_len - 2):
                    self._add(split, s, a, b, pieces, tags)

    def _add(self, split, s, a, b, pieces, tags):
        ids, targets, tagged = [], [], []
        for w in range(a, b):
            p = pieces[w][: self.max_len - 2]  # (n_w,); only a single over-long word is cut
            if len(p):  # a word of control characters alone has no piece, and stays "O"
                ids.extend(p.tolist())
                targets.extend([int(tags[w])] + [IGNORE_INDEX] * (len(p) - 1))
                tagged.append(w)
        full, _ = self.tokenizer.build_inputs(np.array(ids, dtype=np.int64))  # [CLS] .. [SEP]
        targets = np.array([IGNORE_INDEX, *targets, IGNORE_INDEX], dtype=np.int64)
        self.examples[split].append((full, targets))
        self.words[split].append((s, np.array(tagged, dtype=np.int64)))

    @property
    def labels(self) -> list:
        return list(self.data["tag_names"])

    def word_predictions(self, model, split: str, batch_size: int = 32) -> list:
        """Predicted tag ids per speech, word by word (words without a piece get "O")."""
        d = self.data[split]
        n = 1 + max((s for s, _ in self.words[split]), default=-1)
        out = [np.zeros(len(d["tokens"][s]), dtype=np.int64) for s in range(n)]
        logits = self.logits(model, split, batch_size)
        for (s, words), z, (_, t) in zip(self.words[split], logits, self.examples[split]):
            first = np.flatnonzero(t != IGNORE_INDEX)  # (n_words,) the first piece of each word
            out[s][words] = z[first].argmax(axis=-1)
        return out

    def evaluate(self, model, split: str, batch_size: int = 32) -> dict:
        """{"report": tag-level report over words (C20), "entities": entity-level report,
        "score": entity F1, "predicted": per-speech tag ids}."""
        predicted = self.word_predictions(model, split, batch_size)
        true = self.data[split]["tags"][: len(predicted)]
        report = classification_report(np.concatenate(true), np.concatenate(predicted), self.labels)
        entities = entity_report(true, predicted, self.labels)
        return {
            "report": report,
            "entities": entities,
            "score": entities["micro avg"]["f1"],
            "predicted": predicted,
        }


TASKS = {"play": PlayClassification, "persons": PersonTagging, "lm": LanguageModelling}


def get_task(name: str):
    """The task class of a name; ValueError naming the tasks."""
    if name not in TASKS:
        raise ValueError(f"finetune: unknown task {name!r}; tasks: {', '.join(TASKS)}")
    return TASKS[name]
