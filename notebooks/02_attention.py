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
# # 02 · Attention, one formula at a time
#
# Self-attention lets every position of a sequence read every other position, with weights it
# computes from the content itself. This chapter follows the steps of seed 004 §3.1 on a
# four-token example (projections F15, scores F16, softmax F17, weighted sum F18), then the
# vectorised form of seed 001 (F5) and seed 003 (F13, with its erratum), masks, and multi-head
# attention (F19, F14). The code is `minillm.ops.attention` and `minillm.nn.MultiHeadAttention`;
# the tests that prove each formula are in `tests/transformer/`.

# %% Settings (CI runs this notebook with MINILLM_SMALL=1)
import os

SMALL = os.environ.get("MINILLM_SMALL", "0") == "1"
N_TRIALS = 200 if SMALL else 2000  # random score vectors per d_k in the scaling experiment

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

import minillm.functional as F
from minillm.nn import MultiHeadAttention, record_attention
from minillm.ops.attention import causal_mask
from minillm.tensor import Tensor

rng = np.random.default_rng(0)
tokens = ["the", "cat", "sat", "down"]
T, C, d_k = 4, 6, 3
X = rng.standard_normal((T, C))  # (T, C): one row per token (already embedded)

# %% [markdown]
# ## 1. Projections (F15, F13)
#
# Seed 004 writes the projections with column vectors,
# $$q_i = W_q x_i,\quad k_i = W_k x_i,\quad v_i = W_v x_i\qquad (W_q: d_k\times d),$$
# seed 003 with row vectors, $Q_i = X_i W_Q$ with $W_Q \in \mathbb{R}^{d \times d_k}$. They are the
# same map with $W_q = W_Q^\top$. minillm uses the row form: `Linear` stores $W$ as
# (in, out) and computes `x @ W`, so a whole sequence is one matrix product $Q = X W_Q$.

# %%
W_Q, W_K, W_V = (rng.standard_normal((C, d_k)) for _ in range(3))  # (C, D) each
q_cols = [W_Q.T @ X[i] for i in range(T)]  # F15: q_i = W_q x_i, W_q = W_Q^T
Q, K, V = X @ W_Q, X @ W_K, X @ W_V  # F13: (T, D) each
assert np.allclose(np.stack(q_cols), Q)
Q.round(3)

# %% [markdown]
# ## 2. Scores (F16)
#
# $$e_{ij} = q_i^\top k_j$$
# one number per (query, key) pair: how well token $i$'s question matches token $j$'s label.

# %%
e = np.array([[sum(Q[i, c] * K[j, c] for c in range(d_k)) for j in range(T)] for i in range(T)])
assert np.allclose(e, Q @ K.T)  # all pairs at once: E = Q K^T, (T, T)
e.round(3)

# %% [markdown]
# ## 3. Scaled softmax over the keys (F17)
#
# $$\alpha_{ij} = \frac{\exp(e_{ij}/\sqrt{d_k})}{\sum_{l} \exp(e_{il}/\sqrt{d_k})}$$
#
# computed max-subtracted: $\exp(s - \max s)$ gives the same ratios and never overflows.

# %%
s = e / math.sqrt(d_k)
alpha = np.exp(s - s.max(axis=1, keepdims=True))
alpha /= alpha.sum(axis=1, keepdims=True)  # (T, T)
assert np.allclose(alpha.sum(axis=1), 1.0) and (alpha > 0).all()


def show_weights(ax, w, title, rows=tokens, cols=tokens):
    ax.imshow(w, cmap="viridis", vmin=0, vmax=max(1e-9, float(np.max(w))))
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("key j")
    ax.set_ylabel("query i")
    ax.set_title(title)
    for (i, j), a in np.ndenumerate(w):
        ax.text(j, i, f"{a:.2f}", ha="center", va="center", color="w", fontsize=8)


fig, ax = plt.subplots(figsize=(3.6, 3.4))
show_weights(ax, alpha, r"$\alpha_{ij}$ (F17)")
plt.show()

# %% [markdown]
# ## 4. Weighted sum of the values (F18)
#
# $$o_i = \sum_j \alpha_{ij} v_j$$

# %%
o_loop = np.stack([sum(alpha[i, j] * V[j] for j in range(T)) for i in range(T)])  # (T, D)
o_loop.round(3)

# %% [markdown]
# ## 5. All of it at once (F5)
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V$$
#
# `F.scaled_dot_product_attention` takes (B, H, T, D) arrays: a batch of sequences and a number of
# heads, here one of each. It can also return the weights (C24).

# %%
o, w = F.scaled_dot_product_attention(
    Tensor(Q[None, None]), Tensor(K[None, None]), Tensor(V[None, None]), return_weights=True
)
assert np.allclose(o.data[0, 0], o_loop) and np.allclose(w[0, 0], alpha)
print("max |F5 - loop| =", np.abs(o.data[0, 0] - o_loop).max())

# %% [markdown]
# **Erratum in seed 003 §4.2 (F13).** It writes $S_{ij} = Q_i K_j^\top/\sqrt{d_k} = \alpha_{ij}$,
# using the raw scaled scores as weights. The weights are the softmax of the scores over $j$,
# $\alpha_{ij} = \mathrm{softmax}_j(S_{ij})$. Raw scores are not a weighting at all: they can be
# negative and their rows do not sum to 1.

# %%
S = Q @ K.T / math.sqrt(d_k)
print("row sums of S:", S.sum(axis=1).round(2), "  of softmax(S):", alpha.sum(axis=1).round(2))
assert not np.allclose(S @ V, o_loop)

# %% [markdown]
# ## 6. Why divide by $\sqrt{d_k}$
#
# For random $q, k$ with unit-variance entries, $q^\top k$ is a sum of $d_k$ products, so its
# variance is $d_k$. Unscaled, the scores spread out as $d_k$ grows and the softmax collapses onto
# one key (its gradient vanishes). Divided by $\sqrt{d_k}$ the variance stays 1.

# %%
dims = [4, 16, 64, 256, 1024]
top_raw, top_scaled, var_scaled = [], [], []
for d in dims:
    q = rng.standard_normal((N_TRIALS, 1, d))
    k = rng.standard_normal((N_TRIALS, 10, d))  # 10 keys per trial
    raw = (q @ k.transpose(0, 2, 1))[:, 0]  # (N, 10)
    for scores, out in ((raw, top_raw), (raw / math.sqrt(d), top_scaled)):
        p = np.exp(scores - scores.max(1, keepdims=True))
        out.append((p / p.sum(1, keepdims=True)).max(1).mean())
    var_scaled.append((raw / math.sqrt(d)).var())
assert all(abs(v - 1) < 0.2 for v in var_scaled)
assert top_raw[-1] > 0.85 and top_scaled[-1] < 0.5
fig, ax = plt.subplots(figsize=(5, 3))
ax.semilogx(dims, top_raw, "o-", label=r"softmax($q^\top k$)")
ax.semilogx(dims, top_scaled, "o-", label=r"softmax($q^\top k/\sqrt{d_k}$)")
ax.set_xlabel("$d_k$")
ax.set_ylabel("mean largest weight (10 keys)")
ax.legend()
plt.show()

# %% [markdown]
# ## 7. Masks
#
# A mask says which keys each query may read. A boolean mask (True = may attend, as
# `torch.nn.functional.scaled_dot_product_attention`) sets the forbidden scores to $-\infty$
# before the softmax, so their weights are exactly 0; a float mask is added to the scores.
#
# * **causal**: query $i$ reads keys $j \le i$ only; a language model must not see the future.
# * **padding**: a batch pads short sequences to one length; padded keys must get no weight.
#
# A query with every key masked gets zeros (PyTorch gives NaN there; stated as a deviation).

# %%
causal = causal_mask(T, T, np)  # (T, T) lower triangle
padding = np.array([True, True, True, False])[None, :]  # (1, S): "down" is padding
both = causal & padding
outs = {}
for name, m in (("causal", causal), ("padding", padding), ("causal & padding", both)):
    outs[name] = F.scaled_dot_product_attention(
        Tensor(Q[None, None]), Tensor(K[None, None]), Tensor(V[None, None]), m, return_weights=True
    )[1][0, 0]
    assert np.all(outs[name][~np.broadcast_to(m, (T, T))] == 0)

fig, axes = plt.subplots(2, 3, figsize=(10, 6.4))
for col, (name, m) in enumerate(
    (("causal", causal), ("padding", padding), ("causal & padding", both))
):
    axes[0, col].imshow(np.broadcast_to(m, (T, T)), cmap="gray", vmin=0, vmax=1)
    axes[0, col].set_title(f"mask: {name}")
    axes[0, col].set_xticks(range(T), tokens)
    axes[0, col].set_yticks(range(T), tokens)
    show_weights(axes[1, col], outs[name], f"weights, {name}")
fig.suptitle("top: masks (white = may attend); bottom: attention weights")
plt.tight_layout()
plt.show()

# %% [markdown]
# The property the causal mask exists for: changing the tokens after position $t$ leaves the
# outputs up to $t$ unchanged (a hypothesis test checks it on random shapes).

# %%
t = 1
X2 = X.copy()
X2[t + 1 :] = rng.standard_normal((T - t - 1, C))
o1 = F.scaled_dot_product_attention(
    *(Tensor((X @ W)[None, None]) for W in (W_Q, W_K, W_V)), is_causal=True
)
o2 = F.scaled_dot_product_attention(
    *(Tensor((X2 @ W)[None, None]) for W in (W_Q, W_K, W_V)), is_causal=True
)
assert np.array_equal(o1.data[..., : t + 1, :], o2.data[..., : t + 1, :])
print(
    "outputs 0..1 unchanged; output 2 moved by", np.abs(o1.data - o2.data)[0, 0, 2].max().round(3)
)

# %% [markdown]
# ## 8. Multi-head attention (F19, F14)
#
# Seed 004 step 5: run the attention $h$ times in parallel with different projections, concatenate
# the outputs, project once more:
# $$\mathrm{MultiHead}(X) = \mathrm{Concat}(\mathrm{head}_1, \ldots, \mathrm{head}_h)\,W_o,\qquad
#   \mathrm{head}_i = \mathrm{Attention}(X W_q^{(i)}, X W_k^{(i)}, X W_v^{(i)}).$$
# Each head has size $d_k = d/m$ (F14, seed 003 §4.3: $m$ heads, model width $d$), so the
# cost equals one full-width head. `MultiHeadAttention` keeps the $h$ projections side by side in
# one (C, C) matrix per role and reshapes (B, T, C) to (B, H, T, D).
#
# A layer returns only its output $y$. To look at its weights we record them: inside
# `with record_attention(model) as maps`, every `MultiHeadAttention` in `model` appends the
# (B, H, T, S) weights of each call to `maps[path]`, where `path` names the layer inside the model
# (`"blocks.0.self_attn"` in a GPT, `""` when the model is the attention layer itself, as here).

# %%
d_model, n_heads = 12, 3
mha = MultiHeadAttention(d_model, n_heads, rng=np.random.default_rng(1))
Xm = rng.standard_normal((1, T, d_model)).astype(np.float32)  # (B, T, C)
with record_attention(mha) as maps:
    y = mha(Tensor(Xm))  # (B, T, C)
(w_heads,) = maps[""]  # one call recorded: (B, H, T, T)
D = mha.d_k
assert D == d_model // n_heads == 4

heads = []
for h in range(n_heads):
    cols = slice(h * D, (h + 1) * D)
    qh, kh, vh = (Xm @ L.W.data[:, cols] + L.b.data[cols] for L in (mha.W_q, mha.W_k, mha.W_v))
    heads.append(
        F.scaled_dot_product_attention(
            Tensor(qh[:, None]), Tensor(kh[:, None]), Tensor(vh[:, None])
        ).data[:, 0]
    )
y_ref = np.concatenate(heads, axis=-1) @ mha.W_o.W.data + mha.W_o.b.data
assert np.allclose(y.data, y_ref, atol=1e-5)
print("max |MHA - concat of heads| =", np.abs(y.data - y_ref).max())

try:
    MultiHeadAttention(10, 3)
except ValueError as err:
    print("F14:", err)

# %% [markdown]
# Each head computes its own weighting of the same four tokens (C24: attention weights are a
# window into what the layer does, though not a full explanation of it).

# %%
fig, axes = plt.subplots(1, n_heads, figsize=(3.4 * n_heads, 3.2))
for h in range(n_heads):
    show_weights(axes[h], w_heads[0, h], f"head {h + 1}")
    assert np.allclose(w_heads[0, h].sum(-1), 1.0, atol=1e-6)
plt.tight_layout()
plt.show()
