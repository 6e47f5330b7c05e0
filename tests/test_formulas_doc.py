"""docs/formulas.md stays true: every formula/technique ID of FORMULAS.md has a row, and every
file, test and notebook a row names exists (so the table cannot point at code that is not there)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IDS = [f"F{i}" for i in range(1, 21)] + [f"C{i}" for i in range(1, 26)]
STATUSES = {"done", "partial", "not yet"}


def _rows():
    rows = {}
    for line in (ROOT / "docs" / "formulas.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and re.fullmatch(r"[FC]\d+", cells[0]):
            rows[cells[0]] = cells
    return rows


def _test_names():
    names = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                names.add(node.name)
    return names


def test_every_id_has_one_row_with_a_known_status():
    rows = _rows()
    missing = [i for i in IDS if i not in rows]
    assert not missing, f"docs/formulas.md has no row for {missing}"
    bad = {i: r[1] for i, r in rows.items() if r[1] not in STATUSES}
    assert not bad, f"unknown status (use one of {sorted(STATUSES)}): {bad}"


def test_named_code_tests_and_notebooks_exist():
    tests = _test_names()
    problems = []
    for i, (_, status, code, test_cell, notebook, *_) in _rows().items():
        if status == "not yet":
            continue
        paths = re.findall(r"`([\w./-]+\.py)", code)
        tests_named = re.findall(r"`(test_\w+)`", test_cell)
        notebooks = re.findall(r"`(\d\d_\w+)`", notebook)
        if not (paths and tests_named and notebooks):
            problems.append(f"{i}: a {status} row needs code, a test and a notebook")
        problems += [f"{i}: no file {p}" for p in paths if not (ROOT / p).is_file()]
        problems += [f"{i}: no test {t}" for t in tests_named if t not in tests]
        problems += [
            f"{i}: no notebook {n}"
            for n in notebooks
            if not (ROOT / "notebooks" / f"{n}.py").is_file()
        ]
    assert not problems, "\n".join(problems)
