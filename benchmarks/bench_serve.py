"""Load test of `minillm serve`: throughput and latency with and without batching.

    python benchmarks/bench_serve.py --checkpoint DIR [--requests 1000] [--concurrency 16]
        [--max_new_tokens 64] [--modes batched,single] [--time_limit 1800] [--json FILE]

For each mode the server is started as a separate process (`python -m minillm serve --port 0`
on 127.0.0.1, one BLAS thread, no access log), this process is the client: --concurrency
connections each send one request after the other (httpx, asyncio) until --requests answers
have come back or --time_limit seconds have passed, after a warm-up of a few requests that is
not counted. Modes: "batched" (--max_batch_size 16 and --max_wait_ms) and "single"
(--max_batch_size 1: one request at a time, the others queue). Every request asks for
--max_new_tokens tokens (no stop) after a prompt cut from the shipped Shakespeare (8 to 40
characters), temperature 0.8, top_k 40, seed = its number, so both modes do the same work.

Reported per mode: answers, errors (any non-200 or transport error), wall time, requests/s,
generated tokens/s, latency p50/p95/p99, and the rows per decoding step the engine ran
(/health: tokens / steps); with the load average before and after, since the machine is shared.
--json writes it all with the machine, the date and the commit (benchmarks/results/).
"""

import argparse
import asyncio
import datetime
import json
import os
import platform
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def arguments(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True, help="a checkpoint folder (the demo GPT)")
    p.add_argument("--requests", type=int, default=1000, help="answers per mode")
    p.add_argument("--concurrency", type=int, default=16, help="clients at once")
    p.add_argument("--max_new_tokens", type=int, default=64, help="tokens per request")
    p.add_argument("--modes", default="batched,single", help="batched and/or single")
    p.add_argument("--max_batch_size", type=int, default=16, help="the batched mode's batch")
    p.add_argument("--max_wait_ms", type=float, default=5.0, help="the batched mode's wait")
    p.add_argument("--warmup", type=int, default=8, help="requests before timing")
    p.add_argument("--time_limit", type=float, default=1800.0, help="seconds per mode at most")
    p.add_argument("--json", default=None, help="write the results here")
    return p.parse_args(argv)


def prompts(n: int, seed: int = 0) -> list[str]:
    """n prompts of 8 to 40 characters cut from the shipped corpus at random places."""
    text = (ROOT / "minillm" / "data" / "shakespeare.txt").read_text(encoding="utf-8")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        start, length = int(rng.integers(0, len(text) - 64)), int(rng.integers(8, 41))
        out.append(text[start : start + length])
    return out


def start_server(args, batch_size: int):
    """The server process and its URL (read from the line it prints when it listens)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "minillm", "serve", "--checkpoint", args.checkpoint,
               "--port", "0", "--no_access_log", "--log_level", "warning",
               "--max_batch_size", str(batch_size), "--max_wait_ms", str(args.max_wait_ms),
               "--max_new_tokens_cap", str(max(args.max_new_tokens, 1)),
               "--max_queue", str(4 * args.concurrency)]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    line = lines.get(timeout=120)
    url = line.split("listening on ")[1].split()[0]
    with httpx.Client(base_url=url, timeout=5) as client:
        for _ in range(600):
            try:
                if client.get("/health").status_code == 200:
                    return proc, url
            except httpx.TransportError:
                time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not answer /health")


async def load(url, bodies, concurrency, time_limit):
    """Send bodies with `concurrency` clients; [(seconds, status, completion_tokens)]."""
    results, next_i = [], iter(range(len(bodies)))
    deadline = time.monotonic() + time_limit
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def worker():
            for i in next_i:
                if time.monotonic() > deadline:
                    return
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/generate", json=bodies[i])
                    tokens = r.json().get("completion_tokens", 0) if r.status_code == 200 else 0
                    results.append((time.perf_counter() - t0, r.status_code, tokens))
                except httpx.HTTPError as e:
                    results.append((time.perf_counter() - t0, type(e).__name__, 0))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def run_mode(args, mode: str) -> dict:
    batch = args.max_batch_size if mode == "batched" else 1
    texts = prompts(args.requests + args.warmup)
    bodies = [{"prompt": t, "max_new_tokens": args.max_new_tokens, "temperature": 0.8,
               "top_k": 40, "seed": i} for i, t in enumerate(texts)]  # fmt: skip
    proc, url = start_server(args, batch)
    try:
        asyncio.run(load(url, bodies[: args.warmup], min(args.warmup, args.concurrency), 300))
        before = httpx.get(f"{url}/health").json()["engine"]
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        results = asyncio.run(load(url, bodies[args.warmup :], args.concurrency, args.time_limit))
        wall = time.perf_counter() - t0
        after = httpx.get(f"{url}/health").json()["engine"]
        load_after = os.getloadavg()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    ok = [r for r in results if r[1] == 200]
    latency = np.array([r[0] for r in ok]) * 1000
    tokens = sum(r[2] for r in ok)
    steps = after["steps"] - before["steps"]
    return {
        "mode": mode,
        "max_batch_size": batch,
        "answers": len(results),
        "errors": len(results) - len(ok),
        "error_kinds": sorted({str(r[1]) for r in results if r[1] != 200}),
        "wall_s": round(wall, 2),
        "requests_per_s": round(len(ok) / wall, 2),
        "tokens_per_s": round(tokens / wall, 1),
        "latency_ms": {
            q: round(float(np.percentile(latency, int(q[1:]))), 1) if len(ok) else None
            for q in ("p50", "p95", "p99")
        },  # fmt: skip
        "rows_per_step": round((after["tokens"] - before["tokens"]) / max(steps, 1), 2),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "timed_out": len(results) < args.requests,
    }


def commit() -> str:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                       text=True)  # fmt: skip
    return r.stdout.strip() or "unknown"


def main(argv=None) -> int:
    args = arguments(argv)
    manifest = json.loads((Path(args.checkpoint) / "checkpoint.json").read_text())
    runs = [run_mode(args, m.strip()) for m in args.modes.split(",")]
    for r in runs:
        lat = r["latency_ms"]
        print(f"{r['mode']:>8} (batch {r['max_batch_size']:>2}): {r['answers']} answers, "
              f"{r['errors']} errors, {r['wall_s']} s, {r['requests_per_s']} req/s, "
              f"{r['tokens_per_s']} tokens/s, latency p50 {lat['p50']} / p95 {lat['p95']} / "
              f"p99 {lat['p99']} ms, {r['rows_per_step']} rows/step, load "
              f"{r['load_average_before'][0]} -> {r['load_average_after'][0]}")  # fmt: skip
    by_mode = {r["mode"]: r for r in runs}
    speedup = None
    if {"batched", "single"} <= set(by_mode):
        speedup = round(by_mode["batched"]["tokens_per_s"] / by_mode["single"]["tokens_per_s"], 2)
        print(f"batching: {speedup}x the tokens/s of one request at a time")
    report = {
        "benchmark": "serve",
        "checkpoint": args.checkpoint,
        "checkpoint_step": manifest.get("state", {}).get("step"),
        "model": {"name": manifest["model"], **manifest["model_config"]},
        "requests": args.requests,
        "concurrency": args.concurrency,
        "max_new_tokens": args.max_new_tokens,
        "max_wait_ms": args.max_wait_ms,
        "runs": runs,
        "batched_over_single_tokens_per_s": speedup,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "date": datetime.date.today().isoformat(),
        "commit": commit(),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0 if all(r["errors"] == 0 and not r["timed_out"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
