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
# # 06 · GPT: training a decoder-only Transformer on Shakespeare, and sampling from it
#
# Chapter 03 built Transformer blocks, chapter 05 the language-modelling objective. A GPT is the
# two together: token + position embeddings, a stack of pre-LN blocks with **causal**
# self-attention, and an output head tied to the token embedding, trained to predict the next
# character everywhere at once. This notebook trains nanoGPT's "baby GPT" with `minillm` and
# looks inside:
#
# 1. initialisation (**C1**) and the tied head (**C2**);
# 2. the learning-rate schedule (**C21**) and gradient accumulation (**C9**, **F12**);
# 3. training, with train/validation loss curves, and what the loop offers against
#    overfitting (**C22**);
# 4. sampling: greedy, temperature, top-k, top-p (**C19**);
# 5. the KV cache: the same tokens, faster;
# 6. the autoregressive factorisation (**F1**), checked three ways;
# 7. attention maps of the trained model (**C24**).

# %% tags=["parameters"]
# Settings. CI sets MINILLM_SMALL=1 to run the notebook in well under a minute.
import os

SMALL = os.environ.get("MINILLM_SMALL", "0") == "1"
PRESET = "shakespeare-char"  # nanoGPT's CPU baby GPT: 4 layers x 4 heads x 128, block 64
if SMALL:  # a smaller model for a short run
    OVERRIDES = {
        "model.n_layers": 2,
        "model.n_heads": 2,
        "model.d_model": 48,
        "model.block_size": 32,
        "batch_size": 8,
        "max_iters": 80,
        "warmup_iters": 10,
        "eval_interval": 20,
        "eval_iters": 4,
        "log_interval": 2,
    }
else:  # the preset with half its steps (the cosine ends at step 1000): ~2.5 minutes on 2 cores
    OVERRIDES = {"max_iters": 1000, "log_interval": 10}
ES_STEPS = 300 if SMALL else 600  # the early-stopping demo's step limit
GEN_TOKENS = 60 if SMALL else 200  # tokens per sample
TIMING_REPEATS = 1 if SMALL else 3  # KV-cache timing: the fastest of this many runs

# %%
import math
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import minillm.functional as F
from minillm.tensor import Tensor, no_grad

np.set_printoptions(linewidth=100)
WORK = Path(tempfile.mkdtemp(prefix="minillm-06-"))  # checkpoints go here, not into the repo

# %% [markdown]
# ## 1. The data and the model
#
# `TrainConfig` holds every setting of a run, with the model's own config nested in it:
# `cfg.model` names the model ("gpt", an entry of `minillm.models`' registry) and
# `cfg.model_config` is its `GPTConfig` (`n_layers`, `n_heads`, `d_model`, `block_size`, ...).
# A preset is a small TOML file of overrides whose `[model]` table sets those fields; the settings
# cell above shrinks it for CI with `"model.FIELD"` keys. `prepare_data` loads the shipped
# Shakespeare, builds the character tokenizer (chapter 05) and cuts train/val; the tokenizer fixes
# the vocabulary size, which `cfg.model_config_for(V)` fills in.

# %%
from minillm.models import GPT, GPTConfig
from minillm.train import TrainConfig, apply_overrides, load_preset, prepare_data

cfg = apply_overrides(TrainConfig(), load_preset(PRESET), "preset")
cfg = apply_overrides(cfg, {**OVERRIDES, "out_dir": str(WORK / "gpt"), "progress": False})
tok, corpus = prepare_data(cfg)
V, C, L = tok.vocab_size, cfg.model_config.d_model, cfg.model_config.n_layers
assert cfg.model == "gpt" and cfg.block_size == cfg.model_config.block_size
model = GPT(cfg.model_config_for(V), seed=cfg.seed)
print(model.config)
print(corpus, f"; {model.num_params():,} parameters (without the position table)")
assert model.num_params(non_embedding=False) - model.num_params() == cfg.block_size * C

# %% [markdown]
# ## 2. Initialisation (C1)
#
# GPT-2's scheme: every Linear and Embedding weight $\sim \mathcal N(0, 0.02^2)$, LayerNorm gains
# 1 (and biases 0). The two projections that **write into the residual stream**, attention's
# $W_o$ and the feed-forward $W_2$, get $\mathcal N(0, (0.02/\sqrt{2L})^2)$: the stream adds up
# $2L$ of their outputs, so their summed variance stays that of one layer however deep the model.
# With such small weights the logits start near zero, the softmax near uniform, and the loss
# near $\ln V$.

# %%
targets_std = {"W_o": 0.02 / math.sqrt(2 * L), "W_2": 0.02 / math.sqrt(2 * L)}
rows = []
for name, p in model.named_parameters():
    kind = name.split(".")[-2] if name.endswith(".W") else name.split(".")[-1]
    if kind in ("b", "beta"):  # biases (none in the preset, bias=False) start at 0
        assert not p.data.any(), name
        continue
    expected = 1.0 if kind == "gamma" else targets_std.get(kind, 0.02)
    spread = p.data.std() if kind != "gamma" else p.data.mean()
    rows.append((name, tuple(p.shape), float(spread), expected))
    assert abs(spread - expected) < 0.1 * expected, (name, spread, expected)
for name, shape, got, want in rows[:10]:
    print(f"{name:28s} {str(shape):12s} std/mean {got:.4f}  (GPT-2: {want:.4f})")

xb, yb = corpus.get_batch("train", cfg.batch_size, cfg.block_size, np.random.default_rng(0))
with no_grad():
    logits0, loss0 = model(xb, yb)  # (B, T, V), scalar
print(f"loss at init {loss0.item():.3f} vs ln V = {math.log(V):.3f}")
assert abs(loss0.item() - math.log(V)) < 0.1

# %% [markdown]
# What goes wrong otherwise: the same model with standard-normal weights (std 1 instead of
# 0.02) starts with huge logits, a next-token distribution that is confidently wrong, and a loss
# many times $\ln V$, which the first steps then spend undoing.

# %%
wild = GPT(cfg.model_config_for(V), seed=cfg.seed)
for name, p in wild.named_parameters():
    if name.endswith(".W"):
        p.data = p.data / p.data.std()  # std 1
with no_grad():
    logits_wild, loss_wild = wild(xb, yb)
print(f"loss at init with std-1 weights: {loss_wild.item():.1f}")
assert loss_wild.item() > 3 * math.log(V)

fig, ax = plt.subplots(figsize=(6, 3.2))
for lg, label in ((logits0, "GPT-2 init (std 0.02)"), (logits_wild, "std 1")):
    p_next = F.softmax(Tensor(lg.data[0, -1].astype(np.float64))).data  # (V,)
    ax.semilogy(np.sort(p_next)[::-1], ".-", label=label)
ax.axhline(1 / V, ls="--", c="gray", label="uniform 1/V")
ax.set_xlabel("token rank")
ax.set_ylabel("p(next token) at init")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. The tied head (C2)
#
# $$\text{logits} = \mathrm{LN}_f(x_L)\, W_{te}^{\top}$$
# One (V, C) matrix maps ids to vectors at the input and vectors to scores at the output (Press
# & Wolf 2017; GPT-2). The head `model.lm_head` is a `TiedLinear` over `model.wte`: it owns no
# parameter, its weight `lm_head.W` is `wte.W.T` (C, V), so tying saves the $V \cdot C$
# parameters of an untied head (`tie_weights=False`: a `Linear` (C, V) of its own), and the
# embedding's gradient is the sum of both uses. Two checks: (1) changing row $v$ of
# $W_{te}$, for a token $v$ absent from the input, changes the logit of $v$ and nothing else;
# (2) that row still receives a gradient, through the head alone (untied, it gets none).

# %%
from minillm.nn import Linear, TiedLinear

assert isinstance(model.lm_head, TiedLinear)
assert not any("lm_head" in n for n, _ in model.named_parameters())  # the head owns nothing
assert np.array_equal(model.lm_head.W.data, model.wte.W.data.T)  # (C, V): wte's table
untied = GPT(replace(model.config, tie_weights=False), seed=cfg.seed)
assert isinstance(untied.lm_head, Linear) and untied.lm_head.W.shape == (C, V)
assert untied.num_params() - model.num_params() == V * C

absent = int(np.setdiff1d(np.arange(V), xb)[0])  # a token id that is not in the batch
with no_grad():
    before, _ = model(xb)  # (B, T, V)
    saved = model.wte.W.data[absent].copy()
    model.wte.W.data[absent] += 0.5
    after, _ = model(xb)
    model.wte.W.data[absent] = saved
others = np.arange(V) != absent
assert np.array_equal(after.data[..., others], before.data[..., others])
assert not np.allclose(after.data[..., absent], before.data[..., absent])

for m in (model, untied):
    m.zero_grad()
    m(xb, yb)[1].backward()
assert np.abs(model.wte.W.grad[absent]).max() > 0  # tied: the head's gradient lands here
assert np.abs(untied.wte.W.grad[absent]).max() == 0  # untied: an unused row gets nothing
assert np.abs(untied.lm_head.W.grad[:, absent]).max() > 0
model.zero_grad()
print(f"token {tok.decode([absent])!r} is not in the batch; its embedding row still learns")

# %% [markdown]
# ## 4. The learning-rate schedule (C21)
#
# AdamW with nanoGPT's schedule: a linear **warm-up** from almost 0 to the peak over
# `warmup_iters` steps (Adam's second-moment estimates are poor during the first steps, and a
# full-size step then can throw the weights far away), then a **cosine** decay to `min_lr` at
# step $D$ = `lr_decay_iters` (unset here, so the last step: `cfg.decay_iters` resolves it):
# $$\eta_t = \eta_{max}\frac{t+1}{w+1}\ (t < w), \qquad
#   \eta_t = \eta_{min} + \tfrac12\big(1 + \cos(\pi \tfrac{t-w}{D-w})\big)(\eta_{max}-\eta_{min})
#   \ (w \le t \le D).$$
# (The other half of C21: fine-tuning a pre-trained model uses the same shape with a peak one
# to two orders of magnitude below the pre-training one.)

# %%
from minillm.optim import warmup_cosine_lr

steps = np.arange(cfg.max_iters + 1)
schedule = [
    warmup_cosine_lr(s, cfg.lr, cfg.min_lr, cfg.warmup_iters, cfg.decay_iters) for s in steps
]
assert cfg.lr_decay_iters is None and cfg.decay_iters == cfg.max_iters
assert math.isclose(schedule[0], cfg.lr / (cfg.warmup_iters + 1))
assert math.isclose(schedule[cfg.warmup_iters], cfg.lr)  # the peak
assert math.isclose(schedule[cfg.decay_iters], cfg.min_lr)  # the floor
assert np.all(np.diff(schedule[: cfg.warmup_iters + 1]) > 0)
assert np.all(np.diff(schedule[cfg.warmup_iters :]) <= 0)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(steps, schedule)
ax.axvline(cfg.warmup_iters, ls=":", c="gray")
ax.set_xlabel("step")
ax.set_ylabel("learning rate")
ax.set_title(f"warm-up {cfg.warmup_iters} steps, cosine to {cfg.min_lr:g}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Gradient accumulation (C9, F12)
#
# The loss of a batch is a mean, $L(\theta) = \frac1N \sum_{i=1}^N \ell(M_\theta(x_i), y_i)$
# (F12). Split the $N$ examples into $k$ equal micro-batches with means $L_j$: then
# $L = \frac1k \sum_j L_j$ and $\nabla L = \sum_j \nabla(L_j / k)$. So running backward on each
# micro-batch's loss **scaled by $1/k$** and letting the gradients add up in `.grad` gives the
# big batch's gradient, with only one micro-batch's activations in memory at a time. Checked in
# float64 on a small GPT: 3 micro-batches of 4 sequences against one batch of 12.

# %%
from minillm.train import accumulate_gradients

tiny = GPT(GPTConfig(vocab_size=V, block_size=16, n_layers=2, n_heads=2, d_model=24), seed=3)
tiny.double()  # every parameter to float64
assert all(p.dtype == np.float64 for p in tiny.parameters())
rng = np.random.default_rng(4)
micro = [corpus.get_batch("train", 4, 16, rng) for _ in range(3)]  # 3 x ((4, 16), (4, 16))
acc_loss = accumulate_gradients(tiny, micro)
accumulated = [p.grad.copy() for p in tiny.parameters()]
tiny.zero_grad()
x_big = np.concatenate([x for x, _ in micro])  # (12, 16)
y_big = np.concatenate([y for _, y in micro])  # (12, 16)
_, big_loss = tiny(x_big, y_big)
big_loss.backward()
big = [p.grad.copy() for p in tiny.parameters()]
tiny.zero_grad()
scale = max(np.abs(b).max() for b in big)  # (W_k's bias has a zero gradient: a shift of all
# scores of a row leaves the softmax unchanged, so compare against the largest gradient)
worst = max(np.abs(a - b).max() for a, b in zip(accumulated, big, strict=True)) / scale
print(f"loss {acc_loss:.12f} vs {big_loss.item():.12f}; worst relative grad difference {worst:.1e}")
assert math.isclose(acc_loss, big_loss.item(), rel_tol=1e-12)
assert worst < 1e-10

# forgetting the 1/k: the gradients add up to k times the big batch's
for x, y in micro:
    tiny(x, y)[1].backward()
assert all(np.allclose(p.grad, 3 * b) for p, b in zip(tiny.parameters(), big, strict=True))
tiny.zero_grad()

# %% [markdown]
# ## 6. Training
#
# `minillm.train.train(cfg)` is nanoGPT's `train.py`: each step sets the scheduled learning
# rate, accumulates `grad_accum_steps` micro-batches, clips the global gradient norm to
# `grad_clip`, and makes one AdamW step. Every `eval_interval` steps it estimates the train and
# val loss on `eval_iters` fresh batches each and writes a checkpoint (to a temporary folder
# here). `metrics.jsonl` records everything.

# %%
from minillm.train import load_checkpoint, read_metrics, train

result = train(cfg, log=print)
print(f"{result.step} steps in {result.seconds:.0f} s; val loss {result.val_loss:.3f}")
records = read_metrics(result.metrics)
logged = [r for r in records if r["kind"] == "train"]
evals = [r for r in records if r["kind"] == "eval"]
lr_expected = [schedule[r["step"]] for r in logged]
assert np.allclose([r["lr"] for r in logged], lr_expected)  # the loop follows C21
assert evals[-1]["val_loss"] < evals[0]["val_loss"] - (0.5 if SMALL else 1.8)
assert result.val_loss < math.log(V) - (0.5 if SMALL else 1.8)

fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
axes[0].plot([r["step"] for r in logged], [r["loss"] for r in logged], lw=0.7, alpha=0.5,
             label="train (one batch)")  # fmt: skip
axes[0].plot([r["step"] for r in evals], [r["train_loss"] for r in evals], "o-", label="train")
axes[0].plot([r["step"] for r in evals], [r["val_loss"] for r in evals], "s-", label="val")
axes[0].axhline(math.log(V), ls="--", c="gray", label="ln V")
axes[0].set_xlabel("step")
axes[0].set_ylabel("cross-entropy (nats / char)")
axes[0].legend()
axes[1].plot([r["step"] for r in logged], [r["tokens_per_s"] for r in logged], lw=0.8)
axes[1].set_xlabel("step")
axes[1].set_ylabel("training tokens / s")
plt.tight_layout()
plt.show()
print("val perplexity by evaluation:", [round(r["val_ppl"], 2) for r in evals])

# %% [markdown]
# The val loss sits a little above the train loss from the first evaluation on, and the gap
# barely grows: the validation text is other scenes and plays (a slightly different
# distribution), and at full size the model sees each training character about once (1000
# steps x 768 characters), far from memorising 930 k of them. The remedies for when the curves
# do part are next.
#
# ## 7. Against overfitting (C22)
#
# What `minillm.train` offers:
# * **weight decay** (AdamW's decoupled $\theta \leftarrow \theta - \eta\lambda\theta$,
#   `weight_decay`), on the weight matrices and embeddings only: `configure_optimizer` groups the
#   parameters by the role their module gives them (`named_parameter_roles()`: "weight",
#   "embedding", "bias", "norm"), since decaying LayerNorm gains and biases towards 0 only fights
#   the normalisation; a frozen parameter (`requires_grad_(False)`) is left out altogether;
# * **dropout** (`dropout`): on the embeddings, the attention weights and each sub-layer's
#   output, in training mode only;
# * **early stopping** (`early_stopping_patience`): stop after that many evaluations without a
#   better val loss; the best weights are kept in `out_dir/best`.
#
# (Data augmentation and ensembles, the other remedies the sources list, are not part of the
# loop.)

# %%
from minillm.train import configure_optimizer

opt = configure_optimizer(model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2))
decayed, plain = opt.param_groups
role = {id(p): r for _, p, r in model.named_parameter_roles()}
assert decayed["weight_decay"] == cfg.weight_decay and plain["weight_decay"] == 0.0
assert {role[id(p)] for p in decayed["params"]} == {"weight", "embedding"}
assert {role[id(p)] for p in plain["params"]} == {"norm"}  # no biases: the preset's bias=false
assert all(p.ndim == 2 for p in decayed["params"]) and all(p.ndim == 1 for p in plain["params"])
print(f"decay on {len(decayed['params'])} matrices, none on {len(plain['params'])} gains")

model.wpe.requires_grad_(False)  # freeze the position table: it leaves the optimizer
frozen = configure_optimizer(model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2))
in_frozen = [p for g in frozen.param_groups for p in g["params"]]
assert len(in_frozen) == len(decayed["params"]) + len(plain["params"]) - 1
assert all(p is not model.wpe.W for p in in_frozen)
model.wpe.requires_grad_(True)

dropped = GPT(replace(model.config, dropout=0.2), seed=1)
with no_grad():
    a, b = dropped(xb)[0].data, dropped(xb)[0].data  # training mode: new masks each call
    dropped.eval()
    c, d = dropped(xb)[0].data, dropped(xb)[0].data  # eval mode: no dropout
assert not np.allclose(a, b) and np.array_equal(c, d)

# %% [markdown]
# Early stopping, shown where it matters: a 4,000-character corpus, which a small model learns
# by heart within a few hundred steps. The val loss bottoms out and turns up while the train loss
# keeps falling; with patience 3 the run stops three evaluations after the best one, and
# `out_dir/best` holds the weights of that best evaluation.

# %%
from minillm.data import load_text

tiny_text = WORK / "tiny.txt"
tiny_text.write_text(load_text("shakespeare")[:4000], encoding="utf-8")
es_cfg = apply_overrides(
    cfg,
    {
        "out_dir": str(WORK / "early-stopping"),
        "dataset": str(tiny_text),
        "model.n_layers": 2,
        "model.n_heads": 2,
        "model.d_model": 64,
        "model.block_size": 32,
        "batch_size": 16,
        "max_iters": ES_STEPS,
        "lr": 3e-3 if not SMALL else 1e-2,
        "min_lr": 3e-4,
        "warmup_iters": 20,
        "weight_decay": 0.0,
        "eval_interval": 20 if not SMALL else 10,
        "eval_iters": 4,
        "early_stopping_patience": 3,
    },
)
es = train(es_cfg, log=lambda message: None)
es_evals = [r for r in read_metrics(es.metrics) if r["kind"] == "eval"]
best_at = min(es_evals, key=lambda r: r["val_loss"])["step"]
print(f"stopped early: {es.stopped_early} at step {es.step}; best val loss at step {best_at}")
assert es.stopped_early and es.step < ES_STEPS
assert es.step == best_at + 3 * es_cfg.eval_interval  # three evaluations without improvement
_, _, best_manifest = load_checkpoint(es.best_dir)
assert best_manifest["state"]["step"] == best_at

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot([r["step"] for r in es_evals], [r["train_loss"] for r in es_evals], "o-", label="train")
ax.plot([r["step"] for r in es_evals], [r["val_loss"] for r in es_evals], "s-", label="val")
ax.axvline(best_at, ls=":", c="k", label="best val (kept in best/)")
ax.set_xlabel("step")
ax.set_ylabel("loss")
ax.set_title("4,000 characters: memorised, then stopped")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 8. Sampling strategies (C19)
#
# At each step the model gives logits $z$ for the next token. How we pick from them:
# * **greedy**: $y = \arg\max_i z_i$ (deterministic; `temperature=0`);
# * **temperature** $\tau$: sample from $p_i \propto \exp(z_i / \tau)$; $\tau < 1$ sharpens the
#   distribution towards greedy, $\tau > 1$ flattens it towards uniform;
# * **top-k**: keep the $k$ largest logits, renormalise, sample;
# * **top-p** (nucleus, Holtzman et al. 2020): keep the *smallest* set of most likely tokens
#   whose probability adds up to at least $p$, renormalise, sample.
#
# First the definitions, on the trained model's next-token logits after a prompt:

# %%
from minillm.generate import generate, iter_generate, softmax, top_k_filter, top_p_filter

trained, _, manifest = load_checkpoint(result.out_dir)  # the weights at the end of training
assert manifest["state"]["step"] == result.step
prompt = tok.encode("ROMEO:\n")  # (T0,)
with no_grad():
    z = trained(prompt[None], last_only=True)[0].data[:, -1].astype(np.float64)  # (1, V)
probs = softmax(z)[0]  # (V,)

k, top_p = 5, 0.9
kept_k = np.isfinite(top_k_filter(z, k))[0]  # (V,)
assert kept_k.sum() == k and set(np.flatnonzero(kept_k)) == set(np.argsort(z[0])[-k:])
kept_p = np.isfinite(top_p_filter(z, top_p))[0]  # (V,)
mass = probs[kept_p].sum()
assert mass >= top_p  # enough mass ...
assert mass - probs[kept_p].min() < top_p  # ... and the smallest such set
assert probs[kept_p].min() >= probs[~kept_p].max()  # made of the most likely tokens
taus = [0.25, 0.5, 1.0, 1.5, 2.0]
entropy = [float(-(q * np.log(q + 1e-300)).sum()) for q in (softmax(z / t)[0] for t in taus)]
assert all(a < b for a, b in zip(entropy, entropy[1:], strict=False))  # hotter = flatter
print(f"top-{k} keeps {k} tokens; top-p {top_p} keeps {kept_p.sum()} tokens holding {mass:.3f}")
print(
    "entropy (nats) by temperature:", {t: round(e, 3) for t, e in zip(taus, entropy, strict=True)}
)

order = np.argsort(probs)[::-1][:20]
labels = [repr(tok.decode([i]))[1:-1] for i in order]
fig, ax = plt.subplots(figsize=(10, 3.4))
for j, t in enumerate((0.5, 1.0, 1.5)):
    ax.bar(np.arange(20) + (j - 1) * 0.27, softmax(z / t)[0][order], 0.27, label=f"tau = {t}")
ax.axvline(k - 0.5, c="C3", ls="--", label=f"top-k cut (k={k})")
ax.axvline(kept_p.sum() - 0.5, c="k", ls=":", label=f"top-p cut (p={top_p}, tau=1)")
ax.set_xticks(np.arange(20), labels)
ax.set_ylabel("p(next character)")
ax.set_title("after the prompt 'ROMEO:\\n'")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# The same prompt and seed under each strategy:

# %%
strategies = {
    "greedy": dict(temperature=0),
    "temperature 0.5": dict(temperature=0.5),
    "temperature 1.0": dict(temperature=1.0),
    "temperature 1.5": dict(temperature=1.5),
    f"top-k {k}": dict(top_k=k),
    f"top-p {top_p}": dict(top_p=top_p),
}
samples = {n: generate(trained, prompt, GEN_TOKENS, seed=1, **kw) for n, kw in strategies.items()}
distinct = {}  # the share of distinct 8-character windows: low = the text repeats itself
for name, ids in samples.items():
    distinct[name] = len({tuple(ids[i : i + 8]) for i in range(len(ids) - 7)}) / (len(ids) - 7)
    print(f"--- {name} (distinct 8-grams {distinct[name]:.2f})\n{tok.decode(ids)}\n")

greedy = samples["greedy"]
assert np.array_equal(generate(trained, prompt, GEN_TOKENS, temperature=0, seed=2), greedy)
assert np.array_equal(generate(trained, prompt, GEN_TOKENS, top_k=1, seed=3), greedy)
assert np.array_equal(generate(trained, prompt, GEN_TOKENS, top_p=1e-9, seed=4), greedy)
again = generate(trained, prompt, GEN_TOKENS, temperature=1.0, seed=1)
assert np.array_equal(again, samples["temperature 1.0"])  # same seed, same text
assert not np.array_equal(generate(trained, prompt, GEN_TOKENS, seed=2), again)
for nxt, step_logits in iter_generate(trained, prompt, 30, top_k=k, seed=5):
    assert nxt[0] in np.argsort(step_logits[0])[-k:]  # every draw is among that step's top k
assert distinct["greedy"] < distinct["temperature 1.0"]  # greedy falls into a loop

# %% [markdown]
# What the samples show: **greedy** decoding picks the single most likely character every time
# and soon cycles (the same few words over and over: the most likely *next character* does not
# make the most likely *text*). **Low temperature** is fluent but repetitive, **high
# temperature** invents words, because the long tail of unlikely characters gets real mass.
# **Top-k** and **top-p** cut that tail and sample from the rest: top-k with a fixed number of
# candidates, top-p with as many as the model's confidence needs (few after "Th", many at the
# start of a word).

# %% [markdown]
# ## 9. The KV cache
#
# Without a cache every step runs the model over the whole context again; the keys and values of
# the earlier positions are recomputed although they cannot change (causal attention: position
# $t$ never sees later tokens). The cache keeps them: each step runs the **one** new token
# through the blocks and attends to the stored keys and values. The tokens must be identical;
# only the cost changes. (Past `block_size` tokens the two differ by design: the uncached model
# slides its window every step, the cached one rebuilds its cache from the last half window; see
# `minillm/generate/autoregressive.py`.)

# %%
start = tok.encode("\n")  # (1,)
n_new = 3 * cfg.block_size
latency = {True: None, False: None}  # use_cache -> seconds per token of the fastest run
for use_cache in latency:
    generate(trained, start, 8, temperature=0, use_cache=use_cache)  # warm-up
for _ in range(TIMING_REPEATS):
    for use_cache in latency:  # alternate the two, so a busy moment hits both alike
        t0, per_token = time.perf_counter(), []
        for _ in iter_generate(trained, start, n_new, temperature=0, use_cache=use_cache):
            per_token.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
        if latency[use_cache] is None or sum(per_token) < latency[use_cache].sum():
            latency[use_cache] = np.array(per_token)  # (n_new,)
rate = {c: n_new / lat.sum() for c, lat in latency.items()}
print(f"{n_new} greedy tokens: {rate[True]:.0f} tokens/s with the cache, {rate[False]:.0f} "
      f"without: {rate[True] / rate[False]:.1f}x")  # fmt: skip

block = cfg.block_size
cached = generate(trained, start, n_new, temperature=0, use_cache=True)
uncached = generate(trained, start, n_new, temperature=0, use_cache=False)
assert np.array_equal(cached[:block], uncached[:block])  # identical while the context fits
fits = block - len(start)
sampled = [generate(trained, start, fits, seed=7, use_cache=c) for c in (True, False)]
assert np.array_equal(*sampled)  # sampling too: same logits, same draws

fig, ax = plt.subplots(figsize=(7, 3.2))
ax.plot(1e3 * latency[False], label="no cache: the whole context each step")
ax.plot(1e3 * latency[True], label="KV cache: one token each step")
ax.axvline(block, ls=":", c="gray")
ax.set_xlabel("generated token")
ax.set_ylabel("ms per token")
ax.set_title("context grows until block_size, then slides (no cache) / is rebuilt (cache)")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 10. The autoregressive factorisation, three ways (F1)
#
# $$\log p(y \mid x; \theta) = \sum_{t=1}^{T} \log p(y_t \mid y_{<t}, x; \theta)$$
# A GPT computes every factor in one forward pass, thanks to the causal mask. The same factors
# must come out (a) from decoding step by step with the KV cache, and (b) from running the model
# on each prefix $y_{\le t}$ alone (which also proves causality: nothing after $t$ was there to
# leak in). The mean of their negatives is the training loss (F9).

# %%
T = cfg.block_size
seq = corpus.val[: T + 1]  # (T + 1,) unseen text
x, y = seq[None, :-1], seq[1:]  # (1, T), (T,)
with no_grad():
    logits, loss = trained(x, y[None])  # (1, T, V), scalar
    full = F.log_softmax(logits).data[0, np.arange(T), y]  # (T,) all at once
    caches, step_cached, step_prefix = trained.new_caches(), [], []
    for t in range(T):
        lg, _ = trained(x[:, t : t + 1], caches=caches)  # (1, 1, V): one new token
        step_cached.append(F.log_softmax(lg).data[0, -1, y[t]])
        lg, _ = trained(x[:, : t + 1], last_only=True)  # (1, 1, V): the prefix alone
        step_prefix.append(F.log_softmax(lg).data[0, -1, y[t]])
assert np.allclose(step_cached, full, atol=1e-4)
assert np.allclose(step_prefix, full, atol=1e-4)
assert math.isclose(-full.astype(np.float64).mean(), loss.item(), rel_tol=1e-5)
print(f"log p(y | x) = {full.sum():.2f} over {T} characters; mean NLL {loss.item():.3f}")

fig, ax = plt.subplots(figsize=(12, 2.8))
ax.bar(np.arange(T), -full)
ax.set_xticks(np.arange(T), [repr(tok.decode([i]))[1:-1] for i in y], fontsize=7)
ax.set_ylabel("-log p(y_t | y_<t)")
ax.set_title("surprise per character of unseen text")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 11. Attention maps (C24)
#
# Each head's weights $\alpha_{ij}$ say how much position $i$ reads from position $j \le i$.
# The model runs as usual while we watch it, without rewriting its forward:
# `record_attention(trained)` records the (B, H, T, T) weights of each block's attention under
# its path, `"blocks.<l>.self_attn"`, and a **forward hook** on each block,
# `block.register_forward_hook(fn)`, calls `fn(module, args, output)` after the block's forward,
# here to keep the residual stream the block hands to the next. Check: the final LayerNorm and
# the tied head applied to the last block's output give the model's own logits. Heads
# specialise: some look at the previous character, some at the start of the word or of the line.
# Weights show where information is *read from*, not why it matters; they are a hint, not an
# explanation.

# %%
from minillm.nn import record_attention

snippet = "KING RICHARD III:\nNow is the winter of our discontent"[: cfg.block_size]
ids = tok.encode(snippet)[None, :]  # (1, T)
Ts = ids.shape[1]
stream = []  # the residual stream after each block, (1, T, C) each
handles = [
    blk.register_forward_hook(lambda module, args, out: stream.append(out.data))
    for blk in trained.blocks
]
with no_grad(), record_attention(trained) as recorded:
    logits, _ = trained(ids)  # (1, T, V)
for handle in handles:
    handle.remove()  # later calls run without the hooks
assert len(stream) == L and all(len(recorded[f"blocks.{l}.self_attn"]) == 1 for l in range(L))
with no_grad():
    by_hand = trained.lm_head(trained.ln_f(Tensor(stream[-1]))).data  # (1, T, V)
assert np.allclose(by_hand, logits.data, atol=1e-5)
rms = [float(np.sqrt(np.mean(h**2))) for h in stream]  # one number per block
print("RMS of the residual stream after each block:", np.round(rms, 2))
maps = np.stack([recorded[f"blocks.{l}.self_attn"][0][0] for l in range(L)])  # (L, H, T, T)
assert np.allclose(maps.sum(axis=-1), 1.0, atol=1e-5)  # each row is a distribution
assert np.all(np.triu(maps, k=1) == 0)  # causal: nothing from the future

prev = np.array([[np.diagonal(m, -1).mean() for m in layer] for layer in maps])  # (L, H)
uniform_prev = np.mean(1.0 / np.arange(2, Ts + 1))  # a head attending uniformly
l_best, h_best = np.unravel_index(prev.argmax(), prev.shape)
print("mean weight on the previous character, per (layer, head):\n", prev.round(2))
print(f"uniform attention would give {uniform_prev:.2f}")
if not SMALL:  # a trained model has at least one head that clearly tracks the previous character
    assert prev.max() > 2 * uniform_prev

n_layers, n_heads = maps.shape[:2]
fig, axes = plt.subplots(n_layers, n_heads, figsize=(2.2 * n_heads, 2.2 * n_layers))
for (li, hi), ax in np.ndenumerate(np.asarray(axes).reshape(n_layers, n_heads)):
    ax.imshow(maps[li, hi], cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"layer {li}, head {hi}", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()

chars = [repr(c)[1:-1] for c in snippet]
fig, ax = plt.subplots(figsize=(8, 7))
ax.imshow(maps[l_best, h_best], cmap="viridis", vmin=0, vmax=1)
ax.set_xticks(np.arange(Ts), chars, fontsize=7)
ax.set_yticks(np.arange(Ts), chars, fontsize=7)
ax.set_xlabel("key position j (read from)")
ax.set_ylabel("query position i")
ax.set_title(f"layer {l_best}, head {h_best}: the most 'previous character' head")
plt.tight_layout()
plt.show()

# %%
shutil.rmtree(WORK)  # the checkpoints and the tiny corpus were only for this notebook
