"""The course kit: every chapter's kit is generated, the untouched library gets full marks, a blank
kit fails every exercise with its ID, and writing one exercise gains exactly its point."""

import compileall
from pathlib import Path

import pytest

from minillm import cli, course

ROOT = Path(__file__).resolve().parents[2]
ALL = {ex: tests for ch in course.CHAPTERS.values() for ex, tests in ch.exercises.items()}


def test_every_marker_belongs_to_a_chapter_and_every_exercise_has_a_marker():
    markers = course.find_markers(ROOT)
    ids = [m.id for m in markers]
    assert len(ids) == len(set(ids)), f"an exercise ID is marked twice: {ids}"
    assert set(ids) == set(ALL), f"markers {sorted(ids)} vs chapter exercises {sorted(ALL)}"
    for ex_id, nodes in ALL.items():
        for node in nodes:
            path, name = node.split("::")
            assert f"def {name}(" in (ROOT / path).read_text(), f"{ex_id}: no test {node}"
    names = [ch.notebook for ch in course.CHAPTERS.values()]
    assert all((ROOT / "notebooks" / f"{n}.py").is_file() for n in names), names


@pytest.mark.parametrize("name", list(course.CHAPTERS))
def test_every_chapters_kit_is_generated_with_its_stubs(name, tmp_path):
    ch = course.chapter(name)
    markers = course.make_kit(ROOT, tmp_path / "kit", ch.exercises, [ch.notebook], name)
    for m in markers:
        text = (tmp_path / "kit" / m.file).read_text()
        assert course.kit.stub(m) in text, f"{name}: {m.id} not blanked in {m.file}"
    assert compileall.compile_dir(tmp_path / "kit" / "minillm", quiet=2), "the kit does not parse"
    assert (tmp_path / "kit" / "notebooks" / f"{ch.notebook}.ipynb").is_file()
    assert (tmp_path / "kit" / "minillm" / "kernels" / "__init__.py").is_file()


def test_grading_the_untouched_library_gives_full_marks():
    result = course.grade(ROOT, ALL, "all")
    missed = {k: v for k, v in result["exercises"].items() if v["points"] != 1.0}
    assert not missed, f"the library itself loses points: {missed}"
    assert result["score"] == result["total"] == len(ALL)


def test_a_blank_kit_fails_every_exercise_naming_its_id(tmp_path):
    course.make_kit(ROOT, tmp_path / "kit", ALL, chapter="all")
    result = course.grade(tmp_path / "kit", ALL, "all")
    for ex_id, s in result["exercises"].items():
        assert s["points"] == 0.0 and s["passed"] == 0, f"{ex_id} scores in a blank kit: {s}"
        assert f"exercise {ex_id}:" in s["first_failure"], f"{ex_id}: {s['first_failure']!r}"


def test_writing_one_exercise_gains_exactly_its_point(tmp_path, capsys):
    kit = tmp_path / "rnn"
    assert cli.main(["course", "make", "--chapter", "rnn", f"--out={kit}"]) == 0
    course.restore(ROOT, kit, "F2")
    gradebook = tmp_path / "grades.json"
    assert cli.main(["course", "grade", str(kit), f"--json={gradebook}"]) == 0
    out = capsys.readouterr().out
    assert "F2: 1/1" in out and "C11: 0/1" in out and "chapter rnn: 1/2" in out, out
    assert '"score": 1.0' in gradebook.read_text()


def test_course_commands_reject_bad_input(tmp_path, capsys):
    assert cli.main(["course", "make", "--chapter", "poetry", f"--out={tmp_path / 'k'}"]) == 2
    assert "unknown chapter 'poetry'; chapters: autograd" in capsys.readouterr().err
    assert cli.main(["course", "grade", str(tmp_path)]) == 2
    assert ".minillm-kit.json is missing" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    assert cli.main(["course", "make", "--chapter", "rnn", f"--out={tmp_path / 'taken'}"]) == 2


def test_the_course_map_in_the_docs_is_the_chapter_table():
    text = (ROOT / "docs" / "teaching.md").read_text(encoding="utf-8")
    assert course.chapters.course_map() in text, "docs/teaching.md's table is stale: regenerate"
