"""Forward + backward time of the hot ops, minillm (NumPy) against PyTorch CPU, side by side.

    python benchmarks/bench_ops.py [--repeats 30] [--pause 0.2] [--threads 2]

Each step is one forward and one backward through the Tensor API (F.softmax, F.layer_norm, ...)
with a fixed upstream gradient, at the sizes of the GPT "baby" config (B=12, T=64, C=128, H=4,
V=65) and a larger one (B=8, T=256, C=384, H=6). When torch is importable the two libraries
alternate, NumPy steps then torch steps, with a pause between them (BASELINES.md: OpenBLAS's and
PyTorch's threads spin after their work, so back-to-back steps slow each other); each timed step
follows an untimed one of the same library, which wakes its thread pool. The table shows medians
over the repeats and their ratio. Without torch it prints minillm's times only.
Before timing, each op's output is checked against torch's (max |difference| in the table).
"""

import argparse
import os
import sys

ARGS = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ARGS.add_argument("--repeats", type=int, default=30, help="timed steps per op and library")
ARGS.add_argument("--pause", type=float, default=0.2, help="seconds between two timed steps")
ARGS.add_argument("--threads", type=int, default=2, help="BLAS / OpenMP threads of both")
ARGS.add_argument("--only", default="", help="run only ops whose name contains this")
ARGS = ARGS.parse_args() if __name__ == "__main__" else ARGS.parse_args([])
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)  # before numpy (and torch) start their thread pools

import time  # noqa: E402

import numpy as np  # noqa: E402

import minillm.functional as F  # noqa: E402
from minillm.tensor import Tensor  # noqa: E402
from minillm.tensor.memory import keep_freed_memory  # noqa: E402

try:
    import torch  # noqa: E402

    torch.set_num_threads(ARGS.threads)
    TF = torch.nn.functional
except ImportError:
    torch = None

CONFIGS = {  # name: (B, T, C, H, V)
    "baby": (12, 64, 128, 4, 65),
    "large": (8, 256, 384, 6, 65),
}


def inputs(op, B, T, C, H, V, rng):
    """name -> (arrays that require grad, fixed extra arguments) for one op at one config"""
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    if op == "softmax":
        return [f32(B, H, T, T)], {}  # attention scores
    if op == "layer_norm":
        return [f32(B, T, C), 1 + 0.1 * f32(C), f32(C)], {}
    if op == "cross_entropy":
        return [f32(B * T, V)], {"targets": rng.integers(0, V, B * T)}
    if op == "gelu":
        return [f32(B, T, 4 * C)], {}  # the MLP's hidden layer
    if op == "matmul":
        return [f32(B, T, C), f32(C, 4 * C) * 0.05], {}  # the MLP's up-projection
    if op == "attention":
        D = C // H
        return [f32(B, H, T, D), f32(B, H, T, D), f32(B, H, T, D)], {}  # causal
    raise ValueError(op)


def ours(op, ts, extra):
    if op == "softmax":
        return F.softmax(ts[0])
    if op == "layer_norm":
        return F.layer_norm(ts[0], ts[0].shape[-1], ts[1], ts[2])
    if op == "cross_entropy":
        return F.cross_entropy(ts[0], extra["targets"])
    if op == "gelu":
        return F.gelu(ts[0])
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
    if op == "matmul":
        return ts[0] @ ts[1]
    return TF.scaled_dot_product_attention(*ts, is_causal=True)


def step_ours(op, arrays, extra, dout):
    ts = [Tensor(a, requires_grad=True) for a in arrays]
    t0 = time.perf_counter()
    y = ours(op, ts, extra)
    y.backward(dout)
    return time.perf_counter() - t0, y.data


def step_theirs(op, arrays, extra, dout):
    ts = [torch.from_numpy(a).requires_grad_() for a in arrays]
    g = torch.from_numpy(dout)
    t0 = time.perf_counter()
    y = theirs(op, ts, extra)
    y.backward(g)
    return time.perf_counter() - t0, y.detach().numpy()


def bench(op, config):
    rng = np.random.default_rng(0)
    arrays, extra = inputs(op, *CONFIGS[config], rng)
    out = ours(op, [Tensor(a) for a in arrays], extra)
    dout = np.asarray(rng.standard_normal(out.shape), dtype=np.float32)
    if torch is not None:
        extra["targets_t"] = torch.from_numpy(extra.get("targets", np.zeros(1, dtype=np.int64)))
    mine, other, diff = [], [], float("nan")
    # Each timed step follows an untimed one of the same library: after the pause, a thread pool
    # sleeps, and waking it costs ~8 ms here, which would swamp a 1 ms op (in a training step the
    # ops run back to back with hot threads).
    for r in range(ARGS.repeats + 1):  # the first step of each warms up and is not counted
        step_ours(op, arrays, extra, dout)
        dt, y = step_ours(op, arrays, extra, dout)
        mine.append(dt)
        if torch is not None:
            time.sleep(ARGS.pause)
            step_theirs(op, arrays, extra, dout)
            dt, y_t = step_theirs(op, arrays, extra, dout)
            other.append(dt)
            diff = float(np.abs(y - y_t).max()) if r == 0 else diff
        time.sleep(ARGS.pause)
    ms = lambda xs: 1e3 * float(np.median(xs[1:])) if xs else float("nan")  # noqa: E731
    return shape_of(arrays), ms(mine), ms(other), diff


def shape_of(arrays):
    return " ".join(str(a.shape).replace(" ", "") for a in arrays)


def main():
    keep_freed_memory()  # as the CLI does (minillm/tensor/memory.py)
    ops = ("softmax", "layer_norm", "cross_entropy", "gelu", "matmul", "attention")
    ops = [o for o in ops if ARGS.only in o]
    torch_note = f"torch {torch.__version__}" if torch is not None else "torch not installed"
    print(
        f"# forward+backward, float32, median of {ARGS.repeats} steps, {ARGS.threads} threads, "
        f"numpy {np.__version__}, {torch_note}, pause {ARGS.pause} s, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    if torch is None:
        print("| op | config | input shapes | minillm ms |\n|---|---|---|---|")
    else:
        cols = "minillm ms | torch ms | minillm / torch | max abs diff"
        print(f"| op | config | input shapes | {cols} |\n|---|---|---|---|---|---|---|")
    for config in CONFIGS:
        for op in ops:
            shapes, a, b, diff = bench(op, config)
            row = f"| {op} | {config} | {shapes} | {a:.2f} |"
            if torch is not None:
                row += f" {b:.2f} | {a / b:.2f}x | {diff:.1e} |"
            print(row, flush=True)
    print(f"# load average at the end: {os.getloadavg()[0]:.1f} (a shared machine inflates times)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
