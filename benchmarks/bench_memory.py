"""Peak memory of one GPT training step with and without activation checkpointing (C10), at
contexts up to block 512.

    python benchmarks/bench_memory.py [--blocks 64 128 256 512] [--batch 8] [--steps 3]
        [--json PATH]

The model is the demo's width and depth (4 layers x 4 heads x 128, the 76-character Shakespeare
vocabulary) with block_size set to each context; one step is forward + backward + clip + AdamW
(minillm.train.train_step). For each context and each setting (recompute off / on):

- graph: the bytes the graph holds when the forward ends (tensor.graph_stats.held_bytes);
- traced peak: the most bytes allocated at any moment of the step above what existed before it
  (weights, optimizer state), by tracemalloc (NumPy reports its arrays to it) through
  graph_stats.MemoryTimeline;
- RSS peak: the peak resident set of two steps above the resident set before them, in a fresh
  process for each setting, after a warm-up step whose freed memory glibc is asked to return
  (malloc_trim; Linux: VmHWM reset through /proc/self/clear_refs). It counts every page touched;
  without the command line's keep_freed_memory, so that freed memory is not kept between steps;
- step: the median wall time of --steps steps (tracing off), and their median CPU time (this
  process's, one BLAS thread: on a machine other work shares, the steadier of the two).
"""

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from minillm.data import CharTokenizer, Corpus, load_text
from minillm.models import GPT, GPTConfig
from minillm.tensor.graph_stats import MemoryTimeline, held_bytes
from minillm.train import configure_optimizer, train_step

ARGS = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ARGS.add_argument("--blocks", type=int, nargs="+", default=[64, 128, 256, 512])
ARGS.add_argument("--batch", type=int, default=8)
ARGS.add_argument("--steps", type=int, default=3, help="timed steps per setting")
ARGS.add_argument("--json", default=None)
ARGS.add_argument("--child", default=None, help=argparse.SUPPRESS)  # "block,recompute"
ARGS = ARGS.parse_args()
MiB = 2**20


def setup(block: int, recompute: bool):
    text = load_text("shakespeare")
    tok = CharTokenizer.from_text(text)
    corpus = Corpus(tok.encode(text), tok.encode(text[-20000:]))
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=block), seed=0)
    model.recompute = recompute
    opt = configure_optimizer(model, 1e-3, 0.1, (0.9, 0.99))
    rng = np.random.default_rng(0)
    return model, opt, lambda: corpus.get_batch("train", ARGS.batch, block, rng)


def measure(block: int, recompute: bool) -> dict:
    model, opt, batch = setup(block, recompute)
    train_step(model, opt, [batch()], 1e-3, 1.0)  # warm-up: kernels load, optimizer state made
    times, cpu = [], []
    for _ in range(ARGS.steps):
        b = batch()
        t0, c0 = time.perf_counter(), time.process_time()
        train_step(model, opt, [b], 1e-3, 1.0)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    x, y = batch()
    gc.collect()
    with MemoryTimeline() as tl:
        _, loss = model(x, y)
        graph = held_bytes(loss)
        tl.mark("forward")
        loss.backward()
        tl.mark("backward")
        del loss
        opt.step()
        opt.zero_grad()
        tl.mark("optimizer step")
    return {"block": block, "recompute": recompute, "graph_mib": graph / MiB,
            "traced_peak_mib": tl.peak / MiB, "step_s": float(np.median(times)),
            "step_cpu_s": float(np.median(cpu))}  # fmt: skip


def _status_kib(field: str) -> int:
    """VmRSS / VmHWM (the peak) of this process from /proc/self/status, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(block: int, recompute: bool) -> None:
    model, opt, batch = setup(block, recompute)
    train_step(model, opt, [batch()], 1e-3, 1.0)  # kernels loaded, optimizer state made
    gc.collect()
    ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)  # freed heap back to the system
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the RSS now
    before = _status_kib("VmRSS")
    for _ in range(2):
        train_step(model, opt, [batch()], 1e-3, 1.0)
    print(json.dumps({"rss_peak_mib": (_status_kib("VmHWM") - before) / 1024}))


def rss(block: int, recompute: bool) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--child", f"{block},{int(recompute)}", "--batch",
           str(ARGS.batch)]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["rss_peak_mib"]


def main() -> None:
    rows = []
    for block in ARGS.blocks:
        for recompute in (False, True):
            row = measure(block, recompute)
            row["rss_peak_mib"] = rss(block, recompute)
            rows.append(row)
    print(f"GPT 4 x 4 x 128, batch {ARGS.batch}; one training step; load {os.getloadavg()[0]:.1f}")
    print("| block | recompute | graph after forward (MiB) | traced peak (MiB) | RSS peak (MiB) | "
          "step wall (s) | step CPU (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['block']} | {'on' if r['recompute'] else 'off'} | {r['graph_mib']:.1f} | "
            f"{r['traced_peak_mib']:.1f} | {r['rss_peak_mib']:.1f} | {r['step_s']:.2f} | "
            f"{r['step_cpu_s']:.2f} |"
        )
    if ARGS.json:
        Path(ARGS.json).write_text(json.dumps({"batch": ARGS.batch, "rows": rows}, indent=1))


if __name__ == "__main__":
    if ARGS.child:
        block, recompute = ARGS.child.split(",")
        child(int(block), bool(int(recompute)))
    else:
        main()
