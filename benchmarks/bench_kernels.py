"""Benchmark every kernel version (CuPy CUDA C and Numba) on the GPU, after validating it.

Each version is validated against the NumPy reference in float64 (forward and backward at a
small ragged size, the forward at the benchmark size), then its forward and backward are timed
with CUDA events (median of --repeats; L2 flushed before each repeat of memory-bound ops), in
TFLOP/s (matmul, attention) or GB/s of minimal traffic, beside cuBLAS SGEMM (cupy.matmul), the
device-to-device copy and torch's float32 scaled_dot_product_attention, all measured this run.

    python benchmarks/bench_kernels.py                   # all ops, writes benchmarks/results/
    python benchmarks/bench_kernels.py --ops matmul,attention --repeats 5
    python benchmarks/bench_kernels.py --check           # no GPU: Numba versions validated
                                                         # under the CUDA simulator, tiny sizes
    python benchmarks/bench_kernels.py --validate        # GPU: every version once at the small
                                                         # sizes, no timing (the launch set that
                                                         # gpu_check.sh runs compute-sanitizer on)
Needs the project installed (pip install -e .) and, without --check, a CUDA GPU with CuPy.
"""

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from minillm.kernels import registry  # imports neither numba nor cupy until registry() is called

from minillm.ops import attention, cross_entropy, gelu, layer_norm, softmax
from minillm.tensor import primitives

ROOT = Path(__file__).resolve().parents[1]
ALL_OPS = ("matmul", "softmax", "layer_norm", "cross_entropy", "gelu", "attention")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ops", default=",".join(ALL_OPS), help="comma-separated subset of ops")
    p.add_argument("--backends", default="cupy,numba")
    p.add_argument("--repeats", type=int, default=10, help="timed repeats per measurement")
    p.add_argument("--check", action="store_true", help="validate Numba versions in the simulator")
    p.add_argument("--validate", action="store_true", help="validate every version on the GPU")
    p.add_argument("--out", type=Path, default=None, help="JSON path (default: results/...)")
    args = p.parse_args(argv)
    args.ops = [o for o in args.ops.split(",") if o]
    bad = sorted(set(args.ops) - set(ALL_OPS))
    if bad:
        p.error(f"unknown ops {bad}; choose from {ALL_OPS}")
    return args


# ---- problems: (forward args, reference kwargs, work) per op and size --------------------------
def problem(op, size, rng):
    """(args, kwargs, work, unit): float32 NumPy inputs of the forward, and its useful work
    (flops, or bytes of minimal memory traffic) as (forward, backward)."""
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    if op == "matmul":
        M, K, N = size
        ab = (r(M, K), r(K, N) / np.float32(math.sqrt(K)))  # |a @ b| ~ 1
        return ab, {}, (2 * M * N * K, 4 * M * N * K), "TFLOP/s"
    if op in ("softmax", "gelu"):
        n = math.prod(size)
        return (r(*size) * 3,), {}, (8 * n, 12 * n), "GB/s"  # read + write; read 2 + write
    if op == "layer_norm":
        R, C = size
        return (r(R, C), r(C), r(C)), {}, (8 * R * C, 12 * R * C), "GB/s"
    if op == "cross_entropy":
        N, V = size
        targets = rng.integers(0, V, size=N)
        targets[::7] = -100  # some ignored rows
        return (r(N, V), targets), {}, (4 * N * V, 8 * N * V), "GB/s"
    B, H, T, D, causal = size  # attention
    frac = 0.5 if causal else 1.0
    fl = 4 * B * H * T * T * D * frac  # q k^T and P v; the backward does 2.5x that
    qkv = (r(B, H, T, D), r(B, H, T, D), r(B, H, T, D))
    return qkv, {"is_causal": causal}, (fl, 2.5 * fl), "TFLOP/s"


BENCH_SIZES = {
    "matmul": [(4096, 4096, 4096), (8192, 768, 3072)],
    "softmax": [(4096, 1024), (1024, 50257)],
    "layer_norm": [(8192, 768), (4096, 4096)],
    "cross_entropy": [(4096, 50257)],
    "gelu": [(8192, 3072)],
    "attention": [(8, 12, 1024, 64, False), (8, 12, 1024, 64, True)],
}
CHECK_SIZES = {  # small and ragged: the validation before timing, and --check
    "matmul": (19, 13, 21),
    "softmax": (3, 37),
    "layer_norm": (5, 37),
    "cross_entropy": (6, 37),
    "gelu": (2, 37),
    "attention": (1, 2, 9, 5, True),
}


REFERENCE = {  # the NumPy (forward, backward) pairs each kernel version is held against
    "matmul": (primitives.matmul_forward, primitives.matmul_backward),
    "softmax": (softmax.softmax_forward, softmax.softmax_backward),
    "layer_norm": (layer_norm.layer_norm_forward, layer_norm.layer_norm_backward),
    "cross_entropy": (cross_entropy.cross_entropy_forward, cross_entropy.cross_entropy_backward),
    "gelu": (gelu.gelu_forward, gelu.gelu_backward),
    "attention": (attention.attention_forward, attention.attention_backward),
}


def host(x):
    """NumPy copy of a NumPy, CuPy or Numba array."""
    if hasattr(x, "copy_to_host"):
        return x.copy_to_host()
    return x.get() if hasattr(x, "get") else np.asarray(x)


def grad_of(out, rng):
    return rng.standard_normal(np.shape(out)).astype(np.float32)  # an upstream gradient


def max_violation(got, ref, atol, rtol):
    """max(|ref - got| - atol - rtol |ref|) over all outputs (<= 0: pass)."""
    worst = -np.inf
    for g, r in zip(got, ref, strict=True):
        if r is None:
            continue
        g, r = host(g).astype(np.float64), np.asarray(r, np.float64)
        same_nan = np.isnan(g) & np.isnan(r)
        err = np.where(same_nan, -1.0, np.abs(g - r) - atol - rtol * np.abs(r))
        worst = max(worst, float(np.nan_to_num(err, nan=np.inf).max(initial=-np.inf)))
    return worst


def validate(op, pair, rng):
    """Forward and backward of `pair` against the float64 reference at the small size."""
    args, kw, _, _ = problem(op, CHECK_SIZES[op], rng)
    fwd, bwd = REFERENCE[op]
    f64 = tuple(a.astype(np.float64) if a.dtype == np.float32 else a for a in args)
    out, cache = pair(*args, **kw)
    ref_out, ref_cache = fwd(*f64, **kw)
    dout = grad_of(ref_out, rng)
    ref_grads = bwd(dout.astype(np.float64), ref_cache)
    grads = pair.backward(dout, cache)
    fwd_err = max_violation((out,), (ref_out,), 1e-5, 1e-4)
    grads, ref_grads = (g if isinstance(g, tuple) else (g,) for g in (grads, ref_grads))
    return max(fwd_err, max_violation(grads, ref_grads, 1e-5, 1e-4))


# ---- GPU timing ---------------------------------------------------------------------------------
def gpu_time_ms(cp, fn, repeats, flush=None):
    """Median milliseconds of fn() between two CUDA events; flush() runs untimed before each."""
    fn()  # warm-up: compiles and caches
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(repeats):
        if flush is not None:
            flush()
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, end))
    return float(np.median(times))


def device_info(cp):
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    return {
        "device": props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
        "compute_capability": f"{props['major']}.{props['minor']}",
        "driver": cp.cuda.runtime.driverGetVersion(),
        "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
        "cupy": cp.__version__,
        "git_commit": commit,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def baselines(cp, repeats):
    """cuBLAS SGEMM TFLOP/s at 4096^3 and device-to-device copy GB/s (1 GiB), this run."""
    a = cp.random.standard_normal((4096, 4096), dtype=cp.float32)
    ms = gpu_time_ms(cp, lambda: cp.matmul(a, a), repeats)
    x = cp.empty(1 << 28, dtype=cp.float32)
    y = cp.empty_like(x)
    copy_ms = gpu_time_ms(cp, lambda: y.__setitem__(Ellipsis, x), repeats)
    return {
        "cublas_sgemm_tflops": 2 * 4096**3 / ms / 1e9,
        "copy_gbps": 2 * x.nbytes / copy_ms / 1e6,
    }


def torch_sdpa_ms(cp, size, repeats):
    """torch scaled_dot_product_attention (float32) forward ms, or None without torch/CUDA.
    Timed with the same CuPy events: both libraries launch on the legacy default stream."""
    try:
        import torch  # optional: only for this comparison
        import torch.nn.functional as F
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    B, H, T, D, causal = size
    q, k, v = (torch.randn(B, H, T, D, device="cuda") for _ in range(3))
    return gpu_time_ms(
        cp, lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal), repeats
    )


def bench_gpu(args):
    try:
        import cupy as cp  # optional dependency (the "cuda" extra): imported only to benchmark

        why = None if cp.is_available() else "cupy.is_available() is False"
    except Exception as e:  # CuPy missing or broken
        why = f"CuPy does not import: {e}"
    if why:
        sys.exit(
            f"bench_kernels: no CUDA GPU ({why}); run it on a GPU machine, or use --check to "
            "validate the Numba versions in the simulator"
        )
    info = device_info(cp)
    base = baselines(cp, args.repeats)
    print(
        f"{info['device']}  cuBLAS SGEMM {base['cublas_sgemm_tflops']:.1f} TFLOP/s  "
        f"copy {base['copy_gbps']:.0f} GB/s  commit {info['git_commit'][:10]}"
    )
    flush_buf = cp.empty(64 << 20, dtype=cp.float32)  # 256 MiB > any L2
    rows, rng = [], np.random.default_rng(0)
    for op in args.ops:
        for size in BENCH_SIZES[op]:
            np_args, kw, work, unit = problem(op, size, rng)
            setup = {
                "args": [cp.asarray(a) for a in np_args],
                "kw": kw,
                "work": work,
                "unit": unit,
                "flush": None if unit == "TFLOP/s" else (lambda: flush_buf.fill(0)),
                "limit": base["cublas_sgemm_tflops"] if unit == "TFLOP/s" else base["copy_gbps"],
                "row": {"op": op, "size": list(size), "unit": unit},
            }
            f64 = [a.astype(np.float64) if a.dtype == np.float32 else a for a in np_args]
            setup["ref_out"] = REFERENCE[op][0](*f64, **kw)[0]  # the full-size check, float64
            if op == "attention":
                setup["row"]["torch_sdpa_fwd_ms"] = torch_sdpa_ms(cp, size, args.repeats)
            for backend in args.backends.split(","):
                for name, pair in registry(backend, op).items():
                    rows.append(measure(cp, setup, backend, name, pair, args.repeats, rng))
    out = args.out or ROOT / "benchmarks" / "results" / f"kernels-{datetime.date.today()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**info, **base, "results": rows}, indent=1))
    print(f"wrote {out}")
    failed = [f"{r['op']}/{r['backend']}/{r['version']}" for r in rows if r["violation"] > 0]
    if failed:
        sys.exit(f"bench_kernels: versions failed validation: {failed}")


def measure(cp, setup, backend, name, pair, repeats, rng):
    """Validate one version, then time its forward and backward at the benchmark size."""
    op, unit = setup["row"]["op"], setup["unit"]
    row = {**setup["row"], "backend": backend, "version": name}
    row["violation"] = validate(op, pair, np.random.default_rng(1))
    try:
        out, cache = pair(*setup["args"], **setup["kw"])
    except ValueError as e:  # a size this version does not take (flash attention with D > 64)
        print(f"{op:13s} {backend:5s} {name:18s} skipped: {e}")
        return {**row, "skipped": str(e)}
    full = max_violation((out,), (setup["ref_out"],), 1e-4, 1e-4)  # long sums: looser atol
    row["violation"] = max(row["violation"], full)
    dout = cp.asarray(grad_of(out, rng))  # Numba versions take CuPy arrays in place
    fwd_ms = gpu_time_ms(cp, lambda: pair(*setup["args"], **setup["kw"]), repeats, setup["flush"])
    bwd_ms = gpu_time_ms(cp, lambda: pair.backward(dout, cache), repeats, setup["flush"])
    scale = 1e9 if unit == "TFLOP/s" else 1e6  # work / ms -> TFLOP/s or GB/s
    fwd, bwd = setup["work"][0] / fwd_ms / scale, setup["work"][1] / bwd_ms / scale
    row.update(fwd_ms=fwd_ms, bwd_ms=bwd_ms, fwd=fwd, bwd=bwd, fwd_of_limit=fwd / setup["limit"])
    flag = "ok" if row["violation"] <= 0 else "FAILED VALIDATION"
    print(
        f"{op:13s} {str(row['size']):26s} {backend:5s} {name:18s} fwd {fwd_ms:8.3f} ms "
        f"{fwd:8.2f} {unit} ({100 * row['fwd_of_limit']:5.1f} %)  bwd {bwd_ms:8.3f} ms "
        f"{bwd:8.2f} {unit}  {flag}"
    )
    return row


def validate_all(args, backends):
    """Validate every version of `backends` at the small sizes (under the simulator with --check,
    on the GPU with --validate); exit 1 if any fails."""
    failed = 0
    for op in args.ops:
        for backend in backends:
            for name, pair in registry(backend, op).items():
                v = validate(op, pair, np.random.default_rng(1))
                failed += v > 0
                flag = "ok" if v <= 0 else "FAILED"
                print(f"{op:13s} {backend:5s} {name:18s} {flag} (violation {v:.2e})", flush=True)
    sys.exit(1 if failed else 0)


def main(argv=None):
    args = parse_args(argv)
    if args.check:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # read when numba is first imported, below
        if "numba" in sys.modules:
            sys.exit("bench_kernels --check: numba was imported before the simulator was enabled")
        validate_all(args, ["numba"])
    elif args.validate:
        validate_all(args, args.backends.split(","))
    else:
        bench_gpu(args)


if __name__ == "__main__":
    main()
