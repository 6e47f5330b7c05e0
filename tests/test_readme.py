"""The README's promises: it opens with the two commands, and its Python example runs as printed
(in a temporary folder: it trains for a few seconds and writes out/example there)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_opens_with_make_demo_and_make_test():
    first_block = re.search(r"```\n(.*?)```", README, re.S).group(1)
    assert first_block.split("\n")[:2] == ["make demo", "make test"], first_block


def test_the_readme_python_example_trains_samples_and_evaluates(tmp_path):
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    assert len(code.strip().splitlines()) <= 12, "the example should stay about 10 lines"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ROMEO:") and "val loss" in done.stdout, done.stdout
    assert (tmp_path / "out" / "example" / "checkpoint.json").is_file()


def test_the_readme_says_where_the_command_lives():
    assert ".venv/bin/minillm" in README and "source .venv/bin/activate" in README
