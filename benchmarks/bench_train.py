"""One training step (forward + backward + clip + AdamW) of the GPT, minillm against PyTorch eager.

    /tmp/torchvenv/bin/python benchmarks/bench_train.py [--steps 30] [--pause 0.2] [--threads 2]
        [--preset shakespeare-char] [--key=value ...] [--device cuda] [--profile]

(the torch venv of tests/fixtures, with minillm installed into it: `/tmp/torchvenv/bin/pip install
--no-deps --no-build-isolation -e .`; without torch it times minillm alone.)

Both models have the `shakespeare-char` preset's shape (nanoGPT's CPU baby GPT: 4 layers, 4 heads,
128 wide, block 64, batch 12) and start from the same weights (minillm's init, converted with
minillm.models.gpt_names); both train on the same random Shakespeare batches with nanoGPT's update.
The libraries alternate, a minillm step then a PyTorch step, with a pause between them: OpenBLAS's
and PyTorch's OpenMP threads spin after their work, so back-to-back steps slow each other
(BASELINES.md). Each step is timed alone; the report gives medians over --steps steps and the
ratio minillm / PyTorch. --profile runs cProfile over 10 more minillm steps and prints the top
functions by cumulative time. --device cuda runs both on the GPU (CuPy / CUDA; fails clearly
without one). Extra --key=value arguments override the preset (e.g. --n_layers=6).
"""

import argparse
import os
import sys

ARGS = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ARGS.add_argument("--steps", type=int, default=30, help="timed steps per library")
ARGS.add_argument("--warmup", type=int, default=5, help="untimed steps per library first")
ARGS.add_argument("--pause", type=float, default=0.2, help="seconds between two timed steps")
ARGS.add_argument("--threads", type=int, default=2, help="BLAS / OpenMP threads of both")
ARGS.add_argument("--preset", default="shakespeare-char")
ARGS.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
ARGS.add_argument("--profile", action="store_true", help="cProfile 10 minillm steps")
ARGS, OVERRIDES = ARGS.parse_known_args() if __name__ == "__main__" else (ARGS.parse_args([]), [])
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)  # before numpy and torch start their thread pools

import cProfile  # noqa: E402
import importlib.util  # noqa: E402
import pstats  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from minillm.data import CharTokenizer, get_batch, load_text  # noqa: E402
from minillm.models import GPT, gpt_names  # noqa: E402
from minillm.optim import warmup_cosine_lr  # noqa: E402
from minillm.tensor.memory import keep_freed_memory  # noqa: E402
from minillm.train import config_from_args, configure_optimizer, train_step  # noqa: E402

try:
    import torch  # noqa: E402

    torch.set_num_threads(ARGS.threads)
except ImportError:  # minillm's times only (the torch venv gives the side-by-side ratio)
    torch = None
ROOT = Path(__file__).resolve().parents[1]


def torch_model_class():
    """TorchGPT from tests/fixtures/make_gpt_fixtures.py: one PyTorch GPT for fixture and bench."""
    path = ROOT / "tests" / "fixtures" / "make_gpt_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_gpt_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TorchGPT, module.configure_optimizer


def build(cfg, vocab_size):
    """(minillm model, its optimizer, torch model, its optimizer), same weights on both; the
    last two are None without torch."""
    ours = GPT(cfg.model_config(vocab_size), seed=cfg.seed).to(ARGS.device)
    opt = configure_optimizer(ours, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2))
    if torch is None:
        return ours, opt, None, None
    TorchGPT, torch_optimizer = torch_model_class()
    mc = ours.config
    theirs = TorchGPT(mc.vocab_size, mc.block_size, mc.n_layers, mc.n_heads, mc.d_model, mc.bias,
                      mc.tie_weights)  # fmt: skip
    host = {
        k: np.asarray(v.get() if hasattr(v, "get") else v) for k, v in ours.state_dict().items()
    }
    state = gpt_names.to_nanogpt(host, mc.n_layers)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    theirs = theirs.to(ARGS.device)
    t_opt = torch_optimizer(theirs, cfg.weight_decay, cfg.lr, (cfg.beta1, cfg.beta2))
    return ours, opt, theirs, t_opt


def torch_step(model, opt, x, y, lr, clip):
    for g in opt.param_groups:
        g["lr"] = lr
    _, loss = model(x, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.item()


def sync():
    if ARGS.device == "cuda" and torch is not None:
        torch.cuda.synchronize()


def main():
    keep_freed_memory()  # as the CLI does (minillm/tensor/memory.py)
    if torch is None:
        print("torch is not importable here: minillm's times only (no ratio)", file=sys.stderr)
    elif ARGS.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_train --device cuda: PyTorch sees no CUDA GPU on this machine")
    cfg = config_from_args([f"--preset={ARGS.preset}", *OVERRIDES])
    text = load_text(cfg.dataset)
    tok = CharTokenizer.from_text(text)
    data = tok.encode(text[: int(len(text) * cfg.train_fraction)])
    ours, opt, theirs, t_opt = build(cfg, tok.vocab_size)
    rng = np.random.default_rng(0)
    times = {"minillm": [], "pytorch": []}
    losses = {"minillm": [], "pytorch": []}
    for i in range(ARGS.warmup + ARGS.steps):
        lr = warmup_cosine_lr(i, cfg.lr, cfg.min_lr, cfg.warmup_iters, cfg.decay_iters)
        x, y = get_batch(data, cfg.batch_size, cfg.block_size, rng)
        t0 = time.perf_counter()
        loss, _ = train_step(ours, opt, [(x, y)], lr, cfg.grad_clip)  # .item() synchronises
        t1 = time.perf_counter()
        time.sleep(ARGS.pause)
        if i >= ARGS.warmup:
            times["minillm"].append(t1 - t0)
        losses["minillm"].append(loss)
        if theirs is None:
            continue
        tx, ty = torch.from_numpy(x).to(ARGS.device), torch.from_numpy(y).to(ARGS.device)
        sync()
        t2 = time.perf_counter()
        losses["pytorch"].append(torch_step(theirs, t_opt, tx, ty, lr, cfg.grad_clip))
        t3 = time.perf_counter()
        time.sleep(ARGS.pause)
        if i >= ARGS.warmup:
            times["pytorch"].append(t3 - t2)
    mc = ours.config
    print(f"GPT {mc.n_layers} layers x {mc.n_heads} heads x {mc.d_model} wide, block {mc.block_size},"
          f" batch {cfg.batch_size}, V={mc.vocab_size}, {ours.num_params() / 1e6:.2f} M params;"
          f" device {ARGS.device}, {ARGS.threads} threads")  # fmt: skip
    for name, ts in times.items():
        if not ts:
            continue
        q1, med, q3 = np.percentile(np.array(ts) * 1e3, [25, 50, 75])
        print(f"{name:8s} median {med:7.1f} ms/step  (IQR {q1:.1f}-{q3:.1f}, {len(ts)} steps)")
    if times["pytorch"]:
        ratio = np.median(times["minillm"]) / np.median(times["pytorch"])
        print(f"ratio minillm / pytorch {torch.__version__}: {ratio:.2f}x")
        diff = np.abs(np.array(losses["minillm"]) - np.array(losses["pytorch"])).max()
        print(f"max |loss difference| over {len(losses['minillm'])} shared steps: {diff:.2e}")
    if ARGS.profile:
        profile(ours, opt, data, cfg, rng)


def profile(model, opt, data, cfg, rng):
    """cProfile 10 minillm steps; print the top functions by cumulative and by own time."""
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
