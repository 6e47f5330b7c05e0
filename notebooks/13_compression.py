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
# # 13 · Compression: quantisation, pruning, distillation, low-rank factors
#
# A trained model is a pile of float32 matrices. This chapter makes it smaller and cheaper with
# the four techniques the articles name, each from its formula, each checked by a number:
#
# 1. quantisation (**C4**): by hand on one matrix, then every Linear layer of a GPT;
# 2. pruning (**C3**): unstructured magnitude pruning, a sparsity curve with and without a short
#    recovery run; structured pruning of attention heads;
# 3. knowledge distillation (**C6**): a half-width student taught by the GPT;
# 4. low-rank factorisation (**C7**): singular-value spectra and truncated SVD.
#
# The measured tables on the demo GPT are in `docs/compression.md` (benchmarks/bench_compress.py).

# %% tags=["parameters"]
# Settings. CI sets MINILLM_SMALL=1 to run the notebook in well under a minute.
import os

SMALL = os.environ.get("MINILLM_SMALL", "0") == "1"
if SMALL:  # a tiny GPT and short runs
    MODEL = dict(n_layers=2, n_heads=2, d_model=32, block_size=32)
    TRAIN_STEPS, RECOVER_STEPS, STUDENT_STEPS, VAL_TOKENS = 60, 10, 30, 2_000
else:  # the demo GPT's shape (4 x 4 x 128, block 64), trained for a third of the demo's steps
    MODEL = dict(n_layers=4, n_heads=4, d_model=128, block_size=64)
    TRAIN_STEPS, RECOVER_STEPS, STUDENT_STEPS, VAL_TOKENS = 700, 100, 400, 20_000

# %%
import math
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from minillm.data import CharTokenizer, Corpus, load_text
from minillm.models import GPT, GPTConfig, load_checkpoint, save_checkpoint
from minillm.tensor import Tensor

np.set_printoptions(linewidth=100, precision=4)
WORK = Path(tempfile.mkdtemp(prefix="minillm-13-"))

# %% [markdown]
# ## 0. A model to compress
#
# The shipped Shakespeare, one token per character, and a GPT trained by
# `minillm.compress.fit`: a short AdamW run (warm-up, cosine decay, clipping) that the
# compression package uses for recovery fine-tunes and students. `eval_loss` reads every
# validation token once; perplexity is its exponential (**F9**).

# %%
from minillm.compress import FitConfig, eval_loss, fit

text = load_text("shakespeare")
tok = CharTokenizer.from_text(text)
corpus = Corpus.from_text(text, tok)
config = GPTConfig(vocab_size=tok.vocab_size, bias=False, **MODEL)
model = GPT(config, seed=0)
losses = fit(model, corpus, FitConfig(TRAIN_STEPS, 12, None, 1e-3, 1e-4, 20, seed=0))
val = corpus.val[: VAL_TOKENS + 1]


def ppl(m):
    return math.exp(eval_loss(m, val))


base = ppl(model)
print(f"{model.num_params():,} parameters; loss {losses[0]:.3f} -> {losses[-1]:.3f}")
print(f"val perplexity {base:.3f}")
assert losses[-1] < losses[0] - 0.5 and base < tok.vocab_size
save_checkpoint(WORK / "float", model, tok, {})


def fresh():
    """The trained float model again (each experiment starts from it)."""
    return load_checkpoint(WORK / "float")[0]


# %% [markdown]
# ## 1. Quantisation by hand (C4)
#
# Map floats to $b$-bit integers with a scale $s$ (and a zero point $z$):
#
# $$\text{symmetric: } s = \frac{\max|w|}{2^{b-1}-1},\ z = 0 \qquad
# \text{asymmetric: } s = \frac{\max w - \min w}{2^b - 1},\ z = q_{\min} - \operatorname{round}
# \frac{\min w}{s}$$
#
# $$q = \operatorname{clip}\big(\operatorname{round}(w/s) + z,\ q_{\min}, q_{\max}\big), \qquad
# \hat w = (q - z)\,s, \qquad |\hat w - w| \le s/2.$$
#
# Rounding moves each weight by at most half a step. Per-tensor uses one $s$ for the whole
# matrix; per-channel one per output column, so a column of large weights (an *outlier
# channel*) no longer sets the step for all the others.

# %%
from minillm.ops import quantize as Q

W = model.blocks[0].ff.W_1.W.numpy()  # (C, 4C): a trained weight
for axis, kind in ((None, "per-tensor"), (-1, "per-channel")):
    scale, zero = Q.quant_params(W, bits=8, symmetric=True, axis=axis)
    q = Q.quantize(W, scale, zero, 8, True, axis)  # int8
    W_hat = Q.dequantize(q, scale, zero, axis)
    step = scale if axis is None else scale[None, :]
    err = np.abs(W_hat - W)
    rel = np.linalg.norm(W_hat - W) / np.linalg.norm(W)
    print(f"int8 {kind:12s}: {scale.size:4d} scales, max |error| / (s/2) = "
          f"{(err / (step / 2)).max():.4f}, relative error {rel:.4f}")  # fmt: skip
    assert q.dtype == np.int8 and np.all(err <= step / 2 * (1 + 1e-6))

col = np.abs(W).max(axis=0)  # (4C,) each output channel's largest |w|
print(f"largest channel max |w| = {col.max():.3f}, median = {np.median(col):.3f}")
fig, ax = plt.subplots(1, 2, figsize=(10, 3))
ax[0].hist(W.ravel(), bins=100)
ax[0].set_title("weights of blocks.0.ff.W_1")
ax[1].plot(np.sort(col)[::-1])
ax[1].set_title("max |w| per output channel (sorted)")
plt.show()

# %% [markdown]
# Four bits leave 15 levels. Two int4 values share a byte, so the matrix takes an eighth of its
# float32 bytes:

# %%
q4 = Q.quantize(W, *Q.quant_params(W, 4, True, -1), 4, True, -1)
packed = Q.pack_int4(q4)
print(f"{W.nbytes:,} float bytes -> {q4.nbytes:,} int8 bytes -> {packed.nbytes:,} packed int4")
assert packed.nbytes * 8 == W.nbytes and np.array_equal(Q.unpack_int4(packed, q4.shape), q4)

# %% [markdown]
# ## 2. A quantised Linear and a quantised model (C4)
#
# `QuantLinear` keeps $W_q$ (int8) and the scales as **buffers** (saved, never trained). Its
# forward quantises each row of the input on the fly ($s_x$ per row) and multiplies integers
# with int32 accumulation, dequantising once at the end:
#
# $$y_{mn} = s_{x,m}\, s_{w,n} \sum_k x_{q,mk}\, W_{q,kn} + b_n .$$
#
# NumPy's integer matmul does not use BLAS; `int_matmul` runs the float BLAS instead, and gets
# the same int32 bits: every partial sum is an integer below $2^{24}$, exact in float32.

# %%
rng = np.random.default_rng(0)
a = rng.integers(-128, 128, (64, 512)).astype(np.int8)
b = rng.integers(-128, 128, (512, 128)).astype(np.int8)
assert np.array_equal(Q.int_matmul(a, b), Q.int_matmul_reference(a, b))

from minillm.compress import QuantLinear, quantize_model, weight_bytes

rows = []
for name, kw in [("float32", None), ("int8 per-channel", dict(bits=8)),
                 ("int8 per-tensor", dict(bits=8, per_channel=False)),
                 ("int4 per-channel", dict(bits=4)),
                 ("int4 per-tensor", dict(bits=4, per_channel=False))]:  # fmt: skip
    m = fresh()
    if kw:
        quantize_model(m, **kw)
    rows.append((name, weight_bytes(m)["total"], ppl(m)))
for name, nbytes, p in rows:
    print(f"{name:18s} {nbytes:9,} bytes  val ppl {p:.4f} ({p / base - 1:+.2%})")
assert abs(rows[1][2] / base - 1) < 0.01  # int8 per-channel: within 1 %
print(m.blocks[0].ff)  # the last one: int4 per-tensor

# %% [markdown]
# The quantised model saves like any other: the checkpoint's manifest records the surgery
# (`quantize`, with its arguments), and `load_checkpoint` replays it on a freshly built GPT
# before loading the int8 buffers. `minillm compress --method=int8` does the same from the
# command line.

# %%
m8 = fresh()
quantize_model(m8, bits=8)
save_checkpoint(WORK / "int8", m8, tok, {})
loaded, _, manifest = load_checkpoint(WORK / "int8")
print(manifest["surgery"])
assert isinstance(loaded.blocks[0].ff.W_1, QuantLinear)
assert loaded.blocks[0].ff.W_1.W_q.dtype == np.int8
assert eval_loss(loaded, val) == eval_loss(m8, val)

# %% [markdown]
# ## 3. Pruning (C3)
#
# Magnitude pruning zeroes the weights of smallest $|w|$: keep $w_{ij}$ iff $|w_{ij}| > \tau$,
# $\tau$ the $k$-th smallest magnitude with $k = \operatorname{round}(sN)$ for sparsity $s$,
# over all layers at once (global) or per layer. The mask $M$ is a buffer and the layer computes
# $x (W \odot M) + b$, so a pruned weight gets no gradient and stays zero through a short
# recovery fine-tune.

# %%
from minillm.compress import MaskedLinear, prune_model, sparsity_report

curve = []
for s in (0.0, 0.3, 0.5, 0.7, 0.9):
    m = fresh()
    prune_model(m, s)
    before = ppl(m)
    fit(m, corpus, FitConfig(RECOVER_STEPS, 12, None, 3e-4, 3e-5, 2, seed=1))
    curve.append((s, before, ppl(m)))
    masked = [mm for _, mm in m.named_modules() if isinstance(mm, MaskedLinear)]
    assert all(np.all(mm.W.data[mm.mask == 0] == 0) for mm in masked)  # still zero
    assert abs(sparsity_report(m)["sparsity"] - s) < 1e-3
for s, p0, p1 in curve:
    print(f"sparsity {s:.0%}: ppl {p0:.3f} -> {p1:.3f} after {RECOVER_STEPS} steps")
s_, p0_, p1_ = zip(*curve)
plt.plot(s_, p0_, "o-", label="pruned")
plt.plot(s_, p1_, "o-", label=f"+ {RECOVER_STEPS} recovery steps")
plt.xlabel("sparsity")
plt.ylabel("val perplexity")
plt.legend()
plt.show()
print(sparsity_report(m))

# %% [markdown]
# Zeros in a dense array take the same bytes and the same matmul time. **Structured** pruning
# removes whole attention heads (scored by the loss increase when the head's output is
# zeroed) or feed-forward neurons, and the matrices really shrink.

# %%
from minillm.compress import head_importance, prune_heads, top_k

batches = [corpus.get_batch("train", 12, config.block_size, np.random.default_rng(i))
           for i in range(2)]  # fmt: skip
m = fresh()
scores = head_importance(m, batches)
for path, s in scores.items():
    print(f"{path}: loss increase per masked head {np.round(s, 4)}")
keep = top_k(scores, 0.5)
n_before = m.num_params()
prune_heads(m, keep)
print(f"kept heads {keep}: {n_before:,} -> {m.num_params():,} parameters, ppl {ppl(m):.3f}")
assert m.num_params() < n_before

# %% [markdown]
# ## 4. Knowledge distillation (C6)
#
# A student learns from the teacher's softened distribution as well as from the data
# (Hinton et al. 2015):
#
# $$L = \alpha\,\tau^2\, \mathrm{KL}\big(p_T^{\tau} \,\|\, p_S^{\tau}\big) + (1 - \alpha)\,
# \mathrm{CE}(z_S, y), \qquad p^{\tau} = \operatorname{softmax}(z/\tau).$$
#
# With $\alpha = 0$ it is the plain cross-entropy; $\tau^2$ keeps the soft term's gradient the
# same size whatever $\tau$.

# %%
import minillm.functional as F
from minillm.compress import distill, distillation_loss

z = np.random.default_rng(1).normal(size=(6, 5))
y = np.array([0, 4, 2, 2, 1, 3])
ce = F.cross_entropy(Tensor(z), y).item()
assert abs(distillation_loss(Tensor(z), z, y, alpha=0.0).item() - ce) < 1e-12
assert distillation_loss(Tensor(z), z, y, alpha=1.0, tau=2.0).item() < 1e-12  # student = teacher

student_config = GPTConfig(**{**config.to_dict(), "d_model": config.d_model // 2})
curves = {}
for how in ("alone", "distilled"):
    student = GPT(student_config, seed=7)  # the same start for both
    run = FitConfig(STUDENT_STEPS, 12, None, 1e-3, 1e-4, 10, seed=3)
    if how == "alone":
        curves[how] = fit(student, corpus, run)
    else:
        curves[how] = distill(model, student, corpus, run, alpha=0.5, tau=2.0)
    print(f"student ({student.num_params():,} parameters) {how}: val ppl {ppl(student):.3f}")
for how, c in curves.items():
    plt.plot(np.convolve(c, np.ones(10) / 10, "valid"), label=how)
plt.ylabel("training loss (distilled: the mixed loss)")
plt.xlabel("step")
plt.legend()
plt.show()

# %% [markdown]
# ## 5. Low-rank factorisation (C7)
#
# $W = U S V^\top$; keeping the $r$ largest singular values gives the best rank-$r$ matrix
# (Eckart-Young), stored as two thin layers $A = U_r S_r^{1/2}$ (in, r) and
# $B = S_r^{1/2} V_r^\top$ (r, out): $r(\text{in} + \text{out})$ numbers instead of
# in·out. The energy kept is $\sum_{i \le r} s_i^2 / \sum_i s_i^2$.
#
# LoRA (fine-tuning, C16) uses the very same shape, $x W + x A B$, but for the
# *update*: $W$ stays and only the thin $A, B$ train.

# %%
from minillm.compress import energy, factorize_model, plan_ranks, svd_factors

for path in ("blocks.0.self_attn.W_q", "blocks.0.ff.W_1", "blocks.0.ff.W_2"):
    s = np.linalg.svd(model.get_submodule(path).W.numpy(), compute_uv=False)
    plt.semilogy(s / s[0], label=path)
plt.title("singular values / largest")
plt.xlabel("i")
plt.legend()
plt.show()

A, B, s = svd_factors(W, 8)
assert abs(np.linalg.norm(W - A @ B) - np.sqrt((s[8:] ** 2).sum())) < 1e-4 * np.linalg.norm(W)
C_ = config.d_model
svd_rows = []
for r in (C_ // 2, C_ // 4, C_ // 8):
    m = fresh()
    plan = plan_ranks(m, rank=r, saving_only=False)
    e = np.mean([energy(np.linalg.svd(m.get_submodule(p).W.numpy(), compute_uv=False), r)
                 for p in plan])  # fmt: skip
    factorize_model(m, plan)
    svd_rows.append((r, e, m.num_params(), ppl(m)))
    print(f"rank {r:3d}: energy kept {e:.3f}, {m.num_params():,} parameters, ppl {ppl(m):.3f}")
assert svd_rows[0][3] < svd_rows[-1][3]  # less rank, worse perplexity
