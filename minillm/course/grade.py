"""Grading a kit: run each exercise's tests against the student's copy of the library, one pytest
run for the whole chapter, and score each exercise by the share of its tests that pass."""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

PYTEST_INI = """[pytest]
markers =
    gpu: needs a real CUDA GPU
    cudasim: Numba kernels under NUMBA_ENABLE_CUDASIM=1
    slow: end-to-end training runs
"""


def _env(folder: Path) -> dict:
    """The kit's library first on the path (ahead of any installed minillm), one BLAS thread."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(folder), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return env


def check_imports_from(folder: Path) -> None:
    """RuntimeError unless `import minillm` in the grading environment loads folder/minillm."""
    out = subprocess.run(
        [sys.executable, "-c", "import minillm, sys; sys.stdout.write(minillm.__file__)"],
        cwd=folder, env=_env(folder), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    where = Path(out.stdout.strip() or ".").resolve()
    if out.returncode != 0 and "NotImplementedError" not in out.stderr:
        raise RuntimeError(f"grade: importing the kit's minillm failed: {out.stderr[-400:]}")
    if out.returncode == 0 and folder.resolve() not in where.parents:
        raise RuntimeError(f"grade: `import minillm` loads {where}, not the kit in {folder}")


def _node(case) -> str:
    """A junit testcase -> 'tests/x/test_y.py::test_name' (parameters dropped)."""
    path = case.get("classname", "").replace(".", "/") + ".py"
    return f"{path}::{case.get('name', '').split('[')[0]}"


def run_tests(folder: Path, nodes, timeout=900) -> dict:
    """node -> list of (passed, message) for every test case pytest ran under those nodes."""
    folder = Path(folder)
    if not (folder / "pytest.ini").exists() and not (folder / "pyproject.toml").exists():
        (folder / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")  # a kit: no pyproject
    check_imports_from(folder)
    if importlib.util.find_spec("pytest") is None:
        raise ValueError(
            "course grade runs the chapter's tests with pytest, which is not installed: "
            "`make install` (or pip install -e '.[dev]') first"
        )
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
               f"--junitxml={report}", *sorted(set(nodes))]  # fmt: skip
        subprocess.run(cmd, cwd=folder, env=_env(folder), capture_output=True, timeout=timeout)
        if not report.exists():
            raise RuntimeError(f"grade: pytest wrote no report in {folder}")
        results: dict = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            bad = case.find("failure") if case.find("failure") is not None else case.find("error")
            message = "" if bad is None else (bad.get("message") or "")[:300]
            results.setdefault(_node(case), []).append((bad is None, message))
    return results


def grade(folder, exercises: dict, chapter: str = "") -> dict:
    """Score each exercise (ID -> its test nodes): passed / total of its tests, with the first
    failure's message. Returns {"chapter", "exercises": {ID: {...}}, "score", "total"}."""
    folder = Path(folder)
    results = run_tests(folder, [n for nodes in exercises.values() for n in nodes])
    scored = {}
    for ex_id, nodes in exercises.items():
        cases = [c for n in nodes for c in results.get(n, [])]
        missing = [n for n in nodes if n not in results]
        passed = sum(ok for ok, _ in cases)
        first = next((msg for ok, msg in cases if not ok), "")
        scored[ex_id] = {
            "passed": passed,
            "total": len(cases) + len(missing),
            "points": 1.0 if cases and not missing and passed == len(cases) else 0.0,
            "first_failure": first or (f"tests did not run: {missing}" if missing else ""),
        }
    return {
        "chapter": chapter,
        "exercises": scored,
        "score": sum(s["points"] for s in scored.values()),
        "total": float(len(scored)),
    }


def write_gradebook(result: dict, path: Path) -> None:
    path.write_text(json.dumps(result, indent=1), encoding="utf-8")
