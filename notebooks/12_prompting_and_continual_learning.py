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
# # 12 · Prompting, continual learning, and fighting overfitting
#
# Chapter 11 adapted a pre-trained model by training it. This chapter looks at three neighbours:
#
# 1. **prompting** (**C17**): no training at all; the model reads a few solved examples and the
#    question, and each answer is scored by its likelihood (**F1**);
# 2. **continual learning** (**C18**): learning task B after task A without forgetting A, with
#    rehearsal and elastic weight consolidation;
# 3. **overfitting remedies** (**C22**) on a deliberately small training set: dropout, weight
#    decay, early stopping, data augmentation, ensembles.
#
# Each runs live on a small model, then the measured results of `benchmarks/bench_finetune.py`
# (a bigger GPT and the real MiniLM) are read from its JSON.

# %% tags=["parameters"]
# Settings. CI sets MINILLM_SMALL=1 to run the notebook in well under a minute.
import os

SMALL = os.environ.get("MINILLM_SMALL", "0") == "1"
if SMALL:
    SHAPE = {"model.n_layers": 2, "model.n_heads": 2, "model.d_model": 32, "model.block_size": 128}
    VOCAB = 300
    PRETRAIN_STEPS, TEST_PER_CLASS, DRAWS, SEQ_STEPS = 60, 5, 2, 12
else:  # the full sizes: several minutes on 2 cores
    SHAPE = {"model.n_layers": 4, "model.n_heads": 4, "model.d_model": 64, "model.block_size": 256}
    VOCAB = 512
    PRETRAIN_STEPS, TEST_PER_CLASS, DRAWS, SEQ_STEPS = 600, 25, 3, 60

# %%
import copy
import json
import math
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from minillm.tensor import no_grad

WORK = Path(tempfile.mkdtemp(prefix="minillm-12-"))
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "benchmarks").is_dir())
RESULTS = json.loads(
    sorted((ROOT / "benchmarks" / "results").glob("finetune-*.json"))[-1].read_text()
)
HELD_OUT = "A Midsummer Night's Dream"

# %% [markdown]
# A small GPT pre-trained on seven of the eight plays, as in chapter 11, but on byte-level BPE
# tokens rather than characters: a character tokenizer knows only the characters of its training
# text, and the prompts below bring new ones (the `=` between a text and its label, and whatever
# the other plays and the classification set use). Bytes cover any text, and a token of several
# characters lets eight solved examples fit in the context.

# %%
from minillm.finetune import LanguageModelling, play_texts, pretraining_text, text_nll
from minillm.models import load_checkpoint
from minillm.train import TrainConfig, apply_overrides, train

text, fraction, tails = pretraining_text(HELD_OUT)
(WORK / "seven.txt").write_text(text, encoding="utf-8")
settings = {**SHAPE, "dataset": str(WORK / "seven.txt"), "train_fraction": fraction,
            "tokenizer": "bpe", "bpe_vocab_size": VOCAB,
            "out_dir": str(WORK / "base"), "max_iters": PRETRAIN_STEPS,
            "warmup_iters": PRETRAIN_STEPS // 10, "batch_size": 8,
            "eval_interval": PRETRAIN_STEPS, "eval_iters": 4, "progress": False}  # fmt: skip
result = train(apply_overrides(TrainConfig(), settings), log=lambda s: None)
base, tok, _ = load_checkpoint(WORK / "base")
print(f"pre-trained {result.step} steps, val loss {result.val_loss:.3f}")

# %% [markdown]
# ## 1. Prompting (C17)
#
# The task: which of four plays a short line comes from. A prompt shows $k$ solved examples, then
# the query; each label $y$ is scored by the log-likelihood of its tokens after the prompt
#
# $$\mathrm{score}(y) = \sum_j \log p(y_j \mid \text{prompt}, y_{<j}),\qquad \hat y = \arg\max_y
# \mathrm{score}(y)$$
#
# which is F1's factorisation read the other way: not to generate, but to compare continuations.
# With $k = 0$ (zero-shot) the model sees only the format.

# %%
from minillm.data import play_classification
from minillm.finetune.prompting import build_prompt, few_shot_accuracy, label_scores, label_subset

CLASSES = ["Hamlet", "Macbeth", "Romeo and Juliet", "Julius Caesar"]
LABELS = ["Hamlet", "Macbeth", "Romeo", "Caesar"]
data = play_classification()
train_set = label_subset(data, CLASSES, "train", 48)
test_set = label_subset(data, CLASSES, "test", 48, per_class=TEST_PER_CLASS)
examples = [(train_set[0][i], LABELS[train_set[1][i]]) for i in (0, 400)]
prompt = build_prompt(examples, test_set[0][0])
print(prompt)
scores, cropped = label_scores(base, tok, prompt, LABELS)
print(dict(zip(LABELS, scores.round(2))), "true:", LABELS[test_set[1][0]])

# %% [markdown]
# The score of one label, by hand: run prompt + label through the model and add the log-probs
# of the label's tokens (the label ends with a newline, which is scored too).

# %%
from minillm.finetune.prompting import END

longest = max(len(tok.encode(y + END)) for y in LABELS)
ids = list(tok.encode(prompt))[-(base.context_length - longest) :]  # the end that fits
label = list(tok.encode(LABELS[1] + END))
with no_grad():
    z = base(np.array([ids + label[:-1]]))[0].data[0].astype(np.float64)  # (T, V)
logp = z - z.max(-1, keepdims=True)
logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
by_hand = sum(logp[len(ids) - 1 + j, t] for j, t in enumerate(label))
assert abs(by_hand - scores[1]) < 1e-4, (by_hand, scores[1])

# %% [markdown]
# Accuracy over $k$, each $k$ averaged over draws of the examples (which examples a prompt shows,
# and in which order, moves the result a lot). A small model trained for a few minutes on
# Shakespeare is **weak** at this: it has never seen a classification format, and four plays'
# lines differ in ways a few examples do not teach it.

# %%
shots = [few_shot_accuracy(base, tok, train_set, test_set, LABELS, k, DRAWS) for k in (0, 1, 4, 8)]
for s in shots:
    print(f"k={s['k']}: {s['mean']:.3f} +- {s['std']:.3f} over {len(s['per_draw'])} draws "
          f"({s['cropped']} prompts cut to fit the context)")  # fmt: skip

# %% [markdown]
# **Fine-tuning on the same labels (F10)** puts the loss on the label's tokens only,
# $-\sum_i \log P(y_i \mid x_i)$, over the same formatted examples; the tuned model is then asked
# zero-shot (F11).

# %%
from minillm.finetune import cycle_batches, get_method, train_steps
from minillm.finetune.prompting import LabelTask, classify, label_only_examples

tuned = get_method("full").apply(copy.deepcopy(base))
pairs = label_only_examples(tok, *train_set, LABELS, base.context_length)
steps = 2 * math.ceil(len(pairs) / 16)
history = train_steps(tuned, cycle_batches(LabelTask(pairs), 16), steps, 1e-3, warmup=steps // 10)
predicted, _ = classify(tuned, tok, [], test_set[0], LABELS)
print(f"fine-tuned ({steps} steps): accuracy {(predicted == test_set[1]).mean():.3f}")

# %% [markdown]
# The benchmark's measurement: a GPT of 4 x 4 x 128 on byte-level BPE of 1,024 tokens (context
# 256 tokens, so eight examples fit), the same four plays, several draws per $k$.

# %%
r = RESULTS["prompting"]
print(f"{r['test_size']} test lines, {len(r['shots'][0]['per_draw'])} draw(s) at k=0, "
      f"{len(r['shots'][-1]['per_draw'])} at k={r['shots'][-1]['k']}")  # fmt: skip
ks = [s["k"] for s in r["shots"]]
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.errorbar(ks, [s["mean"] for s in r["shots"]], [s["std"] for s in r["shots"]], marker="o",
            capsize=3, label="k-shot prompt")  # fmt: skip
for name, v in r["tuned"].items():
    ax.axhline(v["accuracy"], ls="--", lw=1, label=f"fine-tuned ({name})")
ax.axhline(r["chance"], color="grey", lw=0.8, label="majority class")
ax.set_xlabel("examples in the prompt (k)")
ax.set_ylabel("accuracy")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 2. Continual learning (C18)
#
# Fine-tune on play A (the new one), then on play B (*Hamlet*). Training on B alone moves the
# weights wherever B's loss wants them, and A's perplexity rises: **catastrophic forgetting**.
#
# - **Rehearsal**: keep a buffer of A's windows and mix a quarter of each batch from it.
# - **EWC** (Kirkpatrick et al. 2017): $L(\theta) = L_B(\theta) + \frac{\lambda}{2}\sum_i F_i
#   (\theta_i - \theta^*_{A,i})^2$, with $F_i$ the diagonal of the Fisher information at the
#   end of A, estimated as the mean squared gradient of A's sequences.

# %%
from minillm.finetune.continual import EWC, fisher_diagonal, replay_batches, single_examples

block = min(64, base.context_length)
texts = play_texts()
task_a = LanguageModelling(tok, texts[HELD_OUT], block)
task_b = LanguageModelling(tok, texts["Hamlet"], block)


def evaluate(m):
    """Held-out perplexity of A and of B on their last 10 % (Hamlet's first 90 % was in the
    pre-training text, so only its end is new to the model)."""
    tasks = {"A": task_a, "B": task_b}
    return {k: math.exp(text_nll(m, t.ids["test"], block)[0]) for k, t in tasks.items()}


model = get_method("full").apply(copy.deepcopy(base))
train_steps(model, cycle_batches(task_a, 8), SEQ_STEPS, 1e-3, warmup=2)
after_a = evaluate(model)
fisher = fisher_diagonal(model, single_examples(task_a, 16))
curves = {}
for mode in ("naive", "rehearsal", "ewc"):
    m, penalty, batches = copy.deepcopy(model), None, cycle_batches(task_b, 8, seed=1)
    if mode == "rehearsal":
        batches = replay_batches(batches, single_examples(task_a, 32), 0.25)
    if mode == "ewc":
        penalty = EWC(m, fisher, 1e4)
    h = train_steps(m, batches, SEQ_STEPS, 1e-3, warmup=2, penalty=penalty, evaluate=evaluate,
                    eval_every=max(1, SEQ_STEPS // 4))  # fmt: skip
    curves[mode] = [(s, e) for s, e in ((x["step"], x["eval"]) for x in h if "eval" in x)]
    print(f"{mode:9}: A {after_a['A']:.2f} -> {curves[mode][-1][1]['A']:.2f}, "
          f"B {curves[mode][0][1]['B']:.2f} -> {curves[mode][-1][1]['B']:.2f}")  # fmt: skip
assert curves["naive"][-1][1]["B"] < curves["naive"][0][1]["B"], "training on B lowers B's ppl"

# %% [markdown]
# At the small sizes CI runs, the model has learnt so little that training on B still lowers
# A's perplexity: there is nothing yet to forget. The benchmark's bigger model shows it: the
# 4 x 128 BPE GPT, A's steps then as many of B, A's and B's held-out perplexity along the way;
# EWC at several $\lambda$.

# %%
r = RESULTS["continual"]
print(f"{r['steps']} steps of A, then {r['steps']} of B, lr {r['lr']:g}")
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
for mode, x in r["runs"].items():
    steps = [s for s, _ in x["curve"]]
    for ax, k in zip(axes, "AB"):
        ax.plot(steps, [e[k] for _, e in x["curve"]], marker=".", label=mode)
for ax, k, name in zip(axes, "AB", (r["A"], r["B"])):
    ax.axvline(r["steps"], color="grey", lw=0.8)
    ax.set_title(f"{k}: {name}, held-out perplexity")
    ax.set_xlabel("step (A, then B)")
axes[0].legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 3. Overfitting remedies (C22)
#
# With 10 speeches per play, a fine-tuned classifier learns its training set by heart: the
# training loss falls towards 0 while the validation loss turns up. The remedies: **dropout**
# and **weight decay** (in the model and the optimiser already), **early stopping** (keep the
# epoch of the lowest validation loss), **data augmentation** that keeps the label (hide random
# spans behind [MASK], or crop the speech), and an **ensemble** that averages the class
# probabilities of models trained from different seeds. The two augmentations, on one speech:

# %%
from minillm.data import WordPieceTokenizer, load_text
from minillm.finetune.remedies import random_crop, span_mask

wp = WordPieceTokenizer().train(load_text("shakespeare")[:60_000], 400)
ids = wp.encode("Now is the winter of our discontent made glorious summer by this sun of York")
rng = np.random.default_rng(0)
print(wp.decode(span_mask(ids, wp, rng, rate=0.3, span=2)))
print(wp.decode(random_crop(ids, wp, rng, keep=0.5)))

# %% [markdown]
# The benchmark fine-tuned all-MiniLM-L6-v2 on 10 speeches per play (80 in all) with each
# remedy; train and validation loss, side by side:

# %%
r = RESULTS["overfitting"]
print(f"{r['train_size']} training speeches, {r['epochs']} epochs ({r['steps']} steps), "
      f"lr {r['lr']:g}, {r['max_len']} tokens")  # fmt: skip
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for name, x in r["runs"].items():
    epochs = [c[0] for c in x["curve"]]
    line = axes[1].plot(epochs, [c[1]["val"]["loss"] for c in x["curve"]], label=name)[0]
    axes[0].plot(epochs, [c[1]["train"]["loss"] for c in x["curve"]], color=line.get_color())
axes[0].set_title(f"train loss ({r['train_size']} speeches)")
axes[1].set_title("validation loss")
axes[1].legend(fontsize=7)
plt.show()
for name, x in r["runs"].items():
    stop = x["early_stop"]
    print(f"{name:18} test accuracy at the end {x['end']['test']['accuracy']:.3f}, "
          f"early-stopped (epoch {stop['epoch']:g}) {stop['accuracy']:.3f}")  # fmt: skip
