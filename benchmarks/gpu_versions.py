"""The GPU check's two bookends (benchmarks/gpu_check.sh): what the machine is, and the summary.

python benchmarks/gpu_versions.py --out versions.json
    prints and writes the device, driver, CUDA runtime, Python and package versions;
    without a GPU it says so and still writes the versions it found
python benchmarks/gpu_versions.py --summary DIR --dry-run 0|1 --out gpu-<date>.json
    gathers DIR (steps.tsv, versions.json, kernels.json, train.json, the step logs) into one
    JSON with the date and the commit
"""

import argparse
import datetime
import importlib.metadata
import json
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("numpy", "numba", "numba-cuda", "cupy-cuda13x", "torch", "pytest", "minillm")


def commit() -> str:
    run = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "-uno"], cwd=ROOT, capture_output=True)
    return (run.stdout.strip() or "unknown") + ("-dirty" if dirty.stdout.strip() else "")


def device() -> dict:
    """The GPU as CuPy sees it, or why there is none."""
    try:
        import cupy  # the GPU machine has it; here it may be missing or find no driver
    except Exception as e:  # ImportError, or a broken CUDA install
        return {"gpu": None, "why": f"CuPy does not import: {e}"}
    try:
        if not cupy.is_available():
            return {"gpu": None, "why": "cupy.is_available() is False: no GPU or no driver"}
        rt = cupy.cuda.runtime
        props = rt.getDeviceProperties(0)
        name = props["name"]
        return {
            "gpu": name.decode() if isinstance(name, bytes) else name,
            "compute_capability": f"{props['major']}.{props['minor']}",
            "memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
            "driver": rt.driverGetVersion(),
            "cuda_runtime": rt.runtimeGetVersion(),
            "device_count": rt.getDeviceCount(),
        }
    except Exception as e:  # a driver that CuPy finds but cannot use
        return {"gpu": None, "why": f"CuPy found no usable GPU: {e}"}


def nvidia_smi() -> str | None:
    try:
        run = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return run.stdout.strip() or None


def versions() -> dict:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.platform()}",
        "packages": found,
        "nvidia_smi": nvidia_smi(),
        **device(),
    }


def _read(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def summary(folder: Path, dry_run: bool) -> dict:
    steps = []
    for line in (folder / "steps.tsv").read_text().splitlines():
        name, status, rc, seconds, limit = line.split("\t")
        log = folder / f"{name}.log"
        tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
        steps.append({"step": name, "status": status, "rc": int(rc), "seconds": int(seconds),
                      "limit_s": int(limit), "log_tail": tail})  # fmt: skip
    found = _read(folder / "versions.json") or {}
    return {
        "check": "gpu",
        "dry_run": dry_run,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "device": found.get("gpu"),
        "driver": found.get("driver"),
        "cuda_runtime": found.get("cuda_runtime"),
        "versions": found,
        "steps": steps,
        "kernels": _read(folder / "kernels.json"),
        "train": _read(folder / "train.json"),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--summary", type=Path, default=None, help="gather this gpu_check folder")
    p.add_argument("--dry-run", type=int, default=0)
    args = p.parse_args()
    result = summary(args.summary, bool(args.dry_run)) if args.summary else versions()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    if args.summary:
        failed = [s["step"] for s in result["steps"] if s["status"] not in ("ok", "skipped")]
        print(f"wrote {args.out}; steps not ok: {failed or 'none'}")
        sys.exit(1 if failed else 0)
    for key, value in result.items():
        print(f"{key}: {value}")
    if result.get("gpu") is None:
        print(f"no GPU here: {result['why']}")


if __name__ == "__main__":
    main()
