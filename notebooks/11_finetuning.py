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
# # 11 · Fine-tuning: all of the model, or a small part of it
#
# A pre-trained model already knows the language; fine-tuning adapts it to a task with a
# little data and a few steps (**F10**: $L_{fine} = -\sum_i \log P_\theta(y_i \mid x_i)$;
# **F11**: $\hat y = M_{\hat\theta}(x)$, the model with the tuned weights). Full fine-tuning moves
# every weight; the parameter-efficient methods (**C16**) freeze the model and train something
# small:
#
# 1. **linear probing**: only the task head trains. The source (002 §4.3) calls this "PEFT";
#    it is the simplest member of the family (erratum);
# 2. **adapters** (Houlsby et al. 2019): a small bottleneck after each sub-layer;
# 3. **LoRA** (Hu et al. 2021): a low-rank update $W + \frac{\alpha}{r} A B$ of chosen weights;
# 4. **prefix tuning** (Li & Liang 2021): learned key/value rows in every attention layer.
#
# We build each on a small GPT pre-trained on seven of the eight shipped plays, check it against
# its equation, count what it trains, adapt the GPT to the eighth play with each, and save the
# results as *delta* checkpoints. The last section shows the measured comparison on a BERT and a
# bigger GPT (`benchmarks/bench_finetune.py`).

# %% tags=["parameters"]
# Settings. CI sets MINILLM_SMALL=1 to run the notebook in well under a minute.
import os

SMALL = os.environ.get("MINILLM_SMALL", "0") == "1"
if SMALL:
    SHAPE = {"model.n_layers": 2, "model.n_heads": 2, "model.d_model": 32, "model.block_size": 64}
    PRETRAIN_STEPS, ADAPT_STEPS, BATCH = 60, 16, 8
else:  # about 3 minutes on 2 busy cores
    SHAPE = {"model.n_layers": 4, "model.n_heads": 4, "model.d_model": 64, "model.block_size": 64}
    PRETRAIN_STEPS, ADAPT_STEPS, BATCH = 600, 120, 16

# %%
import copy
import json
import math
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from minillm.tensor import Tensor, no_grad

np.set_printoptions(linewidth=100, precision=4)
WORK = Path(tempfile.mkdtemp(prefix="minillm-11-"))  # checkpoints go here, not into the repo
HELD_OUT = "A Midsummer Night's Dream"

# %% [markdown]
# ## 1. A base model pre-trained on seven plays
#
# `pretraining_text` puts the first 90 % of each of seven plays first and their last 10 % after,
# so a training run's 90/10 split holds out the end of every play. The eighth play, *A
# Midsummer Night's Dream*, is new to the model: its speaker lines are even printed differently
# ("THESEUS" where the others write "Ham." or "FIRST WITCH.").

# %%
from minillm.finetune import pretraining_text
from minillm.train import TrainConfig, apply_overrides, train

text, fraction, tails = pretraining_text(HELD_OUT)
(WORK / "seven.txt").write_text(text, encoding="utf-8")
settings = {
    **SHAPE,
    "dataset": str(WORK / "seven.txt"),
    "train_fraction": fraction,
    "out_dir": str(WORK / "base"),
    "max_iters": PRETRAIN_STEPS,
    "warmup_iters": PRETRAIN_STEPS // 10,
    "batch_size": BATCH,
    "eval_interval": PRETRAIN_STEPS,
    "eval_iters": 4,
    "progress": False,
}
result = train(apply_overrides(TrainConfig(), settings), log=lambda s: None)
print(f"pre-trained {result.step} steps: val loss {result.val_loss:.3f}")

# %% [markdown]
# `load_checkpoint` gives the model back; `LanguageModelling` is the fine-tuning task of a
# language model: the eighth play's text, cut 80/10/10 into train/val/test windows, each
# token predicted once when it is evaluated (F9's loss, perplexity = exp).

# %%
from minillm.finetune import LanguageModelling, play_texts, text_nll
from minillm.models import load_checkpoint

base, tok, _ = load_checkpoint(WORK / "base")
block = base.context_length
task = LanguageModelling(tok, play_texts()[HELD_OUT], block)
others = tok.encode(tails)  # the ends of the seven plays: held out during pre-training


def perplexities(model):
    """Held-out perplexity on the new play and on the seven others."""
    return {
        "new play": math.exp(text_nll(model, task.ids["test"], block)[0]),
        "other plays": math.exp(text_nll(model, others, block)[0]),
    }


before = perplexities(base)
print(task.size("train"), "training windows;", {k: round(v, 3) for k, v in before.items()})
assert before["other plays"] < tok.vocab_size, "pre-training beat the uniform guess"

# %% [markdown]
# ## 2. Linear probing (C16, and the source's erratum)
#
# Freeze everything, train the head. For a classifier that is its fresh linear head. A GPT's head
# is tied to the token embedding (C2), so probing it trains the table the input shares, plus the
# final layer norm. `freeze` / `unfreeze` take name patterns; a pattern that matches nothing is
# an error rather than a silent no-op.

# %%
from minillm.finetune import freeze, head_patterns, linear_probe, trainable_summary, unfreeze

probe = linear_probe(copy.deepcopy(base))
print(head_patterns(probe), "->", trainable_summary(probe))
mlp_only = unfreeze(freeze(copy.deepcopy(base)), ["blocks.*.ff.*"])
print("feed-forward layers only:", trainable_summary(mlp_only))
norm = sum(p.size for p in base.ln_f.parameters())  # gamma (no beta: the GPT has bias=False)
assert probe.parameter_counts()["trainable"] == tok.vocab_size * base.config.d_model + norm

# %% [markdown]
# ## 3. LoRA (C16)
#
# $$y = x W + b + \frac{\alpha}{r}\,(x A)\,B, \qquad A \in \mathbb R^{C_{in}\times r}\
# \text{random},\quad B \in \mathbb R^{r \times C_{out}} = 0$$
#
# $W$ and $b$ stay frozen; only $A$ and $B$ train: $r(C_{in} + C_{out})$ numbers instead of
# $C_{in} C_{out}$. With $B = 0$ the layer starts as the base layer, so fine-tuning starts from
# the pre-trained function. (The paper writes $W_0 x + BAx$ in column form; ours is the row form
# of the same map.) `LoRALinear` subclasses `nn.Linear` and keeps its names, so a base checkpoint
# loads into it with only $A$ and $B$ missing. Its forward is this chapter's exercise.

# %%
from minillm.finetune import LoRALinear, add_lora, merge_lora

layer = LoRALinear.from_linear(base.blocks[0].self_attn.W_q, r=4, alpha=8.0, rng=0)
x = np.random.default_rng(1).normal(size=(2, 5, layer.in_features)).astype(np.float32)
np.testing.assert_array_equal(layer(Tensor(x)).data, base.blocks[0].self_attn.W_q(Tensor(x)).data)
layer.B.data[...] = np.random.default_rng(2).normal(0, 0.1, layer.B.shape)  # as if trained
W, A, B = layer.W.data, layer.A.data, layer.B.data  # this GPT has bias=False: no b
expected = x @ W + (8.0 / 4) * (x @ A) @ B
assert layer.b is None and np.allclose(layer(Tensor(x)).data, expected, atol=1e-6)
print("trainable in this layer:", A.size + B.size, "of", A.size + B.size + W.size)

# %% [markdown]
# **Merging.** For inference the update folds into the weight, $W \leftarrow W + \frac{\alpha}{r}
# AB$, and the layer costs one product again; `unmerge` takes it out. Both are exact up to float
# rounding, and `merge_lora` turns a LoRA model back into a plain one that saves and loads as
# the base model's type.

# %%
W0 = layer.W.data.copy()
y = layer(Tensor(x)).data
layer.merge()
assert np.allclose(layer(Tensor(x)).data, y, atol=1e-6)
layer.unmerge()
print("max |W - W0| after merge + unmerge:", np.abs(layer.W.data - W0).max())
assert np.abs(layer.W.data - W0).max() <= 4 * np.finfo(np.float32).eps * np.abs(W0).max()

lora = add_lora(copy.deepcopy(base), ["W_q", "W_v"], r=4, alpha=8.0)
print([p for p, m in lora.named_modules() if isinstance(m, LoRALinear)][:4], "...")
plain = merge_lora(lora)
assert not any(isinstance(m, LoRALinear) for m in plain.modules()) and not plain.surgery

# %% [markdown]
# ## 4. Adapters (C16)
#
# $$\mathrm{Adapter}(h) = h + f(h W_{down} + b_{down})\, W_{up} + b_{up},\qquad W_{down} \in
# \mathbb R^{C\times m},\ W_{up} \in \mathbb R^{m\times C} = 0$$
#
# one after the attention sub-layer and one after the feed-forward sub-layer of every block,
# before the residual add. A forward hook on each sub-layer applies its adapter, so no layer is
# rewritten; with $W_{up} = 0$ the adapted model computes exactly what the base computes.

# %%
from minillm.finetune import add_adapters

adapted = add_adapters(copy.deepcopy(base), size=8)
idx = np.array([tok.encode("THESEUS.\nNow, fair Hippolyta")])
with no_grad():
    np.testing.assert_array_equal(adapted(idx)[0].data, base(idx)[0].data)
print(adapted.blocks[0].ff.adapter)

# %% [markdown]
# ## 5. Prefix tuning (C16)
#
# $$\mathrm{head}_i = \mathrm{softmax}\!\left(\frac{Q\,[K_p; K]^\top}{\sqrt{d_k}}\right)[V_p; V]$$
#
# $P$ learned key/value rows per layer and head act like $P$ "virtual tokens" before the text.
# They go in through the attention's `extra_kv` path: always visible, no position shifted, no
# context used up, so the rows are exactly the KV cache's prefix rows of the platform
# (`model.new_caches(prefix=...)`). While training they come from a small matrix $P'$ through an
# MLP (Li & Liang's reparameterisation, which trains more stably); afterwards only the rows are
# kept.

# %%
from minillm.finetune import add_prefix, collapse_prefix

prefixed = add_prefix(copy.deepcopy(base), length=5, hidden=16)
with no_grad():
    pairs = prefixed.prefix()  # one (k_p, v_p) per layer, each (1, H, P, D)
    via_hooks = prefixed(idx)[0].data
    via_cache = base(idx, caches=base.new_caches(prefix=pairs))[0].data
assert np.allclose(via_hooks, via_cache, atol=1e-6)
collapse_prefix(prefixed)
print("kept after training:", prefixed.prefix.kv.shape, "(L, 2, H, P, D)")
with no_grad():
    assert np.allclose(prefixed(idx)[0].data, via_hooks, atol=1e-6)

# %% [markdown]
# ## 6. What each method trains
#
# The methods are one table, `METHODS`; `get_method(name).apply(model, **options)` freezes, adds
# its layers and returns the model to train (`minillm finetune --method=NAME --OPTION=value`
# does the same). On a classifier each parameter-efficient method also trains the fresh head.

# %%
from minillm.finetune import METHODS, get_method, parameter_report
from minillm.models import BertConfig, BertForSequenceClassification
from minillm.models.bert import BERT

OPTIONS = {
    "adapter": {"adapter_size": 8},
    "lora": {"lora_r": 8},
    "prefix": {"prefix_len": 10, "prefix_hidden": 16},
}
bert = BERT(BertConfig(vocab_size=4096, n_layers=4, n_heads=4, d_model=128, d_ff=512))
counts = []
for name in METHODS:
    gpt_m = get_method(name).apply(copy.deepcopy(base), **OPTIONS.get(name, {}))
    clf = BertForSequenceClassification.from_encoder(copy.deepcopy(bert), 8)
    bert_m = get_method(name).apply(clf, **OPTIONS.get(name, {}))
    counts.append((name, parameter_report(gpt_m), parameter_report(bert_m)))
print(f"{'method':8} {'GPT trainable':>14} {'share':>8} {'BERT-small trainable':>21} {'share':>8}")
for name, g, b in counts:
    print(f"{name:8} {g['trainable']:>14,} {g['share']:>7.2f}% {b['trainable']:>21,} "
          f"{b['share']:>7.2f}%")  # fmt: skip
assert counts[0][1]["share"] == 100.0 and all(c[2]["share"] < 3 for c in counts[1:])

# %% [markdown]
# ## 7. Adapting the GPT to the new play (F10, F11, C21)
#
# Every method gets the same steps, the same batches and the same seed (`train_steps`). The
# learning rate follows C21: full fine-tuning at 1e-4, a tenth of pre-training's 1e-3, so the
# pre-trained weights move a little instead of being overwritten. The parameter-efficient
# methods move no pre-trained weight; their new parameters start from zero or at random and
# train at 1e-3, as the LoRA and adapter papers do.

# %%
from minillm.finetune import cycle_batches, prepare_to_save, train_steps

LR = {"full": 1e-4}
runs = {}
for name in METHODS:
    model = get_method(name).apply(copy.deepcopy(base), **OPTIONS.get(name, {}))
    history = train_steps(model, cycle_batches(task, BATCH), ADAPT_STEPS, LR.get(name, 1e-3),
                          warmup=ADAPT_STEPS // 10)  # fmt: skip
    runs[name] = (prepare_to_save(model), [h["loss"] for h in history if "loss" in h])
    print(f"{name:8} {perplexities(model)}")

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, (_, losses) in runs.items():
    ax.plot(np.convolve(losses, np.ones(4) / 4, mode="valid"), label=name)
ax.set_xlabel("step")
ax.set_ylabel("training loss (mean of 4)")
ax.legend()
plt.show()

# %% [markdown]
# F11: the adapted model is used like the base one. A sample from the LoRA model:

# %%
from minillm.generate import generate

lora_model = runs["lora"][0].eval()
sample = generate(lora_model, tok.encode("THESEUS.\n"), 120, temperature=0.8, top_k=20, seed=1)
print(tok.decode(sample))

# %% [markdown]
# ## 8. Delta checkpoints
#
# A parameter-efficient run changes only its own parameters, so its checkpoint holds only those,
# plus a reference to the base checkpoint (its folder and the sha256 of its manifest).
# `load_checkpoint` loads the base first, replays the recorded layer swaps (LoRA, adapters,
# prefix rows), then the delta; a base that is not the recorded one is refused, by name.

# %%
from minillm.models import save_checkpoint

sizes = {}
for name, (model, _) in runs.items():
    folder = WORK / name
    save_checkpoint(folder, model, tok, {}, base=None if name == "full" else WORK / "base")
    sizes[name] = sum(f.stat().st_size for f in folder.glob("model-*.safetensors"))
    with no_grad():
        again = load_checkpoint(folder)[0](idx)[0].data
        assert np.array_equal(again, model.eval()(idx)[0].data), name
print({k: f"{v / 1024:.1f} KiB" for k, v in sizes.items()})
print(json.loads((WORK / "lora" / "checkpoint.json").read_text())["base"]["path"])

try:  # the fully fine-tuned model is another model than the base the LoRA run started from
    load_checkpoint(WORK / "lora", base=WORK / "full")
    raise AssertionError("a delta loaded onto the wrong base")
except ValueError as e:
    print("refused:", str(e)[:200], "...")
