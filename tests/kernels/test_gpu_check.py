"""benchmarks/gpu_check.sh without a GPU (--dry-run): every step is run or skipped with a clear
message, a failing step does not stop the next ones, and the summary JSON holds the device,
driver, versions, date and commit. The real run happens on the lent GPU machine."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STEPS = ["install", "versions", "gpu_tests", "memcheck", "racecheck", "kernels", "train_args",
         "train"]  # fmt: skip
ON_THE_GPU = {"install", "gpu_tests", "memcheck", "racecheck", "kernels", "train"}
BUDGET_S = 470  # the script's --budget default: the whole call within 8 minutes


def dry_run(tmp_path, *extra):
    out, results = tmp_path / "out", tmp_path / "results"
    cmd = ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(out)]
    cmd += ["--results", str(results), "--python", sys.executable, *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    (summary,) = results.glob("gpu-*-dry-run.json")
    return done, out, json.loads(summary.read_text())


def test_dry_run_skips_the_device_steps_and_writes_the_summary(tmp_path):
    done, out, summary = dry_run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    status = {s["step"]: s["status"] for s in summary["steps"]}
    assert list(status) == STEPS
    assert status == {s: "skipped" if s in ON_THE_GPU else "ok" for s in STEPS}, status
    for step in ON_THE_GPU:
        assert (out / f"{step}.log").read_text().startswith("SKIPPED (dry run, no GPU): would run")
    assert summary["dry_run"] is True
    for key in ("device", "driver", "versions", "date", "commit"):
        assert key in summary, key
    assert summary["versions"]["python"] and summary["versions"]["packages"]["numpy"]
    assert summary["device"] is None and "no GPU" in (out / "versions.log").read_text()
    assert sum(s["limit_s"] for s in summary["steps"]) <= BUDGET_S


def test_a_failing_step_is_recorded_and_the_next_steps_still_run(tmp_path):
    done, out, summary = dry_run(tmp_path, "--fail", "versions")
    assert done.returncode == 1, "a failed step must make the whole check fail"
    status = {s["step"]: (s["status"], s["rc"]) for s in summary["steps"]}
    assert status["versions"] == ("failed", 1)
    assert status["train_args"] == ("ok", 0), "the step after the failure did not run"
    assert "failing on purpose" in (out / "versions.log").read_text()
