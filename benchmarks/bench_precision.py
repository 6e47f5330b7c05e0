"""Mixed precision on the demo model (C23): float16 with dynamic loss scaling, float16 without it,
and bfloat16 (emulated) against float32, on the same batches for a few hundred steps.

    python benchmarks/bench_precision.py [--steps 300] [--json PATH]

The model and run are the demo's (`shakespeare-char`: GPT 4 x 4 x 128, block 64, batch 12, AdamW
at 1e-3 with 100 warm-up steps; the cosine reaches min_lr at --steps). Every run starts from the
same weights and takes the same batches; only the compute format differs (minillm.train's
train_step with dtype= and a GradScaler). Reported per run: the mean training loss of the last 50
steps and its gap to float32's, the largest per-step gap, the validation loss at the end (the
same 20 batches for all), the skipped steps and the loss scale's path, and the step time.

Target (stated before measuring): float16 with loss scaling within 0.02 nats of float32 on the
last-50-step mean (about 1 % of the loss there). On the CPU the formats are emulated by rounding
(minillm.nn.precision), so the step time shows the cost of the emulation, not a speed-up.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from minillm.data import CharTokenizer, Corpus, load_text, train_val_split
from minillm.models import GPT, GPTConfig
from minillm.optim import GradScaler, warmup_cosine_lr
from minillm.tensor.memory import keep_freed_memory
from minillm.train import configure_optimizer, estimate_loss, train_step

ARGS = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ARGS.add_argument("--steps", type=int, default=300)
ARGS.add_argument("--json", default=None)
ARGS = ARGS.parse_args()
MARGIN = 0.02  # nats, last-50-step mean, float16 with scaling against float32
RUNS = {  # name: (dtype, loss scaler)
    "float32": ("float32", None),
    "float16": ("float16", lambda: GradScaler()),
    "float16, no loss scaling": ("float16", lambda: GradScaler(enabled=False)),
    "bfloat16": ("bfloat16", None),
}


def run(name, corpus, vocab):
    dtype, make_scaler = RUNS[name]
    model = GPT(GPTConfig(vocab_size=vocab), seed=1337)
    opt = configure_optimizer(model, 1e-3, 0.1, (0.9, 0.99))
    scaler = make_scaler() if make_scaler else None
    rng = np.random.default_rng([1337, 0])
    losses, scales, skipped, times = [], [], [], []
    for step in range(ARGS.steps):
        lr = warmup_cosine_lr(step, 1e-3, 1e-4, 100, ARGS.steps)
        batch = corpus.get_batch("train", 12, 64, rng)
        scale = scaler.get_scale() if scaler else 1.0
        t0 = time.perf_counter()
        loss, norm = train_step(model, opt, [batch], lr, 1.0, None, dtype, scaler)
        times.append(time.perf_counter() - t0)
        losses.append(loss)
        scales.append(scale)
        if scaler is not None and scaler.get_scale() < scale or not np.isfinite(norm):
            skipped.append(step)
    val = estimate_loss(model, corpus, 12, 64, 20, np.random.default_rng([1337, 2]))["val"]
    return {"losses": losses, "scales": scales, "skipped": skipped, "val_loss": val,
            "step_s": float(np.median(times))}  # fmt: skip


def main() -> None:
    keep_freed_memory()
    text = load_text("shakespeare")
    tok = CharTokenizer.from_text(text)
    train_text, val_text = train_val_split(text, 0.9)
    corpus = Corpus(tok.encode(train_text), tok.encode(val_text))
    results = {name: run(name, corpus, tok.vocab_size) for name in RUNS}
    base = results["float32"]
    tail = min(50, ARGS.steps)
    print(f"GPT 4 x 4 x 128, {ARGS.steps} steps of 12 x 64 tokens; load {os.getloadavg()[0]:.1f}")
    print("| run | last-50 mean loss | gap to float32 | largest step gap | val loss | "
          "skipped steps | loss scale (first -> last) | step (ms) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        mean = float(np.mean(r["losses"][-tail:]))
        r["gap"] = mean - float(np.mean(base["losses"][-tail:]))
        r["max_step_gap"] = float(np.max(np.abs(np.subtract(r["losses"], base["losses"]))))
        scales = f"{r['scales'][0]:g} -> {r['scales'][-1]:g}" if RUNS[name][1] else "-"
        print(f"| {name} | {mean:.4f} | {r['gap']:+.5f} | {r['max_step_gap']:.5f} | "
              f"{r['val_loss']:.4f} | {len(r['skipped'])} | {scales} | "
              f"{1e3 * r['step_s']:.0f} |")  # fmt: skip
    gap = abs(results["float16"]["gap"])
    verdict = "met" if gap < MARGIN else f"missed by {gap - MARGIN:.4f}"
    print(f"target: float16 within {MARGIN} nats of float32 on the last-50 mean: {verdict}")
    if ARGS.json:
        Path(ARGS.json).write_text(json.dumps({"steps": ARGS.steps, "runs": results}, indent=1))


if __name__ == "__main__":
    main()
