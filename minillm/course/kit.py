"""Exercise markers in the library's source, and the student kit made from them.

A region a student should write is marked in the library itself (the solution is the library, so
the kit cannot drift from it):

    | # BEGIN EXERCISE F17: dx = s * (dout - sum_j dout_j s_j), summed over the softmax axis;
    | # comment lines right after BEGIN continue the hint
    | dx = s * (dout - (dout * s).sum(axis=axis, keepdims=True))
    | # END EXERCISE

`make_kit` copies the library, its tests and the chapter's notebook into a folder and replaces
each marked region of the chapter's exercises by a stub that raises
NotImplementedError("exercise F17: <the hint>"), indented like the region.
"""

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

BEGIN = re.compile(r"^(\s*)# BEGIN EXERCISE (\S+): (.+)$")
END = re.compile(r"^\s*# END EXERCISE\s*$")
HINT = re.compile(r"^\s*# (.+)$")  # a comment line right after BEGIN continues the hint
META = ".minillm-kit.json"


@dataclass(frozen=True)
class Marker:
    """One marked region: its exercise ID, file, hint, and the lines it spans (0-based)."""

    id: str
    file: Path  # relative to the source root (the folder that holds minillm/ and kernels/)
    hint: str
    begin: int  # the first line of the body (after BEGIN and its hint lines)
    end: int  # the END line
    indent: str


def find_markers(root: Path) -> list:
    """Every marked region under root/minillm, in file order; ValueError naming the file and
    line of an unclosed, nested or stray marker."""
    markers = []
    for path in sorted((root / "minillm").rglob("*.py")):
        rel, open_at, in_hint = path.relative_to(root), None, False
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            begin, end = BEGIN.match(line), END.match(line)
            if begin and open_at is not None:
                raise ValueError(f"{rel}:{n + 1}: an exercise starts inside another")
            if begin:
                open_at = [begin.group(2), begin.group(3).strip(), n + 1, begin.group(1)]
                in_hint = True
            elif end and open_at is None:
                raise ValueError(f"{rel}:{n + 1}: END EXERCISE without a BEGIN")
            elif end:
                ex_id, hint, start, indent = open_at
                markers.append(Marker(ex_id, rel, hint, start, n, indent))
                open_at = None
            elif in_hint and HINT.match(line):
                open_at[1] += " " + HINT.match(line).group(1).strip()
                open_at[2] = n + 1  # the body starts after the hint's last line
            else:
                in_hint = False
        if open_at is not None:
            raise ValueError(f"{rel}: exercise {open_at[0]} is never closed")
    return markers


def stub(marker: Marker) -> str:
    """The line a blank kit has between the markers."""
    message = f"exercise {marker.id}: {marker.hint}"
    return f"{marker.indent}raise NotImplementedError({message!r})"


def blank_out(path: Path, markers) -> None:
    """Replace the body of each of `markers` (all in `path`) by its stub, in place."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for m in sorted(markers, key=lambda m: m.begin, reverse=True):
        lines[m.begin : m.end] = [stub(m)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def copy_source(root: Path, out: Path) -> None:
    """The library (with kernels/ placed at minillm/kernels, where the install maps it), its
    tests and its notebooks, without caches."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    shutil.copytree(root / "minillm", out / "minillm", ignore=ignore)
    shutil.copytree(root / "kernels", out / "minillm" / "kernels", ignore=ignore)
    shutil.copytree(root / "tests", out / "tests", ignore=ignore)
    (out / "notebooks").mkdir()


def make_kit(root: Path, out: Path, exercises, notebooks=(), chapter="") -> list:
    """Write a student kit into `out` (which must not exist): the library with the regions of
    `exercises` (IDs) blanked out, its tests, and `notebooks` (names without extension).
    Returns the blanked markers."""
    root, out = Path(root), Path(out)
    if out.exists():
        raise FileExistsError(f"--out {str(out)!r} exists; give a new folder for the kit")
    markers = [m for m in find_markers(root) if m.id in set(exercises)]
    missing = sorted(set(exercises) - {m.id for m in markers})
    if missing:
        raise ValueError(f"no marked region in the library for exercises {missing}")
    copy_source(root, out)
    for file in sorted({m.file for m in markers}):
        blank_out(out / file, [m for m in markers if m.file == file])
    for name in notebooks:
        for suffix in (".py", ".ipynb"):
            shutil.copy2(root / "notebooks" / f"{name}{suffix}", out / "notebooks")
    meta = {"chapter": chapter, "exercises": sorted(set(exercises))}
    (out / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return markers


def restore(root: Path, kit: Path, exercise_id: str) -> None:
    """Put the library's solution of one exercise back into a kit (what a student who solved
    it would have written): used to check that grading credits exactly that exercise."""
    for m in [m for m in find_markers(root) if m.id == exercise_id]:
        solution = (root / m.file).read_text(encoding="utf-8").splitlines()[m.begin : m.end]
        lines = (kit / m.file).read_text(encoding="utf-8").splitlines()
        at = lines.index(stub(m))
        lines[at : at + 1] = solution
        (kit / m.file).write_text("\n".join(lines) + "\n", encoding="utf-8")
