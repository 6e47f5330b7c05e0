"""Prompting (C17): zero- and few-shot classification with a language model, no training.

The model reads a prompt of k solved examples and the query, and each label is scored by the
log-likelihood of its continuation (F1's factorisation):

    prompt = x_1 "\\n= " y_1 "\\n\\n" ... x_k "\\n= " y_k "\\n\\n" x "\\n= "
    score(y) = sum_j log p(y_j | prompt, y_<j)            y_j: the tokens of y + "\\n"
    y_hat = argmax_y score(y)                             (F11 with the pre-trained weights)

k = 0 is zero-shot: the model sees only the query and the format. The examples are a random draw
from the training split; accuracy is averaged over several draws, since a k-shot prompt's result
depends on which examples it shows (and in which order).

Fine-tuning on the same labels, for comparison (F10): the same sequences x "\\n= " y "\\n" with
the loss on y's tokens only, -sum log P(y | x) (`label_only_examples`), then the same scoring
with k = 0.

The continuations are scored in one batch per query: prompt + y_i, padded on the right, which a
causal model never attends to (F1), so each y_i's log-probabilities are those it gets alone. A
prompt longer than the context keeps its last tokens (as generation crops), and the count of
cropped prompts is reported.
"""

import numpy as np

from ..models.gpt import IGNORE_INDEX
from ..tensor import no_grad

SEPARATOR = "\n= "  # between a text and its label
END = "\n"  # after a label (scored as part of it: the label must also end there)
GAP = "\n"  # between examples (each ends with END + GAP: a blank line)


def shorten(text: str, max_chars: int) -> str:
    """The text on one line (newlines as spaces), cut at the last word boundary within
    max_chars (a prompt holds k of them, and the context is short)."""
    flat = " ".join(text.split())
    if len(flat) <= max_chars:
        return flat
    cut = flat[: max_chars + 1].rsplit(" ", 1)[0]
    return cut if cut else flat[:max_chars]


def label_subset(data: dict, classes, split: str, max_chars: int, per_class=None, seed=0):
    """(texts, label ids) of the examples of `classes` (names of data["classes"]) in one split
    of a play_classification-style dict: shortened texts, ids re-numbered 0..len(classes)-1;
    per_class: at most that many of each class, drawn with default_rng([seed, 11])."""
    index = {data["classes"].index(c): i for i, c in enumerate(classes)}
    d = data[split]
    rows = [n for n, y in enumerate(d["label"]) if int(y) in index]
    if per_class is not None:
        rng = np.random.default_rng([seed, 11])
        picked = []
        for c in index:
            mine = [n for n in rows if int(d["label"][n]) == c]
            picked += [int(n) for n in rng.permutation(mine)[:per_class]]
        rows = sorted(picked)
    texts = [shorten(d["text"][n], max_chars) for n in rows]
    return texts, np.array([index[int(d["label"][n])] for n in rows], dtype=np.int64)


def example_text(text: str, label: str) -> str:
    """One solved example of a prompt: text, separator, label, end, blank line."""
    return f"{text}{SEPARATOR}{label}{END}{GAP}"


def build_prompt(examples, query: str) -> str:
    """The k solved (text, label) examples, then the query and the separator."""
    return "".join(example_text(t, y) for t, y in examples) + query + SEPARATOR


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def label_scores(model, tokenizer, prompt: str, labels) -> tuple:
    """(scores (n_labels,), cropped): sum of log p over each label's tokens + END after the
    prompt, F1. cropped: whether the prompt was cut to fit the model's context."""
    p = [int(i) for i in tokenizer.encode(prompt)]
    conts = [[int(i) for i in tokenizer.encode(y + END)] for y in labels]
    T = model.context_length or len(p) + max(map(len, conts))
    keep = T - max(map(len, conts))
    cropped = len(p) > keep
    p = p[-keep:] if cropped else p
    L = len(p) + max(map(len, conts)) - 1  # the last label token is predicted, not input
    ids = np.zeros((len(labels), L), dtype=np.int64)  # (n, L), right-padded with 0
    for i, c in enumerate(conts):
        row = (p + c)[:L]
        ids[i, : len(row)] = row
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            logp = _log_softmax(model(ids)[0].data.astype(np.float64))  # (n, L, V)
    finally:
        model.train(was_training)
    start = len(p) - 1  # the logits at position start predict the first label token
    scores = np.array([logp[i, start + np.arange(len(c)), c].sum() for i, c in enumerate(conts)])
    return scores, cropped


def classify(model, tokenizer, examples, texts, labels) -> tuple:
    """(predicted label indices (N,), number of cropped prompts) for `texts` with the same k
    solved examples in front of each."""
    out, n_cropped = [], 0
    for text in texts:
        scores, cropped = label_scores(model, tokenizer, build_prompt(examples, text), labels)
        out.append(int(scores.argmax()))
        n_cropped += cropped
    return np.array(out, dtype=np.int64), n_cropped


def few_shot_accuracy(model, tokenizer, train, test, labels, k: int, draws: int = 3, seed=0):
    """Accuracy of k-shot prompting on test = (texts, label ids), the k examples drawn from
    train = (texts, label ids) afresh for each of `draws` draws (default_rng([seed, k, d])).
    {"k", "mean", "std", "per_draw", "cropped"}; k = 0 needs one draw only."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"few_shot_accuracy: k must be an int >= 0, got {k!r}")
    texts, y = test
    accs, cropped = [], 0
    for d in range(1 if k == 0 else draws):
        rng = np.random.default_rng([seed, k, d])
        pick = rng.choice(len(train[0]), size=k, replace=False)
        examples = [(train[0][i], labels[train[1][i]]) for i in pick]
        predicted, c = classify(model, tokenizer, examples, texts, labels)
        accs.append(float((predicted == np.asarray(y)).mean()))
        cropped += c
    return {"k": k, "mean": float(np.mean(accs)), "std": float(np.std(accs)),
            "per_draw": accs, "cropped": cropped}  # fmt: skip


def label_only_examples(tokenizer, texts, label_ids, labels, max_len: int) -> list:
    """(ids, targets) per example for fine-tuning on the labels (F10): ids = text SEPARATOR
    label END, targets = the next token at the label's positions and -100 elsewhere, so the
    loss is -sum log P(y | x). The text is cut from the left to fit max_len."""
    out = []
    for text, c in zip(texts, label_ids):
        x = [int(i) for i in tokenizer.encode(text + SEPARATOR)]
        y = [int(i) for i in tokenizer.encode(labels[c] + END)]
        x = x[-(max_len + 1 - len(y)) :]
        seq = np.array(x + y, dtype=np.int64)
        targets = np.full(len(seq) - 1, IGNORE_INDEX, dtype=np.int64)
        targets[len(x) - 1 :] = seq[len(x) :]  # position t predicts token t + 1
        out.append((seq[:-1], targets))
    return out


class LabelTask:
    """label_only_examples as a task for the fine-tuning loops: batches ((ids,), targets),
    right-padded with 0 / -100 (a causal model ignores what comes after)."""

    name = "labels"
    kind = "causal_lm"

    def __init__(self, examples):
        self.examples = {"train": examples}

    def size(self, split: str) -> int:
        return len(self.examples[split])

    def batches(self, split: str, batch_size: int, rng=None):
        ex = self.examples[split]
        order = rng.permutation(len(ex)) if rng is not None else np.arange(len(ex))
        for s in range(0, len(ex), batch_size):
            rows = [ex[i] for i in order[s : s + batch_size]]
            T = max(len(r[0]) for r in rows)
            ids = np.zeros((len(rows), T), dtype=np.int64)  # (B, T)
            tgt = np.full((len(rows), T), IGNORE_INDEX, dtype=np.int64)  # (B, T)
            for b, (x, t) in enumerate(rows):
                ids[b, : len(x)], tgt[b, : len(t)] = x, t
            yield (ids,), tgt
