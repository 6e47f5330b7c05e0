"""The whole `make demo` training run: wall time, peak memory and the validation loss it reaches.

    python benchmarks/bench_demo.py [--threads 2] [--out-dir DIR] [--key=value ...]

Runs `minillm train --preset shakespeare-char` (nanoGPT's CPU baby GPT, 2000 iterations) in a child
process with --threads BLAS threads, as `make demo` does, and reports:
- the wall time of the whole run (the targets: under 4 minutes on 2 cores; nanoGPT: 167 s);
- the child's peak resident memory, from getrusage (target: 250 MiB; nanoGPT: 365 MiB);
- the train and val losses at every evaluation (target: val <= 2.02 at 2000; nanoGPT: 2.019);
and writes them with the machine, the date and the commit to benchmarks/results/demo-<date>.json.
Extra --key=value arguments override the preset (e.g. --max_iters=200 for a quick look).
"""

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "-uno"], cwd=ROOT, capture_output=True)
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out-dir", default=None, help="checkpoint folder (default: a temp dir)")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args, overrides = parser.parse_known_args()
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.out_dir or tmp
        cmd = [sys.executable, "-m", "minillm", "train", "--preset=shakespeare-char"]
        cmd += [f"--out_dir={out_dir}", *overrides]
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        run = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if run.returncode != 0:
            sys.exit(f"bench_demo: minillm train failed ({run.returncode}):\n{run.stderr[-2000:]}")
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
        lines = (Path(out_dir) / "metrics.jsonl").read_text().splitlines()
        evals = [r for r in map(json.loads, lines) if r["kind"] == "eval"]
    final = [ln for ln in run.stdout.splitlines() if ln.startswith("final:")][-1]
    print(f"minillm train --preset shakespeare-char {' '.join(overrides)}, {args.threads} threads")
    print("| step | train loss | val loss |\n|---|---|---|")
    for r in evals:
        print(f"| {r['step']} | {r['train_loss']:.3f} | {r['val_loss']:.3f} |")
    print(f"wall {seconds:.1f} s, peak RSS {peak_mib:.0f} MiB, load before {load_before:.1f}")
    print(final)
    result = {
        "benchmark": "demo",
        "command": " ".join(cmd[1:]),
        "threads": args.threads,
        "wall_seconds": round(seconds, 1),
        "peak_rss_mib": round(peak_mib, 1),
        "evals": evals,
        "final_line": final,
        "load_average_before": load_before,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit(),
    }
    path = Path(args.results) / f"demo-{datetime.date.today()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
