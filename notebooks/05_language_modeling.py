# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Language modelling: tokens, the chain rule of probability, and perplexity
#
# A language model assigns a probability to a text. This chapter sets up everything the GPT of
# chapter 06 and the RNN-vs-Transformer race of chapter 07 need:
#
# 1. the corpus and its train/validation cut;
# 2. tokenizers: one token per character, and byte-level BPE (trained here, from scratch);
# 3. the autoregressive factorisation of a sequence's probability (**F1**);
# 4. the output layer of an RNN language model, a log-softmax (**F3**);
# 5. the training loss, per-token negative log-likelihood, and perplexity (**F9**).

# %% tags=["parameters"]
# Settings. CI sets MINILLM_SMALL=1 to run the notebook in well under a minute.
import os

SMALL = os.environ.get("MINILLM_SMALL", "0") == "1"
BPE_VOCAB = 512 if SMALL else 1024  # the largest BPE vocabulary trained below
HIDDEN = 64 if SMALL else 128  # hidden size of the LSTM language model
TRAIN_STEPS = 40 if SMALL else 300  # its training steps ("briefly trained")
BATCH, BLOCK = 16, 64  # sequences per batch, characters per sequence
EVAL_ITERS = 4 if SMALL else 20  # batches per split when estimating a loss
SEED = 0

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

import minillm.functional as F
from minillm.tensor import Tensor, no_grad

np.set_printoptions(linewidth=100)

# %% [markdown]
# ## 1. The corpus
#
# `minillm` ships about 1 MB of Shakespeare (eight plays, public domain), so everything runs
# offline. The validation set is the **last** 10 % of the text, not a random sample of
# characters: neighbouring characters are far from independent, and a model must be judged on
# text it has not seen.

# %%
from minillm.data import load_text, train_val_split

text = load_text("shakespeare")
train_text, val_text = train_val_split(text, 0.9)
assert train_text + val_text == text and len(train_text) == int(0.9 * len(text))
print(f"{len(text):,} characters: {len(train_text):,} train, {len(val_text):,} val")
print(text[:300])

# %% [markdown]
# ## 2. Characters as tokens
#
# A *tokenizer* maps text to a sequence of integer ids and back. The simplest gives each distinct
# character its own id: the vocabulary is the sorted set of characters of the corpus. Encoding is
# a table look-up, and decoding must give the text back exactly:
# $$\mathrm{decode}(\mathrm{encode}(s)) = s .$$

# %%
from minillm.data import CharTokenizer

char_tok = CharTokenizer.from_text(text)
print(char_tok, "".join(char_tok.chars))
ids = char_tok.encode(val_text)  # (N,) one id per character
assert len(ids) == len(val_text)
assert char_tok.decode(ids) == val_text  # round trip on the whole validation text
print("'To be, or not to be' ->", char_tok.encode("To be, or not to be"))

# %% [markdown]
# Its weakness: a character that the corpus never used has no id. By default that is an error
# (naming the character); with `unk="<unk>"` every unknown character becomes one extra token,
# and the round trip is lossy.

# %%
alien = "莎士比亚 🎭"
try:
    char_tok.encode(alien)
    raise AssertionError("an unknown character must not encode silently")
except ValueError as err:
    print("ValueError:", str(err)[:90], "...")
lossy = CharTokenizer.from_text(text, unk="<unk>")
assert lossy.vocab_size == char_tok.vocab_size + 1
assert lossy.decode(lossy.encode("Romeo " + alien)) == "Romeo <unk><unk><unk><unk> <unk>"
print(repr(lossy.decode(lossy.encode("Romeo " + alien))))

# %% [markdown]
# ## 3. Byte-level BPE
#
# Byte-pair encoding (Sennrich et al. 2016, byte-level as in GPT-2) starts from the 256 byte
# values, so **every** string has an encoding: its UTF-8 bytes. Training repeats one step: find
# the most frequent pair of neighbouring tokens in the training text and give it a new id
# (256, 257, ...). After `vocab_size - 256` merges, frequent words and word pieces are single
# tokens. A regular expression first cuts the text into words, numbers and punctuation runs, and
# merges never cross those cuts (so `" the"` becomes a token, `"e. T"` never does).
#
# We train it on the training part only (the validation text must stay unseen).

# %%
from minillm.data import BPETokenizer

bpe = BPETokenizer().train(train_text, BPE_VOCAB)
print(bpe)
print("first 24 merges:", [bpe.decode([256 + r]) for r in range(24)])
line = "To be, or not to be, that is the question"
pieces = [bpe.decode([i]) for i in bpe.encode(line)]
print(len(line), "characters ->", len(pieces), "tokens:", pieces)
assert "".join(pieces) == line
assert bpe.decode(bpe.encode(val_text)) == val_text  # round trip on the unseen text

# %% [markdown]
# Text the tokenizer never saw, in another script, round-trips too: Chinese characters and emoji
# were not in the training text, so they stay as their UTF-8 bytes (3 or 4 tokens each). There
# is no "unknown" token, and the character tokenizer above could not encode this at all.

# %%
mixed = "莎士比亚写道：生存还是毁灭 🤔🎭 To be, or not to be"
mixed_ids = bpe.encode(mixed)
assert bpe.decode(mixed_ids) == mixed
n_bytes = len(mixed.encode("utf-8"))
assert len(mixed_ids) <= n_bytes  # merges only ever join bytes
print(f"{len(mixed)} characters, {n_bytes} UTF-8 bytes, {len(mixed_ids)} BPE tokens")
print("'🎭' is", len("🎭".encode()), "bytes ->", bpe.encode("🎭"))

# %% [markdown]
# **Vocabulary size vs sequence length.** Each merge depends only on the merges before it, so a
# smaller vocabulary learns exactly the first merges of a larger one: the prefixes of
# `bpe.merges` *are* the smaller tokenizers. More merges mean fewer tokens per text (a longer
# effective context for the same `block_size`), at the cost of a bigger embedding table
# (V x d_model) and rarer, harder-to-learn tokens.

# %%
assert BPETokenizer().train(train_text, 300).merges == bpe.merges[:44]
sizes = [s for s in (256, 300, 384, 512, 768, 1024) if s <= BPE_VOCAB]
chars_per_token = []
for size in sizes:
    tok = BPETokenizer(merges=bpe.merges[: size - 256])
    chars_per_token.append(len(val_text) / len(tok.encode(val_text)))
assert chars_per_token[0] == 1.0  # 256 = bytes only; Shakespeare here is ASCII
assert all(a < b for a, b in zip(chars_per_token, chars_per_token[1:], strict=False))

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(sizes, chars_per_token, "o-", label="byte-level BPE")
ax.plot([char_tok.vocab_size], [1.0], "s", label=f"characters (V={char_tok.vocab_size})")
ax.set_xlabel("vocabulary size V")
ax.set_ylabel("characters per token (val text)")
ax.grid(alpha=0.3)
ax.legend()
plt.tight_layout()
plt.show()
print({v: round(c, 2) for v, c in zip(sizes, chars_per_token, strict=True)})

# %% [markdown]
# ## 4. The autoregressive factorisation (F1)
#
# Any distribution over sequences can be written, exactly, by the chain rule of probability:
# $$p(y \mid x; \theta) = \prod_{t=1}^{T} p(y_t \mid y_{<t}, x; \theta), \qquad
#   \log p(y \mid x; \theta) = \sum_{t=1}^{T} \log p(y_t \mid y_{<t}, x; \theta).$$
# An **autoregressive** language model parametrises each factor with one network shared over
# $t$: it reads the prefix $y_{<t}$ and outputs a distribution over the next token. It predicts
# each token from the tokens before it, **left to right**, and generates text the same way:
# sample $y_t$, append it to the prefix, repeat.
#
# *Errata.* Seed 001 §2.1 says an autoregressive model predicts the later text from the earlier
# and then the earlier from the later; there is no second, right-to-left pass (that two-sided
# context is what masked language models like BERT use (F6), and they are not autoregressive).
# Seeds 000 §1.1/§2.1 say it "predicts the current word by generating the next word"; it
# predicts the **next** token from the current prefix.
#
# ## 5. An RNN language model outputs the factors (F3)
#
# For a recurrent model (chapter 04) the prefix $y_{<t}$ is summarised by the hidden state
# $h_t$, and the output layer is a log-softmax:
# $$\log p(y_t \mid y_{<t}; \theta) = \log \mathrm{softmax}(h_t W_o + b_o).$$
# `RNNLM` returns these log-probabilities directly (its "logits" are already normalised). It is
# built from an `RNNLMConfig` (vocabulary size, width `d_model`, layers, cell) and a seed.

# %%
from minillm.data import Corpus
from minillm.models import RNNLM, RNNLMConfig

V = char_tok.vocab_size
corpus = Corpus.from_text(text, char_tok)
model = RNNLM(RNNLMConfig(vocab_size=V, d_model=HIDDEN, n_layers=1, cell="lstm"), seed=SEED)
xb, yb = corpus.get_batch("train", 3, 17, np.random.default_rng(1))  # (B, T) each
with no_grad():
    logp, _ = model(xb)  # (B, T, V) log p(y_t | y_<t)
    h, _ = model.rnn(model.embedding(xb))  # (B, T, H) the hidden states h_t
z = h.data @ model.head.W_o.data + model.head.b_o.data  # (B, T, V) = h_t W_o + b_o
assert np.allclose(logp.data, F.log_softmax(Tensor(z)).data, atol=1e-6)
row_sums = np.exp(logp.data.astype(np.float64)).sum(axis=-1)  # (B, T)
assert np.allclose(row_sums, 1.0, atol=1e-5), row_sums  # every row is a distribution
assert (logp.data <= 0).all()
print("log-probs", logp.shape, "; exp-sums of the first rows:", row_sums[0, :4])

# %% [markdown]
# The log-softmax is computed as $z - \mathrm{logsumexp}(z)$ with the maximum subtracted first.
# Written naively as $\log(e^{z} / \sum e^{z})$ it overflows as soon as a logit passes ~88 in
# float32:

# %%
big = z[0, :2] * 1000.0  # (2, V) logits in the thousands
with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
    naive = np.log(np.exp(big) / np.exp(big).sum(axis=-1, keepdims=True))  # (2, V)
stable = F.log_softmax(Tensor(big)).data  # (2, V)
assert not np.isfinite(naive).all() and np.isfinite(stable).all()
assert np.allclose(np.exp(stable.astype(np.float64)).sum(-1), 1.0, atol=1e-5)
print("naive has non-finite entries:", (~np.isfinite(naive)).sum(), "; stable:", 0)

# %% [markdown]
# ### F1, checked on the model
#
# The model gives every conditional of a sequence in **one** forward pass (the targets are the
# inputs shifted by one). Feeding it one character at a time, carrying the hidden state, gives
# the same conditionals, and their sum is the sequence log-likelihood. The state is carried in
# `caches = model.new_caches()`: each forward starts from the state in it and leaves the new one
# there (generation uses the same object). The mean loss the model reports is minus that sum
# divided by $T$.

# %%
seq = char_tok.encode("ROMEO:\nBut soft, what light")  # (T + 1,)
inp, tgt = seq[None, :-1], seq[None, 1:]  # (1, T) each: x = the first char, y = the rest
T = inp.shape[1]
with no_grad():
    logp, loss = model(inp, tgt)  # (1, T, V), scalar
    all_at_once = logp.data[0, np.arange(T), tgt[0]]  # (T,) log p(y_t | y_<t)
    caches, one_by_one = model.new_caches(), []
    for t in range(T):
        lp, _ = model(inp[:, t : t + 1], caches=caches)  # (1, 1, V); the state stays in caches
        one_by_one.append(lp.data[0, 0, tgt[0, t]])
assert np.allclose(all_at_once, one_by_one, atol=1e-5)
assert caches[0].position == T  # the state has read all T characters
loglik = float(all_at_once.astype(np.float64).sum())
assert math.isclose(loss.item(), -loglik / T, rel_tol=1e-5)
print(
    f"log p(y | x) = sum of {T} conditionals = {loglik:.3f}; loss = -that / T = {loss.item():.4f}"
)

# %% [markdown]
# ## 6. The training loss and perplexity (F9)
#
# $$\mathcal{L}(\theta) = -\frac{1}{N} \sum_{i=1}^{N} \log P_\theta(x_i \mid x_{<i}), \qquad
#   \mathrm{PPL} = e^{\mathcal{L}}.$$
# F9's source writes the sum; we average over the $N$ predicted tokens, so the number does not
# grow with the length of the text. Perplexity is the *effective number of choices* per token: a
# model that spreads its probability evenly over $k$ tokens has perplexity exactly $k$, so the
# uniform model over the vocabulary has $\mathrm{PPL} = V$ and loss $\ln V$.

# %%
n = 1000
targets = corpus.val[1 : n + 1]  # (N,) the next characters of the val text
uniform = F.cross_entropy(Tensor(np.zeros((n, V))), targets).item()  # all logits equal
assert math.isclose(uniform, math.log(V), rel_tol=1e-12)
assert math.isclose(math.exp(uniform), V, rel_tol=1e-9)
k = 7  # uniform over 7 tokens, the target among them: PPL = 7
logits_k = np.full((n, V), -np.inf)  # (N, V)
logits_k[np.arange(n)[:, None], (targets[:, None] + np.arange(k)) % V] = 0.0
assert math.isclose(math.exp(F.cross_entropy(Tensor(logits_k), targets).item()), k, rel_tol=1e-9)

# a unigram model: each character with its training frequency, ignoring the prefix
freq = np.bincount(corpus.train, minlength=V) / len(corpus.train)  # (V,)
unigram = -np.mean(np.log(freq[corpus.val]))
print(f"val perplexity: uniform {math.exp(uniform):.1f} (= V), unigram {math.exp(unigram):.1f}")
assert unigram < uniform

# %% [markdown]
# Now a short training run of the LSTM language model (AdamW through `minillm.train`'s
# `train_step`). The loss starts at $\ln V$ (an untrained model is nearly uniform) and must fall
# below both baselines: the unigram model knows the letter frequencies, the LSTM also reads the
# prefix.

# %%
from minillm.train import configure_optimizer, estimate_loss, train_step

opt = configure_optimizer(model, 5e-3, 0.0, (0.9, 0.99))
before = estimate_loss(model, corpus, BATCH, BLOCK, EVAL_ITERS, np.random.default_rng(2))
batch_rng, losses = np.random.default_rng(3), []
for _ in range(TRAIN_STEPS):
    loss_value, _ = train_step(
        model, opt, [corpus.get_batch("train", BATCH, BLOCK, batch_rng)], 5e-3, 1.0
    )
    losses.append(loss_value)
after = estimate_loss(model, corpus, BATCH, BLOCK, EVAL_ITERS, np.random.default_rng(2))
ppl = {
    "uniform": math.exp(uniform),
    "unigram": math.exp(unigram),
    "LSTM untrained": math.exp(before["val"]),
    f"LSTM, {TRAIN_STEPS} steps": math.exp(after["val"]),
}
print({k: round(v, 2) for k, v in ppl.items()})
assert abs(before["val"] - math.log(V)) < 0.2  # the untrained model is nearly uniform
assert after["val"] < math.log(V) - 0.5  # a briefly trained model beats the uniform one
assert after["val"] < unigram  # and the letter frequencies alone

fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
axes[0].plot(losses, lw=1, label="LSTM train loss (batch)")
axes[0].axhline(math.log(V), ls="--", c="gray", label=f"uniform: ln V = {math.log(V):.2f}")
axes[0].axhline(unigram, ls=":", c="k", label=f"unigram: {unigram:.2f}")
axes[0].set_xlabel("step")
axes[0].set_ylabel("nats per character")
axes[0].legend()
axes[1].bar(list(ppl), list(ppl.values()), color=["gray", "k", "C1", "C0"])
axes[1].set_ylabel("validation perplexity")
axes[1].set_title("PPL = exp(mean NLL): the effective number of choices")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Comparing tokenizers.** Perplexity is *per token*, so a character model and a BPE model are
# not comparable by it: a BPE token carries ~2 characters. Divide the loss by the characters
# per token and by $\ln 2$ to get bits per character, which is. For the uniform models:

# %%
cpt = len(val_text) / len(bpe.encode(val_text))  # characters per BPE token
bpc = {
    f"uniform chars (V={V})": math.log2(V),
    f"uniform BPE (V={bpe.vocab_size})": math.log2(bpe.vocab_size) / cpt,
    "trained LSTM (chars)": after["val"] / math.log(2),
}
print({k: round(v, 2) for k, v in bpc.items()}, "bits per character")
assert math.isclose(2 ** bpc[f"uniform chars (V={V})"], V)

# %% [markdown]
# ### The factors multiply to a distribution
#
# By F1 the probability of a two-character continuation $ab$ of a prefix is
# $p(a \mid \text{prefix})\, p(b \mid \text{prefix}, a)$. Over all $V^2$ pairs these must sum to
# one: we score every pair in one batch of $V$ sequences (prefix + $a$).

# %%
from minillm.generate import generate

prefix = char_tok.encode("ROMEO")  # (P,)
cont = np.concatenate([np.tile(prefix, (V, 1)), np.arange(V)[:, None]], axis=1)  # (V, P + 1)
with no_grad():
    lp, _ = model(cont)  # (V, P + 1, V)
log_p1 = lp.data[0, -2].astype(np.float64)  # (V,) log p(a | prefix)
log_p2 = lp.data[:, -1].astype(np.float64)  # (V, V) log p(b | prefix, a), row a
joint = np.exp(log_p1[:, None] + log_p2)  # (V, V) p(ab | prefix), F1
assert math.isclose(joint.sum(), 1.0, abs_tol=1e-4), joint.sum()
best = np.argsort(joint, axis=None)[::-1][:6]
print("most likely continuations of 'ROMEO':")
for a, b in zip(*np.unravel_index(best, joint.shape), strict=True):
    print(f"  {char_tok.decode([a, b])!r}: {joint[a, b]:.3f}")

# generation walks the same factorisation left to right: sample y_t, append it, repeat.
# generate() leaves the model's mode alone: put it in eval mode first (no dropout), as in PyTorch
model.eval()
sample = generate(model, char_tok.encode("ROMEO:"), 80 if not SMALL else 30, 0.8, seed=1)
print(char_tok.decode(sample))
assert char_tok.decode(sample).startswith("ROMEO:")
