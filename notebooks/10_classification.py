# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 · Classification with BERT: fine-tuning, reports, and the real MiniLM
#
# A pre-trained encoder earns its keep when it is adapted to a labelled task. This chapter
# fine-tunes the BERT of chapter 09 on two tasks read off the shipped plays, and keeps them
# apart, because the source articles mix them up:
#
# 1. **sequence classification**: one label per text (which play a speech comes from), read off
#    the pooled `[CLS]` vector (**F8**); fine-tuning (**F10**) and inference (**F11**) with a
#    learning rate well below pre-training's (**C21**);
# 2. the report: per-class precision, recall and F1 with support, macro and weighted averages,
#    and the confusion matrix they come from (**C20**);
# 3. **token classification**: one label per token (BIO tags of person names), scored tag by tag
#    and entity by entity;
# 4. the real all-MiniLM-L6-v2 in minillm: sentence embeddings, a similarity heat map and a
#    nearest-neighbour search over passages of the plays.

# %% tags=["parameters"]
# Settings. CI sets MINILLM_SMALL=1 to run the notebook in well under a minute.
import os

SMALL = os.environ.get("MINILLM_SMALL", "0") == "1"
PRESET = "bert-small"  # the pre-training of chapter 09
if SMALL:  # a tiny BERT, briefly pre-trained, fine-tuned on a slice of the training speeches
    TEXT_CHARS = 60_000
    PRETRAIN = {"bpe_vocab_size": 500, "model.n_layers": 2, "model.n_heads": 2,
                "model.d_model": 48, "model.d_ff": 96, "model.block_size": 64,
                "batch_size": 16, "max_iters": 30, "warmup_iters": 3, "eval_interval": 30,
                "eval_iters": 2}  # fmt: skip
    FINETUNE = {"epochs": 1, "max_len": 64, "max_train": 96, "batch_size": 16}
    SPEECHES = 60  # val and test speeches of each task (train: max_train)
    PASSAGES = 120  # lines for the nearest-neighbour search
    BOW = {"lams": (1e-4,), "steps": 100}  # the baseline's L2 weights tried, Adam steps
else:
    TEXT_CHARS = None
    PRETRAIN = {}
    FINETUNE = {"epochs": 4}
    SPEECHES = None
    PASSAGES = 2000
    BOW = {}

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from minillm.data import load_text
from minillm.finetune import FinetuneConfig, finetune, format_report, with_dropout
from minillm.models import load_checkpoint
from minillm.train import TrainConfig, apply_overrides, load_preset, train

np.set_printoptions(linewidth=100, precision=3, suppress=True)
WORK = Path(tempfile.mkdtemp(prefix="minillm-10-"))
dataset = "shakespeare"
if TEXT_CHARS is not None:
    (WORK / "plays.txt").write_text(load_text("shakespeare")[:TEXT_CHARS], encoding="utf-8")
    dataset = str(WORK / "plays.txt")
cfg = apply_overrides(TrainConfig(), load_preset(PRESET), "preset")
cfg = apply_overrides(cfg, {**PRETRAIN, "dataset": dataset, "out_dir": str(WORK / "bert"),
                            "progress": False})  # fmt: skip
pretrained = train(cfg, log=lambda line: None)
bert, tok, _ = load_checkpoint(pretrained.out_dir)
print(f"pre-trained {bert.config}; final val loss {pretrained.val_loss:.3f}")

# %% [markdown]
# ## 1. Sequence classification: which play is this speech from? (F8, F10, F11, C21)
#
# The labels come from the corpus itself: 1,775 speeches of at least four lines, split by speech
# into train/val/test (80/10/10), stratified by play, with a fixed seed. The classifier is the
# pre-trained encoder plus a fresh head on the pooled `[CLS]` vector:
# $$p(c \mid x) = \mathrm{softmax}(\mathrm{Dropout}(\mathrm{pooled}(x))\, W_c + b)_c,\qquad
# L_{fine} = -\frac{1}{N}\sum_n \log p(y_n \mid x_n)\ \ (\text{F8, F10}),\qquad
# \hat y = \arg\max_c p(c \mid x)\ \ (\text{F11})$$
# Fine-tuning moves *every* weight, the encoder's included ("full" fine-tuning; the
# parameter-efficient methods come later), with AdamW at a peak learning rate of 1e-4, one
# order below the 1e-3 of pre-training (C21): the encoder should be adjusted, not overwritten.

# %%
from minillm.finetune import PlayClassification

ft = FinetuneConfig(task="play", **FINETUNE)
encoder = with_dropout(bert.bert, ft.dropout)  # BERT's fine-tuning dropout, 0.1
max_len = min(ft.max_len, encoder.config.block_size)
task = PlayClassification(tok, max_len, max_train=ft.max_train, max_eval=SPEECHES)
print(f"classes: {task.labels}")
print(f"{task.size('train')} training speeches; the first one, as the model sees it:")
print(tok.decode(task.examples["train"][0][0])[:300], "...")
model = task.build_model(encoder, ft.seed)
result = finetune(model, task, ft)
assert ft.lr <= 0.1 * 1e-3  # C21: at least an order below pre-training's lr

# %% [markdown]
# ## 2. The report and the confusion matrix (C20)
#
# With $N_{ij}$ the number of test speeches of play $i$ predicted as play $j$:
# precision$_c = N_{cc} / \sum_i N_{ic}$ (of the speeches we called $c$, the share that are),
# recall$_c = N_{cc} / \sum_j N_{cj}$ (of the speeches of $c$, the share we found),
# F1 their harmonic mean, support the row sum; macro averages the classes alike, weighted by
# support. `classification_report` is these few lines over the matrix, checked against values
# computed by hand in `tests/finetune/test_report.py`.

# %%
from minillm.finetune import plot_confusion_matrix

report = result.test["report"]
print(format_report(report))
N = np.array(report["confusion"])
c = 0  # the first play, by hand from the matrix
precision = N[c, c] / max(N[:, c].sum(), 1)
recall = N[c, c] / N[c].sum()
assert abs(precision - report["classes"][task.labels[c]]["precision"]) < 1e-12
assert abs(recall - report["classes"][task.labels[c]]["recall"]) < 1e-12
assert abs(report["accuracy"] - np.trace(N) / N.sum()) < 1e-12
png = plot_confusion_matrix(N, task.labels, WORK / "confusion.png", title="play, test split")
img = plt.imread(png)
plt.figure(figsize=(7, 6))
plt.imshow(img)
plt.axis("off")
plt.show()

# %% [markdown]
# The baseline to beat: logistic regression on bags of words (counts weighted by idf), fitted
# in NumPy with a hand-written gradient (`minillm.finetune.baseline`). A speech's vocabulary,
# names above all, gives its play away; docs/bert.md compares it with the fine-tuned BERTs and
# with MiniLM on the full run.

# %%
from minillm.finetune import bag_of_words_baseline

bow = bag_of_words_baseline(task.data, **BOW)
print(f"bag of words ({bow['n_features']} words): test accuracy {bow['test']['accuracy']:.3f}; "
      f"fine-tuned BERT: {report['accuracy']:.3f}")  # fmt: skip
assert bow["test"]["accuracy"] > 1 / 8  # far above chance (12.5 %)

# %% [markdown]
# ## 3. Token classification: person names, word by word
#
# The source's "text classification" report (B-LOC, I-PER, ...) is a *sequence labelling*
# report: one label per token, not per text. Our token task tags the person names of every
# speech with BIO tags (B-PER starts a name, I-PER continues it, O is everything else), the
# names read off the plays' lists of persons and speaker lines. Each word goes through WordPiece
# on its own; its tag goes on its first piece, and the other pieces (and `[CLS]`, `[SEP]`)
# are labelled -100, left out of the loss. Two reports: tag by tag over words (where "O" is
# 99 % of the support, so look at B-PER), and entity by entity, where a name counts only when
# its whole span is found.

# %%
from minillm.data import person_tagging
from minillm.finetune import PersonTagging

data = person_tagging()
n = SPEECHES and 2 * SPEECHES
tagging = PersonTagging(tok, max_len, data=data, max_train=n, max_eval=n)
kept = tagging.data["train"]  # the training speeches kept (all, or a sample stratified by play)
i = next(i for i, t in enumerate(kept["tags"]) if (t == 1).sum() >= 2)
words, tags = kept["tokens"][i], kept["tags"][i]
print(" ".join(f"{w}/{data['tag_names'][t]}" if t else w for w, t in zip(words, tags))[:400])
j = next(j for j, (s, _) in enumerate(tagging.words["train"]) if s == i)  # its first chunk
ids, targets = tagging.examples["train"][j]
print([(tok.itos[a], data["tag_names"][b] if b >= 0 else "-") for a, b in zip(ids, targets)][:16])
ft_tag = FinetuneConfig(task="persons", **FINETUNE)
tag_model = tagging.build_model(with_dropout(load_checkpoint(pretrained.out_dir)[0].bert, 0.1))
tag_result = finetune(tag_model, tagging, ft_tag)
print(format_report(tag_result.test["report"]))
e = tag_result.test["entities"]["micro avg"]
print(f"entities: precision {e['precision']:.3f} recall {e['recall']:.3f} f1 {e['f1']:.3f} "
      f"(support {e['support']})")  # fmt: skip

# %% [markdown]
# | | sequence classification | token classification |
# |---|---|---|
# | label | one per text | one per token (word) |
# | read off | pooled `[CLS]` vector, (B, C) | every hidden state, (B, T, C) |
# | head | `BertForSequenceClassification` | `BertForTokenClassification` |
# | report | per class (play) | per tag (O, B-PER, I-PER) and per entity (exact spans) |
#
# ## 4. The real MiniLM: sentence embeddings
#
# `load_pretrained("all-MiniLM-L6-v2")` maps the Hugging Face checkpoint's names onto minillm's
# BERT (`minillm/models/bert_names.py`), checks every shape and reports what it left unused.
# sentence-transformers' embedding is the mean of the final hidden states over the real tokens,
# L2-normalised, so a dot product is a cosine similarity. The tests hold our hidden states within
# 1e-4 and our embeddings within 1e-5 of sentence-transformers'.

# %%
from minillm.models import load_pretrained, sentence_embeddings

minilm, mtok = load_pretrained("all-MiniLM-L6-v2")
print(minilm.load_report)
sentences = [
    "To be, or not to be, that is the question.",
    "Whether it is better to live or to die.",
    "The lady doth protest too much, methinks.",
    "She objects far too strongly, I think.",
    "Now is the winter of our discontent.",
    "Our unhappy times are ending.",
    "A horse! a horse! my kingdom for a horse!",
    "Give me a horse and you can have my crown.",
]
E = sentence_embeddings(minilm, mtok, sentences)  # (8, 384), unit rows
S = E @ E.T  # cosine similarities
fig, ax = plt.subplots(figsize=(7, 6))
im = ax.imshow(S, cmap="magma", vmin=0, vmax=1)
ax.set_xticks(range(8), [s[:22] for s in sentences], rotation=60, ha="right", fontsize=8)
ax.set_yticks(range(8), [s[:22] for s in sentences], fontsize=8)
fig.colorbar(im, label="cosine similarity")
plt.tight_layout()
plt.show()
np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
for k in range(0, 8, 2):  # each line is closest to its paraphrase
    assert np.argsort(S[k])[-2] == k + 1, sentences[k]

# %% [markdown]
# Nearest-neighbour search: embed passages of the plays once, then a query is one embedding and
# one matrix-vector product away from its most similar passages.

# %%
lines = [ln.strip() for ln in load_text("shakespeare").splitlines() if len(ln.split()) >= 6]
passages = lines[:: max(1, len(lines) // PASSAGES)][:PASSAGES]
P = sentence_embeddings(minilm, mtok, passages)  # (n, 384)
for query in ("a ghost walks at night", "I am in love with her", "the king must die"):
    q = sentence_embeddings(minilm, mtok, [query])[0]  # (384,)
    scores = P @ q
    best = np.argsort(scores)[::-1][:3]
    print(f"{query!r}:")
    for j in best:
        print(f"   {scores[j]:.3f}  {passages[j]}")
probe = passages[len(passages) // 2]
assert np.argmax(P @ sentence_embeddings(minilm, mtok, [probe])[0]) == len(passages) // 2
