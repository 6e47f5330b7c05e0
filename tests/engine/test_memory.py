"""keep_freed_memory(): glibc allocator tuning the CLI and the benchmarks opt into."""

import platform
import subprocess
import sys


def test_keep_freed_memory_is_accepted_by_glibc_and_the_cli_still_runs():
    # in a child process: the settings are process-wide and must not leak into other tests
    code = (
        "from minillm.tensor.memory import keep_freed_memory\n"
        "import numpy as np\n"
        "ok = keep_freed_memory()\n"
        "a = np.ones((512, 1024), np.float32); del a\n"  # a 2 MiB block, freed to the heap
        "b = np.ones((512, 1024), np.float32)\n"
        "print(ok, float(b.sum()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    ok, total = out.stdout.split()
    expected = platform.libc_ver()[0] == "glibc"
    assert ok == str(expected), f"keep_freed_memory() returned {ok} with libc {platform.libc_ver()}"
    assert float(total) == 512 * 1024


def test_cli_help_runs_after_tuning():
    out = subprocess.run(
        [sys.executable, "-m", "minillm", "train", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "presets:" in out.stdout
