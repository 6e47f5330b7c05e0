"""One training step (forward + backward + clip + AdamW) of the GPT: minillm's fast path, its
readable reference path and PyTorch eager, side by side in one process.

    /tmp/torchvenv/bin/python benchmarks/bench_train.py [--steps 30] [--pause 0.2] [--threads 2]
        [--preset shakespeare-char] [--key=value ...] [--device cuda] [--json PATH] [--profile]

(the torch venv of tests/fixtures, with minillm and numba installed into it: `/tmp/torchvenv/bin/pip
install numba==0.68.1 && /tmp/torchvenv/bin/pip install --no-deps --no-build-isolation -e .`;
without torch it times minillm alone.)

Three runs start from the same weights (minillm's init, converted with minillm.models.gpt_names)
and train on the same random Shakespeare batches with nanoGPT's update, at the preset's shape
(`shakespeare-char`: nanoGPT's CPU baby GPT, 4 layers, 4 heads, 128 wide, block 64, batch 12):
- fast: minillm with the dispatcher's defaults (on the CPU the kernels/cpu versions, on the GPU
  the CuPy kernels);
- reference: minillm with `dispatch.use_cpu("reference")` (the readable NumPy code), or on the
  GPU `dispatch.use(version="builtin")` (the same code on CuPy);
- pytorch: eager PyTorch.
They take turns, one step each, with a pause after each step: OpenBLAS's and PyTorch's OpenMP
threads spin after their work, so back-to-back steps slow each other (docs/baselines.md). The report
gives each run's median over --steps steps and the ratios. "first fast step" is the time the
first step took, when the CPU kernels are loaded from Numba's cache, or compiled if there is no
cache yet. --profile runs cProfile over 10 more fast steps. --device cuda runs all three on the GPU
(CuPy / CUDA; fails clearly without one). Extra --key=value arguments override the preset (e.g.
--n_layer=6 --n_embd=384 --n_head=6, nanoGPT's keys). --dry-run checks the arguments and the
config, prints the model's config and stops.
"""

import argparse
import os
import sys

CLOCK_HELP = (
    "wall: elapsed time (the target's measure); cpu: this process's CPU time, which other "
    "tenants of a busy machine inflate far less (with --threads 1 it is the work done)"
)

ARGS = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ARGS.add_argument("--steps", type=int, default=30, help="timed steps per run")
ARGS.add_argument("--warmup", type=int, default=5, help="untimed steps per run first")
ARGS.add_argument("--pause", type=float, default=0.2, help="seconds between two timed steps")
ARGS.add_argument("--threads", type=int, default=2, help="BLAS / OpenMP threads of both")
ARGS.add_argument("--clock", default="wall", choices=("wall", "cpu"), help=CLOCK_HELP)
ARGS.add_argument("--preset", default="shakespeare-char")
ARGS.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
ARGS.add_argument("--json", default=None, help="also write the results to this JSON file")
ARGS.add_argument("--profile", action="store_true", help="cProfile 10 fast minillm steps")
ARGS.add_argument("--dry-run", action="store_true", help="check the arguments and config only")
ARGS, OVERRIDES = ARGS.parse_known_args() if __name__ == "__main__" else (ARGS.parse_args([]), [])
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)  # before numpy and torch start their thread pools

import contextlib  # noqa: E402
import cProfile  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from minillm.data import CharTokenizer, get_batch, load_text  # noqa: E402
from minillm.models import GPT, gpt_names  # noqa: E402
from minillm.ops import dispatch  # noqa: E402
from minillm.optim import warmup_cosine_lr  # noqa: E402
from minillm.tensor.memory import keep_freed_memory  # noqa: E402
from minillm.train import config_from_args, configure_optimizer, train_step  # noqa: E402

try:
    import torch  # noqa: E402

    torch.set_num_threads(ARGS.threads)
except ImportError:  # minillm's times only (the torch venv gives the side-by-side ratio)
    torch = None
CLOCK = time.perf_counter if ARGS.clock == "wall" else time.process_time
ROOT = Path(__file__).resolve().parents[1]


def torch_model_class():
    """TorchGPT from tests/fixtures/make_gpt_fixtures.py: one PyTorch GPT for fixture and bench."""
    path = ROOT / "tests" / "fixtures" / "make_gpt_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_gpt_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TorchGPT, module.configure_optimizer


def reference_code():
    """The dispatcher setting of the "reference" run: the readable code on this device."""
    if ARGS.device == "cuda":
        return dispatch.use(version=dispatch.BUILTIN)
    return dispatch.use_cpu(dispatch.REFERENCE)


def build(cfg, vocab_size):
    """{run name: (model, optimizer, dispatcher setting)}, the same weights in every model."""
    ours = GPT(cfg.model_config_for(vocab_size), seed=cfg.seed).to(ARGS.device)
    host = {
        k: np.asarray(v.get() if hasattr(v, "get") else v) for k, v in ours.state_dict().items()
    }
    readable = GPT(ours.config, seed=cfg.seed).to(ARGS.device)
    readable.load_state_dict(host)
    betas = (cfg.beta1, cfg.beta2)
    runs = {
        "fast": (ours, configure_optimizer(ours, cfg.lr, cfg.weight_decay, betas), None),
        "reference": (readable, configure_optimizer(readable, cfg.lr, cfg.weight_decay, betas),
                      reference_code),
    }  # fmt: skip
    if torch is not None:
        TorchGPT, torch_optimizer = torch_model_class()
        mc = ours.config
        theirs = TorchGPT(mc.vocab_size, mc.block_size, mc.n_layers, mc.n_heads, mc.d_model,
                          mc.bias, mc.tie_weights)  # fmt: skip
        state = gpt_names.to_nanogpt(host, mc.n_layers)
        theirs.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        theirs = theirs.to(ARGS.device)
        runs["pytorch"] = (theirs, torch_optimizer(theirs, cfg.weight_decay, cfg.lr, betas), None)
    return runs


def torch_step(model, opt, x, y, lr, clip):
    for g in opt.param_groups:
        g["lr"] = lr
    tx, ty = torch.from_numpy(x).to(ARGS.device), torch.from_numpy(y).to(ARGS.device)
    _, loss = model(tx, ty)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.item()  # synchronises with the GPU


def step(name, run, x, y, lr, cfg):
    """One timed step of one run: (seconds, loss)."""
    model, opt, setting = run
    with setting() if setting else contextlib.nullcontext():
        t0 = CLOCK()
        if name == "pytorch":
            loss = torch_step(model, opt, x, y, lr, cfg.grad_clip)
        else:
            loss, _ = train_step(model, opt, [(x, y)], lr, cfg.grad_clip)  # .item() synchronises
        return CLOCK() - t0, loss


def main():
    keep_freed_memory()  # as the CLI does (minillm/tensor/memory.py)
    if torch is None:
        print("torch is not importable here: minillm's times only (no ratio)", file=sys.stderr)
    elif ARGS.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_train --device cuda: PyTorch sees no CUDA GPU on this machine")
    cfg = config_from_args([f"--preset={ARGS.preset}", *OVERRIDES])
    if ARGS.dry_run:
        print(f"bench_train --dry-run: {cfg.model_config}, batch {cfg.batch_size}")
        return
    text = load_text(cfg.dataset)
    tok = CharTokenizer.from_text(text)
    data = tok.encode(text[: int(len(text) * cfg.train_fraction)])
    runs = build(cfg, tok.vocab_size)
    rng = np.random.default_rng(0)
    times = {name: [] for name in runs}
    losses = {name: [] for name in runs}
    first_fast = None
    for i in range(ARGS.warmup + ARGS.steps):
        lr = warmup_cosine_lr(i, cfg.lr, cfg.min_lr, cfg.warmup_iters, cfg.decay_iters)
        x, y = get_batch(data, cfg.batch_size, cfg.block_size, rng)
        for name, run in runs.items():
            dt, loss = step(name, run, x, y, lr, cfg)
            first_fast = dt if first_fast is None else first_fast
            time.sleep(ARGS.pause)
            if i >= ARGS.warmup:
                times[name].append(dt)
            losses[name].append(loss)
    report(runs, cfg, times, losses, first_fast)
    if ARGS.profile:
        profile(runs["fast"], data, cfg, rng)


def report(runs, cfg, times, losses, first_fast):
    mc = runs["fast"][0].config
    load = os.getloadavg()[0]
    print(f"GPT {mc.n_layers} layers x {mc.n_heads} heads x {mc.d_model} wide, block "
          f"{mc.block_size}, batch {cfg.batch_size}, V={mc.vocab_size}, "
          f"{runs['fast'][0].num_params() / 1e6:.2f} M params; device {ARGS.device}, "
          f"{ARGS.threads} threads, load average {load:.1f} on {os.cpu_count()} cores")  # fmt: skip
    med = {name: float(np.median(ts)) for name, ts in times.items()}
    for name, ts in times.items():
        q1, m, q3 = np.percentile(np.array(ts) * 1e3, [25, 50, 75])
        print(f"{name:9s} median {m:7.1f} ms/step  (IQR {q1:.1f}-{q3:.1f}, {len(ts)} steps)")
    ratios = {"fast / reference": med["fast"] / med["reference"]}
    if "pytorch" in med:
        ratios["fast / pytorch"] = med["fast"] / med["pytorch"]
        ratios["reference / pytorch"] = med["reference"] / med["pytorch"]
    for what, r in ratios.items():
        print(f"ratio {what}: {r:.2f}x")
    diffs = {
        f"{a} vs {b}": float(np.abs(np.array(losses[a]) - np.array(losses[b])).max())
        for a, b in (("fast", "reference"), ("fast", "pytorch"), ("reference", "pytorch"))
        if b in losses
    }
    for what, d in diffs.items():
        print(f"max |loss difference| {what} over {len(losses['fast'])} steps: {d:.2e}")
    print(f"first fast step (loads the CPU kernels, or compiles them): {first_fast:.2f} s")
    if ARGS.json:
        result = {
            "benchmark": "train_step",
            "device": ARGS.device,
            "threads": ARGS.threads,
            "config": {k: getattr(mc, k) for k in ("n_layers", "n_heads", "d_model", "block_size")},
            "batch_size": cfg.batch_size,
            "median_ms": {k: round(v * 1e3, 2) for k, v in med.items()},
            "ratios": {k: round(v, 3) for k, v in ratios.items()},
            "max_loss_difference": diffs,
            "first_fast_step_s": round(first_fast, 2),
            "load_average": load,
            "torch": None if torch is None else torch.__version__,
        }
        Path(ARGS.json).parent.mkdir(parents=True, exist_ok=True)
        Path(ARGS.json).write_text(json.dumps(result, indent=1) + "\n")


def profile(run, data, cfg, rng):
    """cProfile 10 fast minillm steps; print the top functions by cumulative and by own time."""
    model, opt, _ = run
    batches = [get_batch(data, cfg.batch_size, cfg.block_size, rng) for _ in range(10)]
    prof = cProfile.Profile()
    prof.enable()
    for b in batches:
        train_step(model, opt, [b], cfg.lr, cfg.grad_clip)
    prof.disable()
    stats = pstats.Stats(prof).strip_dirs()
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
