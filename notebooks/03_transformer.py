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
# # 03 · The Transformer: encoder, decoder, and a model that learns to reverse
#
# Chapter 02 built attention. Here it becomes the encoder-decoder Transformer of seed 004 §3.2
# (C13): token embeddings plus sinusoidal positions (C15, F20), encoder layers (self-attention and
# feed-forward with residuals and layer norms, C14), decoder layers (masked self-attention, then
# cross-attention on the encoder output), stacked (F4), and trained end to end on a toy
# translation task: writing a digit string backwards. The notes and errata are in
# `docs/transformer.md`.

# %% Settings (CI runs this notebook with MINILLM_SMALL=1)
import os

SMALL = os.environ.get("MINILLM_SMALL", "0") == "1"
if SMALL:  # the CI size: about as big as tests/transformer's training test
    TASK = dict(min_len=3, max_len=6, n_test=300)
    MODEL = dict(d_model=32, n_heads=2, d_ff=64, n_encoder_layers=1, n_decoder_layers=1)
    TRAIN = dict(steps=500, batch_size=32, lr=3e-3, warmup=50)
    TARGET = 0.95  # held-out exact match the small run must reach
else:  # the full run: longer strings, 2 + 2 layers, a few minutes on 2 cores
    TASK = dict(min_len=3, max_len=10, n_test=1000)
    MODEL = dict(d_model=64, n_heads=4, d_ff=128, n_encoder_layers=2, n_decoder_layers=2)
    TRAIN = dict(steps=1500, batch_size=64, lr=2e-3, warmup=100)
    TARGET = 0.99
DEPTH = 6 if SMALL else 24  # layers in the post-LN vs pre-LN comparison

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

import minillm.functional as F
from minillm.models import ReversalTask, Seq2SeqConfig, Seq2SeqTransformer
from minillm.models.seq2seq_task import (
    BOS,
    EOS,
    VOCAB_SIZE,
    evaluate,
    ids_to_digits,
    make_arrays,
    train_seq2seq,
)
from minillm.nn import (
    KVCache,
    SinusoidalPositionalEncoding,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    record_attention,
    sinusoidal_table,
)
from minillm.tensor import Tensor, no_grad

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Positions (F20)
#
# Attention is blind to order: permute the tokens and the outputs permute with them. The
# Transformer adds a position signal to each embedding (seed 004 §3.2.1):
# $$PE_{(pos, 2i)} = \sin\!\big(pos / 10000^{2i/d_{model}}\big),\qquad
#   PE_{(pos, 2i+1)} = \cos\!\big(pos / 10000^{2i/d_{model}}\big).$$
# Each pair of columns $(2i, 2i+1)$ is a point on the unit circle that turns with the position,
# at a wavelength from $2\pi$ (i = 0) to $10000 \cdot 2\pi$.

# %%
d_model, max_len = 64, 100
pe = sinusoidal_table(max_len, d_model)  # (T, C)
pos, i = 17, 5
assert pe[pos, 2 * i] == math.sin(pos / 10000 ** (2 * i / d_model))
assert pe[pos, 2 * i + 1] == math.cos(pos / 10000 ** (2 * i / d_model))

fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
im = axes[0].imshow(pe.T, aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
axes[0].set_xlabel("position")
axes[0].set_ylabel("dimension")
axes[0].set_title("PE (F20): fast sin/cos pairs at the top, slow at the bottom")
fig.colorbar(im, ax=axes[0])
for i, color in ((3, "C0"), (8, "C1"), (14, "C2")):
    axes[1].plot(pe[:, 2 * i], color=color, label=f"sin, i={i}")
    axes[1].plot(pe[:, 2 * i + 1], "--", color=color, label=f"cos, i={i}")
axes[1].set_xlabel("position")
axes[1].set_title("three (sin, cos) pairs: wavelength 2 pi 10000^(2i/d)")
axes[1].legend(ncol=3, fontsize=8, loc="lower left")
plt.show()

# %% [markdown]
# Why sine *and* cosine: moving $k$ positions rotates every pair by a fixed angle, so
# $PE_{pos+k}$ is a linear function of $PE_{pos}$ and the dot product $PE_{pos}\cdot PE_{pos+k}$
# depends on the offset $k$ alone. Attention can then find "the token 3 to the left" by content.

# %%
dots = pe @ pe.T  # (T, T)
for k in (1, 3, 10):
    diag = np.diagonal(dots, offset=k)
    assert np.allclose(diag, diag[0]), k
fig, ax = plt.subplots(figsize=(4, 3.4))
ax.imshow(dots, cmap="viridis")
ax.set_title(r"$PE_p \cdot PE_q$ depends on $q - p$")
plt.show()

# %% [markdown]
# ## 2. Embedding + position (C15)
#
# The model's input is $E[x_t]\sqrt{d_{model}} + PE_t$ (the $\sqrt{d}$ factor of Vaswani et al.
# brings embeddings initialised at scale $1/\sqrt d$ up to the scale of the PE), followed in every
# attention layer by the linear projections $W_q, W_k, W_v$ of chapter 02.
# `SinusoidalPositionalEncoding` adds the table; a longer sequence than its table is an error.

# %%
pos_enc = SinusoidalPositionalEncoding(8, max_len=5)
x = Tensor(np.zeros((1, 4, 8), np.float32))
assert np.allclose(pos_enc(x).data[0], sinusoidal_table(4, 8))
try:
    pos_enc(Tensor(np.zeros((1, 6, 8), np.float32)))
except ValueError as err:
    print(err)

# %% [markdown]
# ## 3. The encoder layer, post-LN and pre-LN (C14)
#
# Two sub-layers, each wrapped in a residual connection and a layer norm. The paper puts the norm
# after the residual sum (post-LN); GPT-2 and most models since put it before the sub-layer
# (pre-LN), which trains deep stacks without a learning-rate warm-up:
#
# | | post-LN (Vaswani et al.) | pre-LN (GPT-2) |
# |---|---|---|
# | attention | $x \gets LN(x + SA(x))$ | $x \gets x + SA(LN(x))$ |
# | feed-forward | $x \gets LN(x + FFN(x))$ | $x \gets x + FFN(LN(x))$ |
#
# with $FFN(x) = \mathrm{act}(xW_1 + b_1)W_2 + b_2$ applied to each
# position alone.
# Pre-LN leaves the residual stream unnormalised, so a pre-LN stack ends with one more LayerNorm.
# Below: the size of the residual stream through a deep stack at initialisation.

# %%
x0 = Tensor(rng.standard_normal((2, 10, 32)).astype(np.float32))
stream = {}
for norm_first in (False, True):
    layers = [
        TransformerEncoderLayer(32, 4, 64, norm_first=norm_first, rng=np.random.default_rng(l))
        for l in range(DEPTH)
    ]
    h, stds = x0, []
    with no_grad():
        for layer in layers:
            h = layer(h)
            stds.append(float(h.data.std()))
    stream["pre-LN" if norm_first else "post-LN"] = stds
assert all(abs(s - 1) < 0.05 for s in stream["post-LN"])  # each output is layer-normalised
assert stream["pre-LN"][-1] > stream["pre-LN"][0]  # the residual stream grows with depth
fig, ax = plt.subplots(figsize=(5, 3))
for name, stds in stream.items():
    ax.plot(range(1, DEPTH + 1), stds, "o-", label=name)
ax.set_xlabel("layer")
ax.set_ylabel("std of the layer output")
ax.legend()
plt.show()

# %% [markdown]
# ## 4. The decoder layer (C13)
#
# Three sub-layers: **masked** self-attention over the target prefix (position $t$ reads targets
# $\le t$), **cross-attention** whose queries come from the decoder and whose keys and values come
# from the encoder output ("memory"), and the feed-forward. Two checks: later targets do not leak
# into earlier positions, and decoding one position at a time with a KV cache gives the same
# outputs as the full pass. The layer returns only its output; `record_attention` (chapter 02)
# records the weights of its two attention layers, under their paths `"self_attn"` and
# `"cross_attn"`.

# %%
dec = TransformerDecoderLayer(16, 2, 32, rng=np.random.default_rng(1))
tgt = rng.standard_normal((1, 6, 16)).astype(np.float32)
memory = Tensor(rng.standard_normal((1, 4, 16)).astype(np.float32))
with no_grad():
    y = dec(Tensor(tgt), memory, tgt_is_causal=True)
    tgt2 = tgt.copy()
    tgt2[:, 4:] = 0.0
    y2 = dec(Tensor(tgt2), memory, tgt_is_causal=True)
    cache = KVCache()
    steps = [dec(Tensor(tgt[:, t : t + 1]), memory, None, None, True, cache) for t in range(6)]
    with record_attention(dec) as maps:
        dec(Tensor(tgt), memory, tgt_is_causal=True)
(w_self,), (w_cross,) = maps["self_attn"], maps["cross_attn"]  # one call each
assert np.array_equal(y.data[:, :4], y2.data[:, :4])
assert np.allclose(np.concatenate([s.data for s in steps], axis=1), y.data, atol=1e-5)
assert w_self.shape == (1, 2, 6, 6) and w_cross.shape == (1, 2, 6, 4)
fig, axes = plt.subplots(1, 2, figsize=(7, 3))
axes[0].imshow(w_self[0, 0])
axes[0].set_title("masked self-attention (6 x 6)")
axes[1].imshow(w_cross[0, 0])
axes[1].set_title("cross-attention (6 targets x 4 sources)")
plt.show()

# %% [markdown]
# ## 5. The stack (F4) and its erratum
#
# Seed 001 §4.1 writes the model as $f(x) = \mathrm{softmax}(A_1 \cdot A_2 \cdots A_L \cdot x)$.
# Read as a product of matrices that would be one linear map, whatever $L$. Each block $A_l$ is a
# non-linear function (softmax inside attention, ReLU/GELU in the FFN, layer norms, residuals),
# so the stack is the **composition** $f(x) = \mathrm{softmax}(W_{out}\,A_L(\cdots A_1(x)))$,
# applied first to last. `TransformerEncoder` is exactly that loop. A linear map would satisfy
# $f(a+b) = f(a)+f(b)$; a two-block stack does not, and the best least-squares linear fit leaves
# a large residual.

# %%
stack = TransformerEncoder(
    lambda: TransformerEncoderLayer(8, 2, 16, rng=np.random.default_rng(2)), 2, None
)
f = lambda a: stack(Tensor(a)).data  # noqa: E731
a, b = rng.standard_normal((2, 1, 3, 8))
print("max |f(a+b) - f(a) - f(b)| =", np.abs(f(a + b) - f(a) - f(b)).max().round(3))
print("max |f(2a) - 2 f(a)|      =", np.abs(f(2 * a) - 2 * f(a)).max().round(3))
inputs = rng.standard_normal((400, 1, 3, 8))
X_flat = inputs.reshape(400, -1)  # (N, 24)
Y_flat = np.stack([f(z) for z in inputs]).reshape(400, -1)  # (N, 24)
M, *_ = np.linalg.lstsq(X_flat, Y_flat, rcond=None)
rel_residual = np.linalg.norm(X_flat @ M - Y_flat) / np.linalg.norm(Y_flat)
print(f"best linear fit leaves {rel_residual:.0%} of the output unexplained")
assert np.abs(f(a + b) - f(a) - f(b)).max() > 0.1 and rel_residual > 0.2

# %% [markdown]
# ## 6. The encoder-decoder model learns to reverse (C13, C24)
#
# The task: given a string of digits, write it backwards (`"3071"` -> `"1703"`). Output position
# $t$ must copy source position $n-1-t$, where $n$ varies from example to example, so the decoder
# has to *look it up*: it needs cross-attention and positions. The held-out test strings never
# occur in training. `Seq2SeqTransformer` = embeddings + PE (C15) -> encoder -> decoder ->
# linear output layer; the loss is the cross-entropy of each next target token (teacher forcing):
# `model(src, tgt_in, tgt_out)` returns `(logits, loss)`, and `(logits, None)` without targets.
# Decoding is greedy: $y_t = \arg\max_v p(v \mid y_{<t}, x)$ until EOS.

# %%
task = ReversalTask(seed=0, **TASK)
src, tgt_in, tgt_out = make_arrays(["3071"])
print("src", src, " tgt_in", tgt_in, " tgt_out", tgt_out)
cfg = Seq2SeqConfig(VOCAB_SIZE, VOCAB_SIZE, max_len=16, **MODEL)
model = Seq2SeqTransformer(cfg, seed=0)
print(f"{model.num_params():,} parameters")
logits, loss = model(src, tgt_in, tgt_out)  # (B, T, V), the mean cross-entropy
assert logits.shape == (1, 5, VOCAB_SIZE)
assert np.isclose(loss.item(), model.loss(src, tgt_in, tgt_out).item())
print(f"before training: loss {loss.item():.3f} nats/token, ln V = {math.log(VOCAB_SIZE):.3f}")
losses, seconds = train_seq2seq(model, task, **TRAIN)
accuracy = evaluate(model, task)
print(f"{TRAIN['steps']} steps in {seconds:.0f} s; held-out exact match {accuracy:.2%}")
assert accuracy >= TARGET

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogy(losses, lw=0.6, alpha=0.5)
ax.semilogy(np.convolve(losses, np.ones(25) / 25, mode="valid"), label="25-step mean")
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy (nats/token)")
ax.legend()
plt.show()

# %% [markdown]
# A few held-out strings, decoded greedily, and the cross-attention that produced them: for each
# output token (row) the weight on each source digit (column), averaged over heads, for each
# decoder layer, recorded with `record_attention` under the paths
# `"decoder.layers.<l>.cross_attn"` while the model reads the decoded prefix once more. The
# anti-diagonal is the model looking up source position $n-1-t$.

# %%
examples = task.test_strings[:4]
src, tgt_in, tgt_out = make_arrays(examples)
pred = model.greedy_decode(src, tgt_out.shape[1], BOS, EOS)
for s_, p_ in zip(examples, pred):
    print(
        f"{s_:>12} -> {ids_to_digits(p_):<12} {'ok' if ids_to_digits(p_) == s_[::-1] else 'WRONG'}"
    )

n_layers = cfg.n_decoder_layers
fig, axes = plt.subplots(n_layers, len(examples), figsize=(3 * len(examples), 2.8 * n_layers))
axes = np.array(axes).reshape(n_layers, len(examples))
prefix = np.concatenate([np.full((len(examples), 1), BOS), pred[:, :-1]], axis=1)
with no_grad(), record_attention(model) as maps:
    model(src, prefix)
cross = [maps[f"decoder.layers.{layer}.cross_attn"][0] for layer in range(n_layers)]
assert cross[0].shape == (len(examples), cfg.n_heads, prefix.shape[1], src.shape[1])
for col, s_ in enumerate(examples):
    n = len(s_)
    for layer in range(n_layers):
        w = cross[layer][col].mean(0)[: n + 1, :n]  # (outputs + EOS, sources)
        ax = axes[layer, col]
        ax.imshow(w, cmap="viridis", vmin=0)
        ax.set_xticks(range(n), list(s_))
        ax.set_yticks(range(n + 1), list(s_[::-1]) + ["EOS"])
        ax.set_title(f"decoder layer {layer + 1}", fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# The model's probabilities for the first example, step by step, are the softmax of its logits:
# $p(y_t \mid y_{<t}, x)$ (F4's output softmax).

# %%
with no_grad():
    logits, _ = model(src[:1], prefix[:1])  # (1, T, V), no targets: no loss
    probs = F.softmax(logits, -1).data[0]  # (T, V)
assert np.allclose(probs.sum(-1), 1.0, atol=1e-5)
print("confidence of each greedy token:", probs.max(-1)[: len(examples[0]) + 1].round(3))
