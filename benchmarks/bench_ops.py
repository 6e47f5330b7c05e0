"""Forward + backward time of the hot ops: minillm's fast path, its readable reference path and
PyTorch CPU, side by side in one process.

    python benchmarks/bench_ops.py [--repeats 30] [--pause 0.1] [--threads 2] [--only OP]
        [--json PATH]

Each step is one forward and one backward through the Tensor API (F.softmax, F.layer_norm, ...)
with a fixed upstream gradient; "adamw" is one optimizer step over parameters of the demo GPT's
shapes. Sizes: "demo" is the GPT of `make demo` (B=12, T=64, C=128, H=4, V=76), "6x384" the
larger config (B=8, T=256, C=384, H=6). Paths: "fast" runs the dispatcher's default (the
kernels/cpu versions when Numba is installed), "reference" runs under
`dispatch.use_cpu("reference")` (the readable NumPy code in minillm/ops). The three take turns,
with a pause between them (docs/baselines.md: OpenBLAS's and PyTorch's threads spin after their
work, so back-to-back steps slow each other); each timed step follows an untimed one of the same
path, which wakes its thread pool. The table shows medians over the repeats and their ratios.
Without torch it prints minillm's two paths only. Before timing, each output is checked against
the reference path's and torch's (max |difference| in the table). --clock cpu times this
process's CPU time instead of the elapsed time: with --threads 1 on a machine that other tenants
keep busy, it measures the work and not the wait.
"""

import argparse
import os
import sys

ARGS = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ARGS.add_argument("--repeats", type=int, default=30, help="timed steps per op and path")
ARGS.add_argument("--pause", type=float, default=0.1, help="seconds between two timed steps")
ARGS.add_argument("--threads", type=int, default=2, help="BLAS / OpenMP threads of both")
ARGS.add_argument(
    "--clock",
    default="wall",
    choices=("wall", "cpu"),
    help="wall: elapsed time; cpu: this process's CPU time (with --threads 1 on a busy machine)",
)
ARGS.add_argument("--only", default="", help="run only ops whose name contains this")
ARGS.add_argument("--json", default=None, help="also write the results to this JSON file")
ARGS = ARGS.parse_args() if __name__ == "__main__" else ARGS.parse_args([])
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)  # before numpy (and torch) start their thread pools

import contextlib  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import minillm.functional as F  # noqa: E402
from minillm.ops import dispatch  # noqa: E402
from minillm.optim import AdamW  # noqa: E402
from minillm.tensor import Tensor  # noqa: E402
from minillm.tensor.memory import keep_freed_memory  # noqa: E402

try:
    import torch  # noqa: E402

    torch.set_num_threads(ARGS.threads)
    TF = torch.nn.functional
except ImportError:
    torch = None
CLOCK = time.perf_counter if ARGS.clock == "wall" else time.process_time

CONFIGS = {  # name: (B, T, C, H, V, n_layers)
    "demo": (12, 64, 128, 4, 76, 4),
    "6x384": (8, 256, 384, 6, 76, 6),
}
OPS = ("softmax", "layer_norm", "cross_entropy", "gelu", "gelu_tanh", "matmul", "attention")
OPS += ("adamw",)


def inputs(op, B, T, C, H, V, L, rng):
    """(arrays that require grad, fixed extra arguments) for one op at one config"""
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    if op == "softmax":
        return [f32(B, H, T, T)], {}  # attention scores
    if op == "layer_norm":
        return [f32(B, T, C), 1 + 0.1 * f32(C), f32(C)], {}
    if op == "cross_entropy":
        return [f32(B * T, V)], {"targets": rng.integers(0, V, B * T)}
    if op in ("gelu", "gelu_tanh"):
        return [f32(B, T, 4 * C)], {}  # the MLP's hidden layer
    if op == "matmul":
        return [f32(B, T, C), f32(C, 4 * C) * 0.05], {}  # the MLP's up-projection
    if op == "attention":
        D = C // H
        return [f32(B, H, T, D), f32(B, H, T, D), f32(B, H, T, D)], {}  # causal
    if op == "adamw":  # the GPT's parameters: embeddings, and per layer 4 C^2 + 8 C^2, 2 gains
        shapes = [(V, C), (T, C), (C,)] + L * [
            (C, 3 * C),
            (C, C),
            (C, 4 * C),
            (4 * C, C),
            (C,),
            (C,),
        ]
        return [f32(*s) * 0.02 for s in shapes], {"grads": [f32(*s) for s in shapes]}
    raise ValueError(op)


def ours(op, ts, extra):
    if op == "softmax":
        return F.softmax(ts[0], -1)
    if op == "layer_norm":
        return F.layer_norm(ts[0], ts[0].shape[-1], ts[1], ts[2])
    if op == "cross_entropy":
        return F.cross_entropy(ts[0], extra["targets"])
    if op == "gelu":
        return F.gelu(ts[0])
    if op == "gelu_tanh":
        return F.gelu(ts[0], "tanh")
    if op == "matmul":
        return ts[0] @ ts[1]
    return F.scaled_dot_product_attention(*ts, is_causal=True)


def theirs(op, ts, extra):
    if op == "softmax":
        return TF.softmax(ts[0], dim=-1)
    if op == "layer_norm":
        return TF.layer_norm(ts[0], ts[0].shape[-1:], ts[1], ts[2])
    if op == "cross_entropy":
        return TF.cross_entropy(ts[0], extra["targets_t"])
    if op == "gelu":
        return TF.gelu(ts[0])
    if op == "gelu_tanh":
        return TF.gelu(ts[0], approximate="tanh")
    if op == "matmul":
        return ts[0] @ ts[1]
    return TF.scaled_dot_product_attention(*ts, is_causal=True)


class AdamWStep:
    """One optimizer step over fixed parameters and gradients, for either library."""

    def __init__(self, arrays, grads, library):
        kw = {"lr": 1e-3, "betas": (0.9, 0.99), "weight_decay": 0.1}
        if library == "torch":
            self.params = [torch.from_numpy(a.copy()).requires_grad_() for a in arrays]
            for p, g in zip(self.params, grads, strict=True):
                p.grad = torch.from_numpy(g)
            self.opt = torch.optim.AdamW(self.params, **kw)
        else:
            self.params = [Tensor(a.copy(), requires_grad=True) for a in arrays]
            for p, g in zip(self.params, grads, strict=True):
                p.grad = g
            self.opt = AdamW(self.params, **kw)

    def __call__(self):
        t0 = CLOCK()
        self.opt.step()
        dt = CLOCK() - t0
        first = self.params[0]
        return dt, (first.detach().numpy() if hasattr(first, "detach") else first.data).copy()


def step(path, op, arrays, extra, dout):
    """(seconds, output) of one forward + backward on `path`: fast, reference or torch"""
    setting = dispatch.use_cpu("reference") if path == "reference" else contextlib.nullcontext()
    if op == "adamw":
        with setting:
            return extra["steppers"][path]()
    if path == "torch":
        ts = [torch.from_numpy(a).requires_grad_() for a in arrays]
        g = torch.from_numpy(dout)
        t0 = CLOCK()
        y = theirs(op, ts, extra)
        y.backward(g)
        return CLOCK() - t0, y.detach().numpy()
    with setting:
        ts = [Tensor(a, requires_grad=True) for a in arrays]
        t0 = CLOCK()
        y = ours(op, ts, extra)
        y.backward(dout)
        return CLOCK() - t0, y.data


def bench(op, config):
    rng = np.random.default_rng(0)
    arrays, extra = inputs(op, *CONFIGS[config], rng)
    paths = ("fast", "reference") + (("torch",) if torch is not None else ())
    dout = None
    if op == "adamw":
        extra["steppers"] = {
            p: AdamWStep(arrays, extra["grads"], "torch" if p == "torch" else "minillm")
            for p in paths
        }
    else:
        out = ours(op, [Tensor(a) for a in arrays], extra)
        dout = np.asarray(rng.standard_normal(out.shape), dtype=np.float32)
    if torch is not None:
        extra["targets_t"] = torch.from_numpy(extra.get("targets", np.zeros(1, dtype=np.int64)))
    times = {p: [] for p in paths}
    outs = {}
    for r in range(ARGS.repeats + 1):  # the first round warms up and is not counted
        for p in paths:
            step(p, op, arrays, extra, dout)  # wakes the thread pool (~8 ms after a pause)
            dt, y = step(p, op, arrays, extra, dout)
            if r:
                times[p].append(dt)
            outs.setdefault(p, y)
            time.sleep(ARGS.pause)
    med = {p: 1e3 * float(np.median(ts)) for p, ts in times.items()}
    diff = {p: float(np.abs(outs[p] - outs["reference"]).max()) for p in paths if p != "reference"}
    return shape_of(arrays), med, diff


def shape_of(arrays):
    if len(arrays) > 3:
        return f"{len(arrays)} tensors, {sum(a.size for a in arrays) / 1e6:.2f} M"
    return " ".join(str(a.shape).replace(" ", "") for a in arrays)


def main():
    keep_freed_memory()  # as the CLI does (minillm/tensor/memory.py)
    ops = [o for o in OPS if ARGS.only in o]
    torch_note = f"torch {torch.__version__}" if torch is not None else "torch not installed"
    print(
        f"# forward+backward, float32, median of {ARGS.repeats} steps, {ARGS.threads} threads, "
        f"numpy {np.__version__}, {torch_note}, pause {ARGS.pause} s, CPU versions "
        f"{dispatch.cpu_versions()}, load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores"
    )
    cols = "| op | config | input shapes | fast ms | reference ms | fast / reference |"
    if torch is not None:
        cols += " torch ms | fast / torch | reference / torch | max diff fast | max diff torch |"
    print(cols + "\n|" + "---|" * (cols.count("|") - 1))
    rows = []
    for config in CONFIGS:
        for op in ops:
            shapes, med, diff = bench(op, config)
            row = f"| {op} | {config} | {shapes} | {med['fast']:.2f} | {med['reference']:.2f} |"
            row += f" {med['fast'] / med['reference']:.2f}x |"
            if torch is not None:
                row += f" {med['torch']:.2f} | {med['fast'] / med['torch']:.2f}x |"
                row += f" {med['reference'] / med['torch']:.2f}x |"
                row += f" {diff['fast']:.1e} | {diff['torch']:.1e} |"
            print(row, flush=True)
            rows.append({"op": op, "config": config, "shapes": shapes, "median_ms": med,
                         "max_abs_diff_vs_reference": diff})  # fmt: skip
    load = os.getloadavg()[0]
    print(f"# load average at the end: {load:.1f} (a shared machine inflates times)")
    if ARGS.json:
        result = {"benchmark": "ops", "threads": ARGS.threads, "rows": rows, "load_end": load}
        Path(ARGS.json).parent.mkdir(parents=True, exist_ok=True)
        Path(ARGS.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
