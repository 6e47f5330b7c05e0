"""Why the CPU kernels run serially: GELU between two matrix products, four ways of threading it.

    python benchmarks/bench_cpu_threads.py [--repeats 40] [--threads 2]

A training step alternates BLAS products (OpenBLAS, --threads threads) with elementwise kernels.
This times [x @ w1 -> GELU -> @ w2] at the demo's and the 6x384 MLP sizes, the GELU run
- serial: kernels/cpu's v3_keep_exp forward, one thread (what the dispatcher runs);
- python-threads: the same loop over two halves of the array, the second half in a Python thread
  (the kernels release the GIL);
- workqueue / omp: a `parallel=True` copy of the loop on Numba's workqueue or OpenMP threading
  layer, each in a process of its own (the layer is chosen once per process).
It prints the median of the whole sequence and of the GELU alone, in ms. On the 2-core machine
of docs/performance.md the serial kernel won every time: the other three wake threads that
OpenBLAS's spinning threads are still holding the cores with.
"""

import argparse
import os
import subprocess
import sys

WAYS = ("serial", "python-threads", "workqueue", "omp")


def run(way, repeats, threads):
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import time
    from concurrent.futures import ThreadPoolExecutor

    import numba
    import numpy as np

    if way in ("workqueue", "omp"):
        numba.config.THREADING_LAYER = way
    from minillm.kernels.cpu import gelu
    from minillm.kernels.cpu._math import exp_f32, f32

    serial = gelu._v3_tanh_forward
    c, k = gelu._C, gelu._SQRT_2_OVER_PI

    @numba.njit(error_model="numpy", parallel=True)
    def parallel(x, y, e):
        for i in numba.prange(x.size):
            u = k * (x[i] + c * x[i] * x[i] * x[i])
            ei = exp_f32(f32(-2.0) * abs(u))
            e[i] = ei
            r = f32(1.0) / (f32(1.0) + ei)
            y[i] = x[i] * (r if u >= 0 else ei * r)

    pool = ThreadPoolExecutor(1)

    def halves(x, y, e):
        h = x.size // 2
        later = pool.submit(serial, x[h:], y[h:], e[h:])
        serial(x[:h], y[:h], e[:h])
        later.result()

    fn = {"serial": serial, "python-threads": halves}.get(way, parallel)
    rng = np.random.default_rng(0)
    for M, C in ((768, 128), (2048, 384)):
        a = rng.standard_normal((M, C)).astype(np.float32)
        w1 = rng.standard_normal((C, 4 * C)).astype(np.float32) * 0.05
        w2 = rng.standard_normal((4 * C, C)).astype(np.float32) * 0.05
        y, e = np.empty((M, 4 * C), np.float32), np.empty((M, 4 * C), np.float32)
        whole, alone = [], []
        for r in range(repeats + 1):
            t0 = time.perf_counter()
            h = a @ w1
            t1 = time.perf_counter()
            fn(h.reshape(-1), y.reshape(-1), e.reshape(-1))
            t2 = time.perf_counter()
            _ = y @ w2
            t3 = time.perf_counter()
            if r:
                whole.append(t3 - t0)
                alone.append(t2 - t1)
        layer = numba.threading_layer() if way in ("workqueue", "omp") else "-"
        print(f"| {way} | {M}x{C} -> {4 * C} | {1e3 * np.median(whole):.2f} | "
              f"{1e3 * np.median(alone):.3f} | {layer} |", flush=True)  # fmt: skip


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=40)
    p.add_argument("--threads", type=int, default=2, help="OpenBLAS threads")
    p.add_argument("--way", choices=WAYS, default=None, help="(internal) one way, this process")
    args = p.parse_args()
    if args.way:
        return run(args.way, args.repeats, args.threads)
    print(f"# {args.threads} BLAS threads, median of {args.repeats}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    print("| GELU threading | matmul sizes | x@w1, GELU, @w2 ms | GELU alone ms | layer |")
    print("|---|---|---|---|---|")
    for way in WAYS:
        cmd = [sys.executable, __file__, "--way", way, "--repeats", str(args.repeats)]
        subprocess.run([*cmd, "--threads", str(args.threads)], check=True)


if __name__ == "__main__":
    main()
