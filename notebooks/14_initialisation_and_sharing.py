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
# # 14 · Initialisation and parameter sharing
#
# What makes a deep network train at all, and how to have fewer parameters without fewer layers:
#
# 1. initialisation schemes (**C1**): zero, $\mathcal N(0, 0.02^2)$, Xavier/Glorot, Kaiming/He and
#    GPT-2's scaled residual init, compared by the activation and gradient sizes of every layer
#    of a deep GPT, at initialisation and after training, and by their loss curves; zero init
#    fails by symmetry;
# 2. parameter sharing (**C2**): tied input/output embeddings, and ALBERT's cross-layer sharing
#    (one block's weights for every layer), counted and stored once.

# %% tags=["parameters"]
# Settings. CI sets MINILLM_SMALL=1 to run the notebook in well under a minute.
import os

SMALL = os.environ.get("MINILLM_SMALL", "0") == "1"
if SMALL:
    DEEP = dict(n_layers=8, n_heads=2, d_model=32, block_size=32)  # deep, but narrow
    STEPS, SHARE_STEPS = 25, 25
else:  # the study: 8 layers, 100 steps
    DEEP = dict(n_layers=8, n_heads=4, d_model=64, block_size=64)
    STEPS, SHARE_STEPS = 100, 300

# %%
import json
import math
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from minillm.compress import FitConfig, eval_loss, fit
from minillm.data import CharTokenizer, Corpus, load_text
from minillm.models import GPT, GPTConfig

text = load_text("shakespeare")
tok = CharTokenizer.from_text(text)
corpus = Corpus.from_text(text, tok)
V = tok.vocab_size
WORK = Path(tempfile.mkdtemp(prefix="minillm-14-"))

# %% [markdown]
# ## 1. The schemes (C1)
#
# For a Linear layer $y = xW$, $W$ of shape (fan_in, fan_out):
#
# - zero: $W = 0$. Every unit of a layer is the same, and stays the same.
# - normal: $\mathcal N(0, 0.02^2)$, a fixed small size whatever the width.
# - Xavier/Glorot: $\mathcal U(\pm\sqrt{6/(n_\text{in}+n_\text{out})})$ or
#   $\mathcal N(0, 2/(n_\text{in}+n_\text{out}))$; keeps the variance of activations and of
#   gradients through linear units.
# - Kaiming/He: $\mathcal N(0, 2/n_\text{in})$ (or uniform with the same variance); keeps the
#   variance of activations through ReLU.
# - GPT-2: $\mathcal N(0, 0.02^2)$, and $\mathcal N(0, (0.02/\sqrt{2L})^2)$ for $W_o$ and $W_2$,
#   which write into the residual stream: its variance stays that of one layer as $2L$ outputs
#   are added to it.
#
# `nn.init.init_scheme_(model, scheme, rng, std, residual)` redraws a whole model by one of
# them (embeddings $\mathcal N(0, 0.02^2)$, LayerNorm $\gamma = 1$, biases 0).

# %%
from minillm.nn import Linear, Module, init


class TwoLayers(Module):
    def __init__(self):
        super().__init__()
        self.a = Linear(256, 512)
        self.b = Linear(512, 128)


net = TwoLayers()
expected = {
    "normal": lambda i, o: 0.02,
    "xavier_uniform": lambda i, o: math.sqrt(2 / (i + o)),
    "xavier_normal": lambda i, o: math.sqrt(2 / (i + o)),
    "kaiming_normal": lambda i, o: math.sqrt(2 / i),
}
for scheme, std in expected.items():
    init.init_scheme_(net, scheme, np.random.default_rng(0))
    for lin in (net.a, net.b):
        i, o = lin.W.shape
        print(f"{scheme:15s} {str(lin.W.shape):11s} std {lin.W.data.std():.4f} "
              f"(formula {std(i, o):.4f})")  # fmt: skip
        assert abs(lin.W.data.std() / std(i, o) - 1) < 0.03

# %% [markdown]
# ## 2. A deep GPT at initialisation and after training
#
# `compress.layer_statistics` runs one forward and backward with hooks on every block and
# reports the RMS of the residual stream after each block and of each block's gradients. A good
# scheme keeps both level with depth.

# %%
from minillm.compress import layer_statistics

deep = GPTConfig(vocab_size=V, bias=False, **DEEP)
x, y = corpus.get_batch("train", 12, deep.block_size, np.random.default_rng(5))
SCHEMES = ("zero", "normal", "xavier_uniform", "xavier_normal", "kaiming_normal", "gpt2")
stats, curves, models = {}, {}, {}
for scheme in SCHEMES:
    m = GPT(deep, seed=0)
    init.init_scheme_(m, scheme, np.random.default_rng(0), 0.02, m.residual_projections())
    at_init = layer_statistics(m, x, y)
    curves[scheme] = fit(m, corpus, FitConfig(STEPS, 12, None, 1e-3, 1e-4, 5, seed=2))
    stats[scheme] = (at_init, layer_statistics(m, x, y))
    models[scheme] = m
    print(f"{scheme:15s} loss {curves[scheme][0]:.3f} -> {np.mean(curves[scheme][-5:]):.3f}")

fig, ax = plt.subplots(1, 3, figsize=(15, 3.5))
for scheme in SCHEMES:
    ax[0].semilogy(range(1, 9), np.maximum(stats[scheme][0]["activation_rms"], 1e-6), "o-",
                   label=scheme)  # fmt: skip
    ax[1].semilogy(range(1, 9), np.maximum(stats[scheme][0]["grad_rms"], 1e-12), "o-")
    ax[2].plot(curves[scheme], label=scheme)
ax[0].set_title("activation RMS after block l, at init")
ax[1].set_title("gradient RMS of block l, at init")
ax[2].set_title("training loss")
ax[0].set_xlabel("block")
ax[1].set_xlabel("block")
ax[2].set_xlabel("step")
ax[0].legend(fontsize=7)
plt.show()

# %% [markdown]
# GPT-2's scaled residual projections keep the residual stream's size almost level with depth,
# while the wider Xavier/Kaiming draws grow it block by block (the stream adds every block's
# output). Zero init is flat for another reason: nothing ever changes.

# %%
gpt2_act = stats["gpt2"][0]["activation_rms"]
normal_act = stats["normal"][0]["activation_rms"]
kaiming_act = stats["kaiming_normal"][0]["activation_rms"]
assert (
    gpt2_act[-1] / gpt2_act[0] < normal_act[-1] / normal_act[0] < kaiming_act[-1] / kaiming_act[0]
)
assert np.mean(curves["gpt2"][-5:]) < np.mean(curves["zero"][-5:])

# %% [markdown]
# ### Zero init fails by symmetry
#
# With $W = 0$ every unit of a layer computes the same output and receives the same gradient,
# so no step can make them differ. Here it is worse: $\partial L / \partial W = x^\top\, \delta$
# is exactly zero for every Linear layer (their inputs or their back-propagated errors are
# zero), so after training all weights are still zero, and the model is an embedding table
# read straight through the tied head: a bigram model.

# %%
zero = models["zero"]
for path, mod in zero.named_modules():
    if isinstance(mod, Linear):
        assert np.all(mod.W.data == 0), path  # still zero after STEPS updates
print("every Linear weight of the zero-init model is still 0 after", STEPS, "steps;",
      f"gradient RMS per block at init: {stats['zero'][0]['grad_rms'][:3]} ...")  # fmt: skip

# %% [markdown]
# ## 3. Parameter sharing (C2)
#
# **Tied embeddings**: the output layer reads logits as $h\,E^\top$ with $E$ the token
# embedding (`TiedLinear`): $V \cdot C$ parameters fewer. **ALBERT's cross-layer sharing**:
# every layer applies block 0's weights, $x_l = \text{Block}_0(x_{l-1})$; the compute stays,
# the block parameters drop $L$-fold. A shared parameter is one object: counted once, updated
# once with the sum of its gradients, and stored once in a checkpoint (the other names become
# `aliases` in the manifest).

# %%
from minillm.compress import share_blocks
from minillm.models import load_checkpoint, save_checkpoint

shape = dict(n_layers=4, n_heads=2, d_model=32, block_size=32) if SMALL else dict(n_layers=4)
results = {}
for name in ("tied", "untied", "tied + shared blocks"):
    cfg = GPTConfig(vocab_size=V, bias=False, tie_weights=name != "untied", **shape)
    m = GPT(cfg, seed=0)
    if "shared" in name:
        share_blocks(m)
    fit(m, corpus, FitConfig(SHARE_STEPS, 12, None, 1e-3, 1e-4, 10, seed=4))
    results[name] = (m, m.parameter_counts()["total"], eval_loss(m, corpus.val[:4001]))
    print(f"{name:22s} {results[name][1]:9,} parameters, val loss {results[name][2]:.4f}")
C = results["tied"][0].config.d_model
assert results["untied"][1] - results["tied"][1] == V * C

shared = results["tied + shared blocks"][0]
save_checkpoint(WORK / "shared", shared, tok, {})
manifest = json.loads((WORK / "shared" / "checkpoint.json").read_text())
print(len(manifest["aliases"]), "aliases, e.g.", next(iter(manifest["aliases"].items())))
reloaded = load_checkpoint(WORK / "shared")[0]
assert reloaded.blocks[3] is reloaded.blocks[0]
stored = (WORK / "shared").glob("model-*.safetensors")
print(f"weights file: {sum(p.stat().st_size for p in stored):,} bytes for "
      f"{shared.parameter_counts()['total']:,} float32 parameters")  # fmt: skip
