"""Generation speed with and without the KV cache, at the demo model's size.

    python benchmarks/bench_generate.py [--tokens 256] [--repeats 3] [--threads 2]
        [--checkpoint DIR] [--batch 1] [--key=value ...]

The model is the `shakespeare-char` preset's GPT (4 layers x 4 heads x 128 wide, block 64), with
the weights of --checkpoint when given, else a fresh init (the speed does not depend on the
values); extra --key=value arguments change the fresh model's shape (e.g. --model.n_layers=6
--model.d_model=384 --model.n_heads=6 --model.block_size=256, the GPU config). Both runs draw
--tokens tokens greedily from a one-token prompt; uncached generation runs the model over the last
block_size tokens at every step (computing only the last position's logits, as nanoGPT), cached
generation feeds one token per step and rebuilds its cache from the last half window when it fills
(minillm/generate/autoregressive.py). The report gives the median time of --repeats runs, the
tokens/s and the speed-up, and checks that both runs agree on the
tokens while the sequence fits in block_size.
"""

import argparse
import os

ARGS = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ARGS.add_argument("--tokens", type=int, default=256, help="new tokens per run")
ARGS.add_argument("--repeats", type=int, default=3, help="timed runs per mode")
ARGS.add_argument("--threads", type=int, default=2, help="BLAS threads")
ARGS.add_argument("--checkpoint", default=None, help="a trained checkpoint folder")
ARGS.add_argument("--batch", type=int, default=1, help="sequences generated at once")
ARGS, OVERRIDES = ARGS.parse_known_args() if __name__ == "__main__" else (ARGS.parse_args([]), [])
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)  # before numpy starts its thread pool

import time  # noqa: E402

import numpy as np  # noqa: E402

from minillm.generate import generate  # noqa: E402
from minillm.models import GPT  # noqa: E402
from minillm.tensor.memory import keep_freed_memory  # noqa: E402
from minillm.train import config_from_args, load_checkpoint  # noqa: E402


def main():
    keep_freed_memory()  # as the CLI does (minillm/tensor/memory.py)
    if ARGS.checkpoint:
        model = load_checkpoint(ARGS.checkpoint)[0]
    else:
        cfg = config_from_args(["--preset=shakespeare-char", *OVERRIDES])
        model = GPT(cfg.model_config_for(76), seed=cfg.seed).eval()
    block = model.config.block_size
    prompt = np.zeros((ARGS.batch, 1), dtype=np.int64)  # (B, 1)
    results = {}
    for use_cache in (True, False):
        generate(model, prompt, 8, temperature=0, use_cache=use_cache)  # warm-up
        times, out = [], None
        for _ in range(ARGS.repeats):
            t0 = time.perf_counter()
            out = generate(model, prompt, ARGS.tokens, temperature=0, use_cache=use_cache)
            times.append(time.perf_counter() - t0)
        results[use_cache] = (float(np.median(times)), out)
    c = model.config
    print(f"GPT {c.n_layers} x {c.n_heads} x {c.d_model}, block {block}, V={c.vocab_size}; "
          f"{ARGS.tokens} new tokens, batch {ARGS.batch}, {ARGS.threads} threads")  # fmt: skip
    for use_cache, (t, _) in results.items():
        name = "KV cache" if use_cache else "no cache"
        rate = ARGS.tokens * ARGS.batch / t
        print(f"{name:9s} {t * 1e3:8.1f} ms  {rate:8.1f} tokens/s  ({ARGS.repeats} runs, median)")
    print(f"speed-up with the KV cache: {results[False][0] / results[True][0]:.1f}x")
    same = np.array_equal(results[True][1][:, :block], results[False][1][:, :block])
    print(f"first {block} positions identical with and without the cache: {same}")


if __name__ == "__main__":
    main()
