"""`minillm course`: the course kit for teachers.

minillm course list                                  chapters, formulas, notebooks, exercises
minillm course make --chapter attention --out DIR    a student kit of one chapter
minillm course grade DIR [--json FILE]               score each exercise of a kit
"""

import json
from pathlib import Path

from .. import course
from .args import Exit, parse, parser


def source_root() -> Path:
    """The checkout the library runs from (it must hold tests/ and notebooks/: kits are made and
    graded from the source, not from an installed wheel)."""
    root = Path(course.__file__).resolve().parents[2]
    if not (root / "tests").is_dir() or not (root / "notebooks").is_dir():
        raise FileNotFoundError(
            f"minillm course needs the source checkout (with tests/ and notebooks/); "
            f"{root} has none: clone the repository and `pip install -e .` it"
        )
    return root


def _list() -> int:
    markers = {m.id: m for m in course.find_markers(source_root())}
    for name, ch in course.CHAPTERS.items():
        print(f"{name} (week {ch.week}): {ch.title}")
        print(f"  notebook {ch.notebook}; formulas {', '.join(ch.formulas)}")
        for ex_id, tests in ch.exercises.items():
            m = markers.get(ex_id)
            where = f"{m.file}:{m.begin}" if m else "(no marker)"
            print(f"  exercise {ex_id} in {where}, {len(tests)} test(s): {m.hint if m else ''}")
    return 0


def run_course(args) -> int:
    p = parser("minillm course", "The course kit: list chapters, make a student kit, grade it.")
    p.add_argument("action", choices=("list", "make", "grade"), help="what to do")
    p.add_argument("folder", nargs="?", default=None, help="the kit to grade (grade)")
    p.add_argument("--chapter", default=None, help=f"one of: {', '.join(course.CHAPTERS)}")
    p.add_argument("--out", default=None, help="the new folder for the kit (make)")
    p.add_argument("--json", default=None, help="also write the grades to this file (grade)")
    try:
        a = parse(p, args)
    except Exit as e:
        return e.code
    if a.action == "list":
        return _list()
    if a.action == "make":
        if a.chapter is None or a.out is None:
            raise ValueError("course make needs --chapter NAME and --out DIR")
        ch = course.chapter(a.chapter)
        markers = course.make_kit(
            source_root(), Path(a.out), ch.exercises, [ch.notebook], a.chapter
        )
        print(f"kit for chapter {a.chapter!r} in {a.out}: {len(markers)} region(s) to write")
        for m in markers:
            print(f"  {m.id}: {m.file} (raises NotImplementedError until written)")
        print(f"grade it with: minillm course grade {a.out}")
        return 0
    if a.folder is None:
        raise ValueError("course grade needs the kit's folder: minillm course grade DIR")
    folder = Path(a.folder)
    meta_path = folder / course.kit.META
    if not meta_path.is_file():
        raise FileNotFoundError(f"{folder} is not a kit ({course.kit.META} is missing)")
    name = json.loads(meta_path.read_text())["chapter"]
    result = course.grade(folder, course.chapter(name).exercises, name)
    for ex_id, s in result["exercises"].items():
        note = f"  ({s['first_failure'][:120]})" if s["points"] < 1 else ""
        print(f"{ex_id}: {s['points']:.0f}/1 ({s['passed']}/{s['total']} tests){note}")
    print(f"chapter {name}: {result['score']:.0f}/{result['total']:.0f}")
    if a.json:
        course.write_gradebook(result, Path(a.json))
    return 0
